import Foundation
import VigilDetection

/// Slack incoming webhook: a Block Kit message per alert — severity, summary, entity, the top
/// evidence and the ATT&CK technique — or, for a burst, one digest message listing them. Slack
/// takes about one message a second per webhook: the sink spaces its posts, and alerts arriving
/// meanwhile are grouped into the next digest. A message keeps to Slack's limits (50 blocks,
/// 3,000 characters per text) or Slack refuses it with 400.
public struct SlackSink: AlertSink {
    public struct Configuration: Sendable, Equatable {
        /// `https://hooks.slack.com/services/…` (a secret: never logged).
        public var url: String
        /// Posts to one webhook at most this often.
        public var minInterval: Duration = .seconds(1)
        /// Alerts in one digest message.
        public var maxDigest = 40
        public var filter = AlertFilter(minimumSeverity: .medium)
        public var name = "slack"
        /// PEM certificates to trust for https (a private CA); none: the system's.
        public var caFile: String? = nil

        public init(url: String) { self.url = url }
    }

    public let name: String
    public let filter: AlertFilter
    public let maxBatch: Int
    let url: String
    let http: HTTPSender
    let pacer: Pacer

    static let maxBlocks = 50
    static let maxText = 3_000
    static let evidenceShown = 5

    public init(_ configuration: Configuration, http: HTTPSender? = nil) throws(SinkConfigurationError) {
        try SinkConfigurationError.requireHTTP(configuration.url, sink: "slack")
        name = configuration.name
        filter = configuration.filter
        // Header, divider, one section per alert, a closing context: within 50 blocks.
        maxBatch = max(1, min(configuration.maxDigest, Self.maxBlocks - 3))
        url = configuration.url
        if let http { self.http = http } else { self.http = try HTTPSender(caFile: configuration.caFile) }
        pacer = Pacer(interval: configuration.minInterval)
    }

    public func send(_ alerts: [Alert]) async -> [SendOutcome] {
        guard !alerts.isEmpty else { return [] }
        await pacer.wait()
        let body = Self.encode(alerts.count == 1 ? Self.message(alerts[0]) : Self.digest(alerts))
        let result = await http.post(url, headers: [("Content-Type", "application/json")], body: body)
        var requested: Duration? = nil
        if case .success(let exchange) = result, exchange.status == 429 { requested = exchange.retryAfter }
        await pacer.done(backOff: requested)
        return Array(repeating: HTTPSender.outcome(result), count: alerts.count)
    }

    // MARK: Messages

    static let marks: [String: String] = [
        "critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
        "low": ":white_circle:",
    ]

    /// One alert: header, summary, the who/where fields, evidence, ATT&CK.
    static func message(_ alert: Alert) -> [String: Any] {
        var blocks: [[String: Any]] = [
            [
                "type": "header",
                "text": plain("\(alert.severity.rawValue.uppercased()): \(alert.detector)", limit: 150),
            ],
            ["type": "section", "text": markdown("\(marks[alert.severity.rawValue] ?? "") \(escape(alert.summary))")],
        ]
        var fields: [[String: Any]] = [markdown("*Entity*\n\(escape(alert.entityType)) `\(escape(alert.entityValue))`")]
        if let user = alert.user { fields.append(markdown("*User*\n`\(escape(user))`")) }
        if let ip = alert.sourceIP { fields.append(markdown("*Source*\n`\(escape(ip))`")) }
        if let host = alert.host { fields.append(markdown("*Host*\n`\(escape(host))`")) }
        fields.append(markdown("*Time*\n\(UTC.format(alert.time))"))
        blocks.append(["type": "section", "fields": Array(fields.prefix(10))])
        if !alert.evidence.isEmpty {
            let lines = alert.evidence.prefix(evidenceShown).map { "• \(escape($0.name)): \(escape($0.value))" }
            blocks.append(["type": "section", "text": markdown("*Evidence*\n" + lines.joined(separator: "\n"))])
        }
        var context = "id `\(alert.id)`"
        if let id = alert.techniqueID, let link = alert.attackURL {
            context += " · ATT&CK <\(link)|\(id) \(escape(alert.technique ?? ""))>"
        }
        blocks.append(["type": "context", "elements": [markdown(context)]])
        return ["text": truncate("\(alert.severity.rawValue) \(alert.detector): \(alert.summary)"), "blocks": blocks]
    }

    /// A burst: one line per alert, most severe first.
    static func digest(_ alerts: [Alert]) -> [String: Any] {
        let sorted = alerts.sorted { ($0.severity, $1.time) > ($1.severity, $0.time) }
        let counts = Dictionary(grouping: alerts, by: \.severity).mapValues(\.count).sorted { $0.key > $1.key }
            .map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
        var blocks: [[String: Any]] = [
            ["type": "header", "text": plain("\(alerts.count) anomalies (\(counts))", limit: 150)],
            ["type": "divider"],
        ]
        for alert in sorted.prefix(maxBlocks - 3) {
            var line = "\(marks[alert.severity.rawValue] ?? "") *\(escape(alert.detector))* — \(escape(alert.summary))"
            if let id = alert.techniqueID, let link = alert.attackURL { line += " (<\(link)|\(id)>)" }
            blocks.append(["type": "section", "text": markdown(line)])
        }
        blocks.append([
            "type": "context", "elements": [markdown("ids: " + sorted.map { "`\($0.id)`" }.joined(separator: " "))],
        ])
        return ["text": truncate("\(alerts.count) anomalies: \(counts)"), "blocks": blocks]
    }

    static func markdown(_ text: String) -> [String: Any] { ["type": "mrkdwn", "text": truncate(text)] }
    static func plain(_ text: String, limit: Int) -> [String: Any] {
        ["type": "plain_text", "text": truncate(text, to: limit), "emoji": true]
    }

    /// At most `limit` characters (Slack counts characters), with an ellipsis when cut.
    static func truncate(_ text: String, to limit: Int = maxText) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    /// Slack's mrkdwn control characters.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}

/// Spaces a sink's posts: the next one starts at least an interval after the previous one
/// ended (so they arrive at least that far apart, whatever the network's delay), and later
/// still after a 429's `Retry-After`.
actor Pacer {
    let interval: Duration
    private var next = ContinuousClock.now

    init(interval: Duration) { self.interval = interval }

    func wait() async {
        let now = ContinuousClock.now
        if next > now { try? await Task.sleep(for: next - now) }
    }

    func done(backOff requested: Duration?) {
        next = ContinuousClock.now + max(interval, requested ?? .zero)
    }
}
