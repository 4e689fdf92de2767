import VigilDetection
import VigilKafka

/// Everything `vigil stream` needs, after flags, environment and config file are merged.
public struct StreamSettings: Sendable, Equatable {
    public var brokers = "127.0.0.1:9092"
    public var groupID = "vigil-stream"
    /// Static membership: a restart within the session timeout keeps the assignment.
    public var groupInstanceID: String? = nil
    public var inputTopic = "raw-logs"
    public var outputTopic = "security-anomalies"
    public var deadLetterTopic = "raw-logs.dlq"
    public var assignmentStrategy = AssignmentStrategy.cooperativeSticky
    /// Model directory from `vigil train`; nil runs on rules and online baselines.
    public var modelDirectory: String? = nil
    /// Where per-partition detector snapshots are kept (crash recovery); nil disables them.
    public var stateDirectory: String? = "vigil-state"
    /// Records handed over per consumer batch, and how long to wait to fill one.
    public var batchSize = 2_000
    public var batchLingerMs = 20
    /// Caps on records (and their bytes) read but not yet finished (processed and, with their
    /// anomalies, acknowledged by the broker). Reading stops at the cap.
    public var maxInFlightEvents = 50_000
    public var maxInFlightBytes = 64 << 20
    public var commitIntervalMs = 5_000
    public var snapshotIntervalMs = 60_000
    /// Graceful shutdown budget; past it the process exits non-zero and says what was left.
    public var shutdownTimeoutMs = 30_000
    /// Prometheus metrics and health endpoints; 0 disables the server.
    public var metricsPort = 9464
    public var metricsAddress = "127.0.0.1"
    public var logFormat = LogFormat.text
    public var logLevel = "info"
    /// librdkafka properties passed through unchanged.
    public var consumerProperties: [String: String] = [:]
    public var producerProperties: [String: String] = [:]

    public enum LogFormat: String, Sendable, CaseIterable { case text, json }

    public init() {}

    /// The consumer configuration these settings describe.
    public var consumerConfiguration: ConsumerConfiguration {
        var config = ConsumerConfiguration(bootstrapServers: brokers, groupID: groupID)
        config.clientID = "vigil-stream"
        config.groupInstanceID = groupInstanceID
        config.assignmentStrategy = assignmentStrategy
        config.maxBatchSize = batchSize
        config.batchLinger = .milliseconds(batchLingerMs)
        config.statisticsInterval = .seconds(5)
        config.properties = consumerProperties
        return config
    }

    public var producerConfiguration: ProducerConfiguration {
        var config = ProducerConfiguration(bootstrapServers: brokers)
        config.clientID = "vigil-stream"
        config.properties = producerProperties
        return config
    }

    /// The effective settings as YAML, secrets masked.
    public var yaml: String {
        func quote(_ s: String) -> String {
            s.isEmpty || s.contains(where: { ":#{}[],&*?|<>=!%@`'\"\\ ".contains($0) }) ? "\"\(s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" : s
        }
        var lines = [
            "brokers: \(quote(brokers))",
            "group_id: \(quote(groupID))",
            "group_instance_id: \(groupInstanceID.map(quote) ?? "null")",
            "input_topic: \(quote(inputTopic))",
            "output_topic: \(quote(outputTopic))",
            "dlq_topic: \(quote(deadLetterTopic))",
            "assignment_strategy: \(assignmentStrategy.rawValue)",
            "model_dir: \(modelDirectory.map(quote) ?? "null")",
            "state_dir: \(stateDirectory.map(quote) ?? "null")",
            "batch_size: \(batchSize)",
            "batch_linger_ms: \(batchLingerMs)",
            "max_inflight_events: \(maxInFlightEvents)",
            "max_inflight_bytes: \(maxInFlightBytes)",
            "commit_interval_ms: \(commitIntervalMs)",
            "snapshot_interval_ms: \(snapshotIntervalMs)",
            "shutdown_timeout_ms: \(shutdownTimeoutMs)",
            "metrics_port: \(metricsPort)",
            "metrics_address: \(quote(metricsAddress))",
            "log_format: \(logFormat.rawValue)",
            "log_level: \(logLevel)",
        ]
        for (name, properties) in [("consumer", consumerProperties), ("producer", producerProperties)] {
            if properties.isEmpty { lines.append("\(name): {}"); continue }
            lines.append("\(name):")
            for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(key): \(quote(maskedValue(key, value)))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
