import Foundation
import Logging
import VigilAlerts
import VigilDetection
import VigilKafka
import VigilLogging
import VigilServers

/// Everything `vigil alert` is configured with, from its YAML file (`alerts.yml`): where to read
/// anomalies, the delivery policy, and the sinks. A value written `${NAME}` is read from the
/// environment (secrets stay out of the file); secrets never appear in `--print-config`.
public struct AlertSettings: Sendable {
    public var router = AlertRouterConfiguration()
    public var policy = DeliveryPolicy()
    public var sinks: [Sink] = []
    public var logging = LoggingConfiguration()
    /// Prometheus metrics (by sink) and probes of `vigil alert`: 127.0.0.1:9465 (0: off).
    public var metrics = HTTPConfiguration(address: "127.0.0.1", port: 9465)

    public init() {}

    /// One sink's configuration, by type.
    public enum Sink: Sendable {
        case webhook(WebhookSink.Configuration)
        case slack(SlackSink.Configuration)
        case splunk(SplunkHECSink.Configuration)
        case elasticsearch(ElasticsearchSink.Configuration)
        case kafka(name: String, topic: String, filter: AlertFilter)
    }

    static let topKeys: Set<String> = [
        "brokers", "group_id", "input_topic", "undelivered_topic", "commit_interval_ms", "max_in_flight",
        "give_up_after_s", "retry_initial_ms", "retry_max_ms", "queue_capacity", "linger_ms", "log_level", "log_format",
        "metrics_port", "metrics_address",
        "consumer", "producer", "sinks",
    ]
    static let commonSinkKeys: Set<String> = ["type", "name", "min_severity", "detectors"]
    static let sinkKeys: [String: Set<String>] = [
        "webhook": ["url", "secret", "headers", "ca_file"],
        "slack": ["url", "min_interval_ms", "max_digest", "ca_file"],
        "splunk": ["url", "token", "index", "source", "sourcetype", "ack", "ack_timeout_s", "ca_file"],
        "elasticsearch": ["url", "index", "api_key", "user", "password", "max_batch", "ca_file"],
        "kafka": ["topic"],
    ]

    /// Reads `path`; every error names the file, the line and the key.
    public static func load(file path: String, environment: [String: String]) throws(ConfigFileError) -> AlertSettings {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(file: path, line: nil, key: "", message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, file: path, environment: environment)
    }

    public static func parse(
        _ text: String, file: String, environment: [String: String]
    ) throws(ConfigFileError)
        -> AlertSettings
    {
        var settings = AlertSettings()
        guard let root = try YAMLValue.parse(text, file: file) else {
            throw ConfigFileError(file: file, line: nil, key: "sinks", message: "the file is empty: no sinks")
        }
        let fields = try root.fields(allowed: topKeys)
        func string(_ value: YAMLValue) throws(ConfigFileError) -> String {
            try expand(try value.string(), value, environment)
        }
        if let v = fields["brokers"] { settings.router.brokers = try string(v) }
        if let v = fields["group_id"] { settings.router.groupID = try string(v) }
        if let v = fields["input_topic"] { settings.router.inputTopic = try string(v) }
        if let v = fields["undelivered_topic"] { settings.router.undeliveredTopic = try string(v) }
        if let v = fields["commit_interval_ms"] {
            settings.router.commitInterval = .milliseconds(try v.int(in: 100...3_600_000))
        }
        if let v = fields["metrics_port"] { settings.metrics.port = try v.int(in: 0...65_535) }
        if let v = fields["metrics_address"] { settings.metrics.address = try string(v) }
        if let v = fields["max_in_flight"] { settings.router.maxInFlight = try v.int(in: 1...10_000_000) }
        if let v = fields["give_up_after_s"] { settings.policy.giveUpAfter = .seconds(try v.int(in: 1...604_800)) }
        if let v = fields["retry_initial_ms"] {
            settings.policy.initialDelay = .milliseconds(try v.int(in: 1...3_600_000))
        }
        if let v = fields["retry_max_ms"] { settings.policy.maxDelay = .milliseconds(try v.int(in: 1...86_400_000)) }
        if let v = fields["queue_capacity"] { settings.policy.queueCapacity = try v.int(in: 1...10_000_000) }
        if let v = fields["linger_ms"] { settings.policy.linger = .milliseconds(try v.int(in: 0...60_000)) }
        if let v = fields["log_level"] {
            guard let level = Logger.Level(rawValue: try v.string()) else { throw v.error("unknown level") }
            settings.logging.level = level
        }
        if let v = fields["log_format"] {
            guard let format = LoggingConfiguration.Format(rawValue: try v.string()) else {
                throw v.error("expected text or json")
            }
            settings.logging.format = format
        }
        for (key, path) in [
            ("consumer", \AlertRouterConfiguration.consumerProperties), ("producer", \.producerProperties),
        ] {
            guard let v = fields[key] else { continue }
            for (name, value) in try v.mapping() { settings.router[keyPath: path][name] = try string(value) }
        }
        guard let list = fields["sinks"] else { throw root.error("sinks: missing (at least one sink)") }
        var names = Set<String>()
        for sink in try list.sequence() {
            let parsed = try parseSink(sink, environment: environment)
            guard names.insert(parsed.name).inserted else {
                throw sink.error("two sinks named \(parsed.name): names must differ")
            }
            settings.sinks.append(parsed.sink)
        }
        guard !settings.sinks.isEmpty else { throw list.error("no sinks") }
        return settings
    }

    private static func parseSink(
        _ value: YAMLValue, environment: [String: String]
    ) throws(ConfigFileError) -> (
        name: String, sink: Sink
    ) {
        let all = try value.fields(
            allowed: commonSinkKeys.union(sinkKeys.values.reduce(into: Set<String>()) { $0.formUnion($1) }))
        guard let typeValue = all["type"] else {
            throw value.error("type: missing (webhook, slack, splunk, elasticsearch or kafka)")
        }
        let type = try typeValue.string()
        guard let allowed = sinkKeys[type] else {
            throw typeValue.error("unknown sink type \"\(type)\" (webhook, slack, splunk, elasticsearch or kafka)")
        }
        for (key, field) in all where !commonSinkKeys.contains(key) && !allowed.contains(key) {
            throw field.error("\(key) is not a setting of a \(type) sink")
        }
        func string(_ key: String) throws(ConfigFileError) -> String? {
            guard let field = all[key] else { return nil }
            return try expand(try field.string(), field, environment)
        }
        func required(_ key: String) throws(ConfigFileError) -> String {
            guard let text = try string(key), !text.isEmpty else {
                throw value.error("\(key): missing for a \(type) sink")
            }
            return text
        }
        let name = try string("name") ?? type
        var filter = AlertFilter(minimumSeverity: type == "slack" ? .medium : .low)
        if let field = all["min_severity"] {
            guard let severity = Severity(rawValue: try field.string()) else {
                throw field.error("expected low, medium, high or critical")
            }
            filter.minimumSeverity = severity
        }
        if let field = all["detectors"] {
            var detectors = Set<String>()
            for item in try field.sequence() {
                let detector = try item.string()
                guard DetectorKind(rawValue: detector) != nil else {
                    throw item.error("unknown detector \"\(detector)\"")
                }
                detectors.insert(detector)
            }
            filter.detectors = detectors
        }
        switch type {
        case "webhook":
            var c = WebhookSink.Configuration(url: try required("url"), secret: try required("secret"))
            if let field = all["headers"] {
                for (header, v) in try field.mapping() {
                    c.headers[header] = try expand(try v.string(), v, environment)
                }
            }
            c.filter = filter
            c.name = name
            c.caFile = try string("ca_file")
            return (name, .webhook(c))
        case "slack":
            var c = SlackSink.Configuration(url: try required("url"))
            if let v = all["min_interval_ms"] { c.minInterval = .milliseconds(try v.int(in: 0...600_000)) }
            if let v = all["max_digest"] { c.maxDigest = try v.int(in: 1...47) }
            c.filter = filter
            c.name = name
            c.caFile = try string("ca_file")
            return (name, .slack(c))
        case "splunk":
            var c = SplunkHECSink.Configuration(url: try required("url"), token: try required("token"))
            c.index = try string("index")
            if let source = try string("source") { c.source = source }
            if let sourcetype = try string("sourcetype") { c.sourcetype = sourcetype }
            if let v = all["ack"] { c.useAck = try v.bool() }
            if let v = all["ack_timeout_s"] { c.ackTimeout = .seconds(try v.int(in: 1...3_600)) }
            c.filter = filter
            c.name = name
            c.caFile = try string("ca_file")
            return (name, .splunk(c))
        case "elasticsearch":
            var c = ElasticsearchSink.Configuration(url: try required("url"))
            if let index = try string("index") { c.index = index }
            c.apiKey = try string("api_key")
            c.user = try string("user")
            c.password = try string("password")
            if let v = all["max_batch"] { c.maxBatch = try v.int(in: 1...10_000) }
            c.filter = filter
            c.name = name
            c.caFile = try string("ca_file")
            return (name, .elasticsearch(c))
        default:
            return (name, .kafka(name: name, topic: try required("topic"), filter: filter))
        }
    }

    /// `${NAME}` as the whole value reads the environment variable.
    static func expand(
        _ text: String, _ value: YAMLValue, _ environment: [String: String]
    ) throws(ConfigFileError) -> String {
        guard text.hasPrefix("${"), text.hasSuffix("}") else { return text }
        let name = String(text.dropFirst(2).dropLast())
        guard let resolved = environment[name], !resolved.isEmpty else {
            throw value.error("\(text): the environment variable \(name) is not set")
        }
        return resolved
    }

    /// The effective settings with every secret masked (`--print-config`).
    public var masked: String {
        var lines = [
            "brokers: \(router.brokers)", "group_id: \(router.groupID)", "input_topic: \(router.inputTopic)",
            "undelivered_topic: \(router.undeliveredTopic)",
            "give_up_after_s: \(policy.giveUpAfter.components.seconds)",
            "metrics_address: \(metrics.address)", "metrics_port: \(metrics.port)",
            "sinks:",
        ]
        func filterLines(_ filter: AlertFilter) -> [String] {
            ["    min_severity: \(filter.minimumSeverity.rawValue)"]
                + (filter.detectors.isEmpty
                    ? [] : ["    detectors: [\(filter.detectors.sorted().joined(separator: ", "))]"])
        }
        for sink in sinks {
            switch sink {
            case .webhook(let c):
                lines += ["  - type: webhook", "    name: \(c.name)", "    url: \(c.url)", "    secret: \"***\""]
                lines += c.caFile.map { ["    ca_file: \($0)"] } ?? []
                lines += c.headers.keys.sorted().map { "    headers.\($0): \"***\"" } + filterLines(c.filter)
            case .slack(let c):
                // The webhook URL is the credential.
                lines += ["  - type: slack", "    name: \(c.name)", "    url: \"***\""] + filterLines(c.filter)
                lines += c.caFile.map { ["    ca_file: \($0)"] } ?? []
            case .splunk(let c):
                lines += [
                    "  - type: splunk", "    name: \(c.name)", "    url: \(c.url)", "    token: \"***\"",
                    "    ack: \(c.useAck)",
                ]
                lines += (c.index.map { ["    index: \($0)"] } ?? []) + filterLines(c.filter)
                lines += c.caFile.map { ["    ca_file: \($0)"] } ?? []
            case .elasticsearch(let c):
                lines += [
                    "  - type: elasticsearch", "    name: \(c.name)", "    url: \(c.url)", "    index: \(c.index)",
                ]
                if c.apiKey != nil { lines.append("    api_key: \"***\"") }
                if let ca = c.caFile { lines.append("    ca_file: \(ca)") }
                if let user = c.user { lines += ["    user: \(user)", "    password: \"***\""] }
                lines += filterLines(c.filter)
            case .kafka(let name, let topic, let filter):
                lines += ["  - type: kafka", "    name: \(name)", "    topic: \(topic)"] + filterLines(filter)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension AlertSettings {
    /// Whether a sink writes to Kafka (and so needs a producer).
    public var needsProducer: Bool {
        sinks.contains {
            if case .kafka = $0 { true } else { false }
        }
    }

    /// The configured sinks; the Kafka sinks write with `producer`.
    public func makeSinks(producer: KafkaProducer?) throws(SinkConfigurationError) -> [any AlertSink] {
        var made: [any AlertSink] = []
        for (index, sink) in sinks.enumerated() {
            // Named as the file names it: which of several webhooks has the bad secret.
            do throws(SinkConfigurationError) {
                switch sink {
                case .webhook(let c): made.append(try WebhookSink(c))
                case .slack(let c): made.append(try SlackSink(c))
                case .splunk(let c): made.append(try SplunkHECSink(c))
                case .elasticsearch(let c): made.append(try ElasticsearchSink(c))
                case .kafka(let name, let topic, let filter):
                    guard let producer else { throw SinkConfigurationError("\(name): a Kafka sink needs brokers") }
                    made.append(KafkaSink(name: name, topic: topic, producer: producer, filter: filter))
                }
            } catch {
                throw SinkConfigurationError("sinks[\(index)]: \(error.description)")
            }
        }
        return made
    }
}
