import Logging
import VigilAnalysis
import VigilKafka
import VigilLogging
import VigilPipeline
import VigilServers

/// Everything `vigil stream` is configured with: the pipeline, the metrics and health server,
/// logging and the model — each module's own configuration, filled from ``table``.
public struct StreamSettings: Sendable, Equatable {
    public var stream = StreamConfiguration()
    public var metrics = HTTPConfiguration.metricsDefault
    public var logging = LoggingConfiguration()
    public var model = ModelConfiguration()

    public init() {}

    /// Every setting of `vigil stream`, in the order `--print-config` and the README list them.
    public static let table: [Setting<StreamSettings>] = [
        .text(
            "brokers", \.stream.brokers, default: "127.0.0.1:9092",
            help: "Kafka bootstrap servers, host:port[,host:port]."),
        .text("group_id", \.stream.groupID, default: "vigil-stream", help: "Consumer group."),
        .optionalText(
            "group_instance_id", \.stream.groupInstanceID, default: "none",
            help: "Static membership: a restart within the session timeout keeps the assignment."),
        .text("input_topic", \.stream.inputTopic, default: "raw-logs", help: "Topic of raw log records."),
        .text(
            "output_topic", \.stream.outputTopic, default: "security-anomalies",
            help: "Topic anomalies are published to."),
        .text(
            "dlq_topic", \.stream.deadLetterTopic, default: "raw-logs.dlq",
            help: "Dead-letter topic for undecodable records."),
        .choice(
            "topology", \.stream.topology, default: "repartitioned",
            help:
                "repartitioned: route events through topics keyed by source and by account first, so detection does not depend on the producer's keys; single: detect per input partition (related events must share one)."
        ),
        .choice(
            "stages", \.stream.stages, default: "all",
            help: "Repartitioned: run all stages, or only route (parse, re-key) or detect (separate deployments)."),
        .text(
            "by_source_topic", \.stream.bySourceTopic, default: "vigil.events.by-source",
            help: "Repartition topic of events keyed by source."),
        .text(
            "by_user_topic", \.stream.byUserTopic, default: "vigil.events.by-user",
            help: "Repartition topic of events keyed by account."),
        .choice(
            "assignment_strategy", \.stream.assignmentStrategy, default: "cooperative-sticky",
            help: "How the group divides partitions: range, roundrobin or cooperative-sticky."),
        .optionalText(
            "model_dir", \.model.directory, default: "none",
            help: "Model directory from `vigil train` (also MODEL_DIR); without one, rules and online baselines.",
            environmentAliases: ["MODEL_DIR"], flagAliases: ["model"]),
        .optionalText(
            "state_dir", \.stream.stateDirectory, default: "vigil-state",
            help: "Directory of detector snapshots for crash recovery ('none' disables them)."),
        .optionalText(
            "state_topic", \.stream.stateTopic, default: "vigil.state",
            help:
                "Compacted topic the snapshots also go to, so state follows a partition to another machine ('none': local only)."
        ),
        .integer(
            "restore_timeout_ms", \.stream.restoreTimeoutMs, in: 1_000...3_600_000, default: "120000",
            help:
                "Longest an assignment reads the state topic; past it the best snapshot found so far is used (keep under max.poll.interval.ms)."
        ),
        .integer(
            "batch_size", \.stream.batchSize, in: 1...100_000, default: "2000", help: "Records per consumer batch."),
        .integer(
            "batch_linger_ms", \.stream.batchLingerMs, in: 0...60_000, default: "0",
            help: "How long to wait to fill a batch, in milliseconds; 0 hands records over as they arrive."),
        .integer(
            "max_inflight_events", \.stream.maxInFlightEvents, in: 1...100_000_000, default: "50000",
            help: "Most records read but not finished; intake stops at the cap."),
        .integer(
            "max_inflight_bytes", \.stream.maxInFlightBytes, in: 1024...(64 << 30), default: "64 MiB",
            help: "Most bytes read but not finished; intake stops at the cap."),
        .integer(
            "commit_interval_ms", \.stream.commitIntervalMs, in: 100...3_600_000, default: "5000",
            help: "How often finished offsets are committed, in milliseconds."),
        .integer(
            "snapshot_interval_ms", \.stream.snapshotIntervalMs, in: 100...86_400_000, default: "60000",
            help: "How often detector state is snapshotted, in milliseconds."),
        .integer(
            "max_future_skew_ms", \.stream.maxFutureSkewMs, in: 0...31_622_400_000, default: "86400000",
            help: "Events dated more than this past the current time go to the dead-letter topic, unanalysed."),
        .choice(
            "on_permanent_produce_error", \.stream.onPermanentError, default: "retry",
            help:
                "A delivery the broker refuses for good: retry (and fail /readyz) or exit (status 3); never committed."),
        .integer(
            "shutdown_timeout_ms", \.stream.shutdownTimeoutMs, in: 100...3_600_000, default: "30000",
            help: "Graceful shutdown budget in milliseconds; past it the exit status is 2."),
        .integer(
            "metrics_port", \.metrics.port, in: 0...65_535, default: "9464",
            help: "Port of the Prometheus metrics and health server (0 disables it)."),
        .text("metrics_address", \.metrics.address, default: "127.0.0.1", help: "Address the metrics server binds."),
        .choice("log_format", \.logging.format, default: "text", help: "text, or json: one JSON object per line."),
        .choice(
            "log_level", \.logging.level, default: "info",
            help: "trace, debug, info, notice, warning, error or critical (also LOG_LEVEL).",
            environmentAliases: ["LOG_LEVEL"]),
        .properties("consumer", \.stream.consumerProperties, help: "A librdkafka consumer property, name=value."),
        .properties("producer", \.stream.producerProperties, help: "A librdkafka producer property, name=value."),
    ]

    /// The loader for ``table``.
    public static let loader = SettingsLoader(table: table)

    /// A setting by its file key (flags look up their name and help text here).
    public static func setting(_ key: String) -> Setting<StreamSettings> {
        guard let setting = table.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key)") }
        return setting
    }

    /// The effective settings as YAML, secrets masked (`--print-config`).
    public var yaml: String { Self.loader.yaml(self) }
}
