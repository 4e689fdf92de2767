import Foundation
import VigilDetection

/// Elasticsearch's `_bulk` API: NDJSON pairs of a `create` action (with the anomaly id as
/// `_id`, so a resent alert is a 409 conflict, not a duplicate document) and an ECS document,
/// into an index or a data stream (which accepts only `create`). A 200 reply can still hold
/// failed items (`errors: true`): they are read one by one, and only those with 429 or 5xx
/// are retried; a 409 means the document is already there.
public struct ElasticsearchSink: AlertSink {
    public struct Configuration: Sendable, Equatable {
        /// The cluster's URL, e.g. `https://es.example:9200`.
        public var url: String
        /// An index or a data stream name.
        public var index = "vigil-anomalies"
        /// `ApiKey <base64>` when set; else basic auth when a user is set.
        public var apiKey: String?
        public var user: String?
        public var password: String?
        public var maxBatch = 500
        public var filter = AlertFilter()
        public var name = "elasticsearch"
        /// PEM certificates to trust for https (a private CA); none: the system's.
        public var caFile: String? = nil

        public init(url: String) { self.url = url }
    }

    public let name: String
    public let filter: AlertFilter
    public let maxBatch: Int
    let configuration: Configuration
    let endpoint: String
    let http: HTTPSender

    public init(_ configuration: Configuration, http: HTTPSender? = nil) throws(SinkConfigurationError) {
        try SinkConfigurationError.requireHTTP(configuration.url, sink: "elasticsearch")
        guard !configuration.index.isEmpty, configuration.index == configuration.index.lowercased(),
            !configuration.index.contains(where: { " \"*\\<|,>/?#".contains($0) })
        else {
            throw SinkConfigurationError("elasticsearch index \"\(configuration.index)\" is not a valid index name")
        }
        self.configuration = configuration
        name = configuration.name
        filter = configuration.filter
        maxBatch = max(1, configuration.maxBatch)
        let base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        endpoint = "\(base)/_bulk"
        if let http { self.http = http } else { self.http = try HTTPSender(caFile: configuration.caFile) }
    }

    var headers: [(String, String)] {
        var headers = [("Content-Type", "application/x-ndjson")]
        if let key = configuration.apiKey {
            headers.append(("Authorization", "ApiKey \(key)"))
        } else if let user = configuration.user {
            let pair = Data("\(user):\(configuration.password ?? "")".utf8).base64EncodedString()
            headers.append(("Authorization", "Basic \(pair)"))
        }
        return headers
    }

    /// Action and document lines for `alerts`.
    func body(_ alerts: [Alert]) -> [UInt8] {
        var body: [UInt8] = []
        for alert in alerts {
            let action: [String: Any] = ["create": ["_index": configuration.index, "_id": alert.id]]
            body.append(contentsOf: Self.encode(action))
            body.append(0x0A)
            body.append(contentsOf: Self.encode(Self.document(alert)))
            body.append(0x0A)
        }
        return body
    }

    /// The alert under ECS field names (the schema's ECS mapping), the anomaly itself under `vigil`.
    static func document(_ alert: Alert) -> [String: Any] {
        var event: [String: Any] = [
            "kind": "alert", "id": alert.id, "severity": severityNumber(alert.severity.rawValue),
            "created": UTC.format(alert.time),
        ]
        let anomaly = (try? JSONSerialization.jsonObject(with: Data(alert.json))) as? [String: Any] ?? [:]
        if let source = anomaly["event"] as? [String: Any] {
            if let kind = source["kind"] as? String { event["action"] = kind }
            if let outcome = source["outcome"] as? String { event["outcome"] = outcome }
        }
        var document: [String: Any] = [
            "@timestamp": UTC.format(alert.time), "event": event, "message": alert.summary,
            "rule": ["name": alert.detector], "vigil": anomaly,
        ]
        if let user = alert.user { document["user"] = ["name": user] }
        if let ip = alert.sourceIP { document["source"] = ["ip": ip] }
        if let host = alert.host { document["host"] = ["name": host] }
        if let id = alert.techniqueID {
            var threat: [String: Any] = [
                "framework": "MITRE ATT&CK", "technique": ["id": id, "name": alert.technique ?? ""],
            ]
            if let tactic = alert.tactic { threat["tactic"] = ["name": tactic] }
            document["threat"] = threat
        }
        return document
    }

    /// ECS `event.severity` is a number: Elastic's risk scores for the four levels.
    static func severityNumber(_ severity: String) -> Int {
        ["low": 21, "medium": 47, "high": 73, "critical": 99][severity] ?? 0
    }

    public func send(_ alerts: [Alert]) async -> [SendOutcome] {
        let result = await http.post(endpoint, headers: headers, body: body(alerts))
        guard case .success(let exchange) = result, exchange.status == 200 else {
            return Array(repeating: HTTPSender.outcome(result), count: alerts.count)
        }
        guard let reply = (try? JSONSerialization.jsonObject(with: Data(exchange.body))) as? [String: Any] else {
            return Array(repeating: .retry(reason: "bulk reply is not JSON", after: nil), count: alerts.count)
        }
        guard (reply["errors"] as? Bool) == true else { return Array(repeating: .delivered, count: alerts.count) }
        let items = reply["items"] as? [[String: Any]] ?? []
        return alerts.indices.map { index in
            guard index < items.count, let item = (items[index]["create"] ?? items[index]["index"]) as? [String: Any],
                let status = item["status"] as? Int
            else { return .retry(reason: "no bulk item for this document", after: nil) }
            let error = item["error"] as? [String: Any]
            let reason =
                "item \(status): \(error?["type"] as? String ?? "")\((error?["reason"] as? String).map { " — \($0)" } ?? "")"
            switch status {
            case 200..<300, 409: return .delivered  // 409: already indexed (a resend)
            case 429, 500..<600: return .retry(reason: reason, after: nil)
            default: return .rejected(reason: reason)
            }
        }
    }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
