import Crypto
import Foundation

/// A JSON POST per alert, signed the Standard Webhooks way, so receivers verify its origin and
/// reject replays with existing libraries: `webhook-id` (the anomaly id, the same on every
/// retry, for deduplication), `webhook-timestamp` (Unix seconds), `webhook-signature`
/// (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), secret `whsec_<base64>`.
public struct WebhookSink: AlertSink {
    /// Where and how: the URL, the signing secret, extra headers, which alerts.
    public struct Configuration: Sendable, Equatable {
        public var url: String
        /// `whsec_` followed by the base64 key (the prefix is optional).
        public var secret: String
        public var headers: [String: String] = [:]
        public var filter = AlertFilter()
        public var name = "webhook"
        /// PEM certificates to trust for https (a private CA); none: the system's.
        public var caFile: String? = nil

        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }
    }

    public let name: String
    public let filter: AlertFilter
    public let maxBatch = 1
    let url: String
    let key: SymmetricKey
    let headers: [(String, String)]
    let http: HTTPSender
    /// The clock for `webhook-timestamp` (tests pin it).
    let now: @Sendable () -> Date

    public init(
        _ configuration: Configuration, http: HTTPSender? = nil, now: @escaping @Sendable () -> Date = Date.init
    ) throws(SinkConfigurationError) {
        try SinkConfigurationError.requireHTTP(configuration.url, sink: "webhook")
        let encoded =
            configuration.secret.hasPrefix("whsec_") ? String(configuration.secret.dropFirst(6)) : configuration.secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
            throw SinkConfigurationError("webhook secret must be whsec_ followed by base64")
        }
        name = configuration.name
        filter = configuration.filter
        url = configuration.url
        key = SymmetricKey(data: bytes)
        headers = configuration.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let http { self.http = http } else { self.http = try HTTPSender(caFile: configuration.caFile) }
        self.now = now
    }

    /// The three signature headers for `body` sent as message `id` at `timestamp`.
    public func signatureHeaders(id: String, timestamp: Int, body: [UInt8]) -> [(String, String)] {
        var signed = Array("\(id).\(timestamp).".utf8)
        signed.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: key)
        return [
            ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", "v1,\(Data(mac).base64EncodedString())"),
        ]
    }

    public func send(_ alerts: [Alert]) async -> [SendOutcome] {
        var outcomes: [SendOutcome] = []
        for alert in alerts {
            // Signed at each attempt: receivers reject timestamps more than 5 minutes off.
            let timestamp = Int(now().timeIntervalSince1970)
            let all =
                [("Content-Type", "application/json")] + headers
                + signatureHeaders(id: alert.id, timestamp: timestamp, body: alert.json)
            outcomes.append(HTTPSender.outcome(await http.post(url, headers: all, body: alert.json)))
        }
        return outcomes
    }
}
