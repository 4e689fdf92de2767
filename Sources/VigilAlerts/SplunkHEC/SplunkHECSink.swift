import Foundation

/// Splunk's HTTP Event Collector: `POST /services/collector/event` with
/// `Authorization: Splunk <token>`, several event objects concatenated in one body (not an
/// array), `time` from the anomaly, `host`, `source`, `sourcetype` and `index` configurable.
///
/// With indexer acknowledgement an alert counts as delivered only once Splunk says it is
/// indexed: the request carries a channel (`X-Splunk-Request-Channel`), the reply an `ackId`,
/// and `/services/collector/ack` is polled until it is true; not acknowledged within
/// ``Configuration/ackTimeout`` means sent again (a duplicate at worst, with the same id).
public struct SplunkHECSink: AlertSink {
    public struct Configuration: Sendable, Equatable {
        /// The collector's base URL, e.g. `https://splunk.example:8088`.
        public var url: String
        public var token: String
        public var index: String?
        public var source = "vigil"
        public var sourcetype = "vigil:anomaly"
        public var useAck = false
        public var ackTimeout: Duration = .seconds(30)
        public var ackPollInterval: Duration = .milliseconds(500)
        public var maxBatch = 100
        public var filter = AlertFilter()
        public var name = "splunk"
        /// PEM certificates to trust for https (a private CA); none: the system's.
        public var caFile: String? = nil

        public init(url: String, token: String) {
            self.url = url
            self.token = token
        }
    }

    public let name: String
    public let filter: AlertFilter
    public let maxBatch: Int
    let configuration: Configuration
    let base: String
    let channel: String
    let http: HTTPSender

    public init(_ configuration: Configuration, http: HTTPSender? = nil) throws(SinkConfigurationError) {
        try SinkConfigurationError.requireHTTP(configuration.url, sink: "splunk")
        guard !configuration.token.isEmpty else { throw SinkConfigurationError("splunk token must not be empty") }
        self.configuration = configuration
        name = configuration.name
        filter = configuration.filter
        maxBatch = max(1, configuration.maxBatch)
        base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        // One channel per sink instance, as Splunk's documentation describes for a sender.
        channel = UUID().uuidString.lowercased()
        if let http { self.http = http } else { self.http = try HTTPSender(caFile: configuration.caFile) }
    }

    /// The request body: one event object per alert, concatenated.
    func body(_ alerts: [Alert]) -> [UInt8] {
        var body: [UInt8] = []
        for alert in alerts {
            var object = "{\"time\":\(Self.seconds(alert.time))"
            if let host = alert.host { object += ",\"host\":\(Self.quoted(host))" }
            object +=
                ",\"source\":\(Self.quoted(configuration.source)),\"sourcetype\":\(Self.quoted(configuration.sourcetype))"
            if let index = configuration.index { object += ",\"index\":\(Self.quoted(index))" }
            object += ",\"event\":"
            body.append(contentsOf: Array(object.utf8))
            body.append(contentsOf: alert.json)
            body.append(UInt8(ascii: "}"))
            body.append(0x0A)
        }
        return body
    }

    var headers: [(String, String)] {
        var headers = [("Authorization", "Splunk \(configuration.token)"), ("Content-Type", "application/json")]
        if configuration.useAck { headers.append(("X-Splunk-Request-Channel", channel)) }
        return headers
    }

    public func send(_ alerts: [Alert]) async -> [SendOutcome] {
        let result = await http.post("\(base)/services/collector/event", headers: headers, body: body(alerts))
        guard case .success(let exchange) = result, exchange.status == 200 else {
            return partial(result, count: alerts.count)
        }
        guard configuration.useAck else { return Array(repeating: .delivered, count: alerts.count) }
        guard let reply = Self.json(exchange.body), let ackID = reply["ackId"] as? Int else {
            return Array(
                repeating: .retry(
                    reason: "no ackId in Splunk's reply (is acknowledgement on for the token?)", after: nil),
                count: alerts.count)
        }
        return Array(repeating: await waitForAck(ackID), count: alerts.count)
    }

    /// Polls the acknowledgement endpoint until `ackID` is indexed or the timeout passes.
    func waitForAck(_ ackID: Int) async -> SendOutcome {
        let deadline = ContinuousClock.now + configuration.ackTimeout
        while ContinuousClock.now < deadline {
            let result = await http.post(
                "\(base)/services/collector/ack?channel=\(channel)", headers: headers,
                body: Array("{\"acks\":[\(ackID)]}".utf8))
            if case .success(let exchange) = result, exchange.status == 200,
                let acks = Self.json(exchange.body)?["acks"] as? [String: Any]
            {
                if (acks[String(ackID)] as? Bool) == true { return .delivered }
            } else if case .success(let exchange) = result, exchange.status != 200 {
                return HTTPSender.outcome(result) == .delivered
                    ? .delivered : .retry(reason: "ack poll: HTTP \(exchange.status)", after: nil)
            }
            try? await Task.sleep(for: configuration.ackPollInterval)
        }
        return .retry(reason: "not acknowledged by the indexer within \(configuration.ackTimeout)", after: nil)
    }

    /// A failed request: HEC's `invalid-event-number` says which event was refused (those
    /// before it were accepted, those after it were not read).
    func partial(_ result: Result<HTTPExchange, SendError>, count: Int) -> [SendOutcome] {
        let overall = HTTPSender.outcome(result)
        guard case .success(let exchange) = result, let reply = Self.json(exchange.body) else {
            return Array(repeating: overall, count: count)
        }
        let code = reply["code"] as? Int
        let text = reply["text"] as? String ?? ""
        let reason = "HTTP \(exchange.status): \(text)\(code.map { " (code \($0))" } ?? "")"
        if let invalid = reply["invalid-event-number"] as? Int, (0..<count).contains(invalid) {
            return (0..<count).map { index in
                index < invalid
                    ? .delivered
                    : index == invalid ? .rejected(reason: reason) : .retry(reason: "after a refused event", after: nil)
            }
        }
        // 9 server busy: retried; 4 invalid token, 7 incorrect index…: refused for good.
        switch overall {
        case .retry(_, let after): return Array(repeating: .retry(reason: reason, after: after), count: count)
        case .rejected: return Array(repeating: .rejected(reason: reason), count: count)
        case .delivered: return Array(repeating: .delivered, count: count)
        }
    }

    static func seconds(_ milliseconds: Int64) -> String {
        let (whole, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        return fraction == 0 ? "\(whole)" : String(format: "%lld.%03lld", whole, abs(fraction))
    }

    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    static func json(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }
}
