import ArgumentParser
import CVigilSupport
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import VigilAnalysis
import VigilDetection
import VigilKafka
import VigilLogging
import VigilPipeline
import VigilServers
import VigilSettings

/// `vigil stream`: the main job.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Consume raw logs from Kafka, detect anomalies, publish them; commit offsets only after publishing.",
        discussion: """
            Settings come from --config (YAML; or VIGIL_CONFIG), then VIGIL_* environment variables, then flags — later \
            ones win. Every setting has the same name everywhere: group_id, VIGIL_GROUP_ID, --group-id. Any librdkafka \
            property passes through: consumer:/producer: maps in the file, VIGIL_CONSUMER_PROPERTIES="a=b,c=d", or \
            --consumer-property a=b. SIGINT/SIGTERM shut down gracefully (exit 0, or 2 past the deadline; 1 if it cannot \
            start); SIGHUP reloads the model.
            """
    )

    @Option(name: .long, help: "YAML config file (env VIGIL_CONFIG).") var config: String?
    @Flag(name: .long, help: "Print the effective configuration (secrets masked) and exit.") var printConfig = false
    @OptionGroup var flags: StreamFlags

    /// Defaults, then the file, the environment and the flags.
    func settings() throws -> StreamSettings {
        var settings = StreamSettings()
        do {
            try StreamSettings.loader.apply(
                file: config, environment: ProcessInfo.processInfo.environment, flags: flags.values, to: &settings)
        } catch {
            throw ValidationError("\(error)")
        }
        do {
            try settings.stream.consumerConfiguration.validate()
        } catch {
            throw ValidationError("consumer property: \(error.message)")
        }
        return settings
    }

    func run() async throws {
        let settings = try self.settings()
        if printConfig {
            print(settings.yaml, terminator: "")
            return
        }
        // Consumer batches are a few hundred kilobytes each: above glibc's default mmap threshold,
        // every batch would map fresh pages (page faults) and unmap them again. Keep them on the heap.
        vigil_keep_large_blocks_on_heap(64 << 20, 128 << 20)
        let logger = VigilLogging.logger("vigil.stream", configuration: settings.logging)
        let registry = PrometheusBootstrap.bootstrap()

        let model: DetectionModel?
        do { model = try settings.model.load() } catch { throw CommandFailure("\(error)") }
        logger.info(
            "\(settings.model.directory.map { "model loaded from \($0)" } ?? "no model: rules and baselines learnt online")"
        )
        logger.info("librdkafka \(LibRdKafka.version)")
        // One pipeline per stage this process runs (two for a repartitioned stream: each
        // stage is a consumer group of its own and commits its own input).
        let pipelines: [StreamPipeline]
        do {
            pipelines = try settings.stream.runStages.map { stage in
                try StreamPipeline(configuration: settings.stream, stage: stage, model: model, logger: logger)
            }
        } catch {
            throw CommandFailure("cannot start: \(error)")
        }

        // Stopped last (services stop in reverse order): metrics and probes answer while the
        // pipeline drains.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if settings.metrics.isEnabled {
            let server = MetricsServer(
                configuration: settings.metrics, registry: registry,
                liveness: { Self.liveness(StreamHealth.combined(pipelines.map(\.health))) },
                readiness: { Self.readiness(StreamHealth.combined(pipelines.map(\.health))) }, logger: logger)
            // A port that cannot be bound stops the stream gracefully and fails the command:
            // probes that never answer would only show as restarts by the orchestrator.
            services.append(.init(service: server, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        services.append(
            .init(
                service: ModelReloadService {
                    for pipeline in pipelines { Self.reload(pipeline, from: settings.model, logger: logger) }
                }))
        for pipeline in pipelines {
            services.append(
                .init(
                    service: pipeline, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        // The pipeline keeps its own deadline (exit 2 past it); the group only steps in if the
        // shutdown hangs well beyond it.
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(settings.stream.shutdownTimeoutMs + 15_000)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            if error is ListenError || pipelines.contains(where: { $0.report == nil }) {
                throw CommandFailure("\(error)")
            }
        }
        let reports = pipelines.compactMap(\.report)
        guard reports.count == pipelines.count else { throw CommandFailure("the stream ended without a report") }
        var status: Int32 = 0
        for (pipeline, report) in zip(pipelines, reports) where !report.clean {
            let stage = pipelines.count > 1 ? " (\(pipeline.stage.rawValue) stage)" : ""
            FileHandle.standardError.write(Data("vigil stream\(stage): \(report)\n".utf8))
            // The most telling status wins: did not start, then permanent error, then deadline.
            let code: Int32 = report.startError != nil ? 1 : report.permanentError != nil ? 3 : 2
            if status == 0 || code < status { status = code }
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// SIGHUP: reload the model directory; a corrupt model is refused and the current one kept.
    private static func reload(_ pipeline: StreamPipeline, from model: ModelConfiguration, logger: Logger) {
        guard let path = model.directory else {
            logger.warning("SIGHUP: no model directory configured; nothing to reload")
            return
        }
        do {
            try pipeline.reloadModel { try ModelDirectory.load(path) }
            logger.notice("SIGHUP: model reloaded from \(path)")
        } catch {
            logger.error("SIGHUP: \(error); keeping the model in use")
        }
    }

    private static func liveness(_ health: StreamHealth) -> ProbeResult {
        ProbeResult(
            healthy: health.live,
            body:
                "{\"status\":\"\(health.live ? "live" : "stalled")\",\"ms_since_last_poll\":\(health.millisecondsSinceLastPoll)}"
        )
    }

    private static func readiness(_ health: StreamHealth) -> ProbeResult {
        var json = JSONWriter()
        json.beginObject()
        json.key("status")
        json.string(health.ready ? "ready" : "not ready")
        json.key("assigned_partitions")
        json.int(health.assignedPartitions)
        json.key("inflight_events")
        json.int(health.inFlightEvents)
        json.key("inflight_bytes")
        json.int(health.inFlightBytes)
        if let problem = health.deliveryProblem {
            json.key("delivery_problem")
            json.string(problem)
        }
        json.endObject()
        return ProbeResult(healthy: health.ready, body: json.string)
    }
}

/// The flags of `vigil stream`, typed, named and explained by ``StreamSettings/table``.
struct StreamFlags: ParsableArguments {
    private static func name(_ key: String) -> NameSpecification { SettingFlags.name(StreamSettings.setting(key)) }
    private static func help(_ key: String) -> ArgumentHelp { SettingFlags.help(StreamSettings.setting(key)) }

    @Option(name: name("brokers"), help: help("brokers")) var brokers: String?
    @Option(name: name("group_id"), help: help("group_id")) var groupID: String?
    @Option(name: name("group_instance_id"), help: help("group_instance_id")) var groupInstanceID: String?
    @Option(name: name("input_topic"), help: help("input_topic")) var inputTopic: String?
    @Option(name: name("output_topic"), help: help("output_topic")) var outputTopic: String?
    @Option(name: name("dlq_topic"), help: help("dlq_topic")) var dlqTopic: String?
    @Option(name: name("topology"), help: help("topology")) var topology: String?
    @Option(name: name("stages"), help: help("stages")) var stages: String?
    @Option(name: name("by_source_topic"), help: help("by_source_topic")) var bySourceTopic: String?
    @Option(name: name("by_user_topic"), help: help("by_user_topic")) var byUserTopic: String?
    @Option(name: name("assignment_strategy"), help: help("assignment_strategy")) var assignmentStrategy:
        AssignmentStrategy?
    @Option(name: name("model_dir"), help: help("model_dir")) var modelDirectory: String?
    @Option(name: name("state_dir"), help: help("state_dir")) var stateDirectory: String?
    @Option(name: name("state_topic"), help: help("state_topic")) var stateTopic: String?
    @Option(name: name("restore_timeout_ms"), help: help("restore_timeout_ms")) var restoreTimeoutMs: Int?
    @Option(name: name("batch_size"), help: help("batch_size")) var batchSize: Int?
    @Option(name: name("batch_linger_ms"), help: help("batch_linger_ms")) var batchLingerMs: Int?
    @Option(name: name("max_inflight_events"), help: help("max_inflight_events")) var maxInFlightEvents: Int?
    @Option(name: name("max_inflight_bytes"), help: help("max_inflight_bytes")) var maxInFlightBytes: Int?
    @Option(name: name("commit_interval_ms"), help: help("commit_interval_ms")) var commitIntervalMs: Int?
    @Option(name: name("snapshot_interval_ms"), help: help("snapshot_interval_ms")) var snapshotIntervalMs: Int?
    @Option(name: name("shutdown_timeout_ms"), help: help("shutdown_timeout_ms")) var shutdownTimeoutMs: Int?
    @Option(name: name("max_future_skew_ms"), help: help("max_future_skew_ms")) var maxFutureSkewMs: Int?
    @Option(name: name("on_permanent_produce_error"), help: help("on_permanent_produce_error"))
    var onPermanentProduceError: String?
    @Option(name: name("metrics_port"), help: help("metrics_port")) var metricsPort: Int?
    @Option(name: name("metrics_address"), help: help("metrics_address")) var metricsAddress: String?
    @Option(name: name("log_format"), help: help("log_format")) var logFormat: LoggingConfiguration.Format?
    @Option(name: name("log_level"), help: help("log_level")) var logLevel: Logger.Level?
    @Option(name: name("consumer"), help: help("consumer")) var consumerProperties: [String] = []
    @Option(name: name("producer"), help: help("producer")) var producerProperties: [String] = []

    /// The flags given, as (setting key, value) in table order; the table checks ranges.
    var values: [(String, String)] {
        let scalars: [(String, String?)] = [
            ("brokers", brokers), ("group_id", groupID), ("group_instance_id", groupInstanceID),
            ("input_topic", inputTopic), ("output_topic", outputTopic), ("dlq_topic", dlqTopic),
            ("topology", topology), ("stages", stages), ("by_source_topic", bySourceTopic),
            ("by_user_topic", byUserTopic), ("assignment_strategy", assignmentStrategy?.rawValue),
            ("model_dir", modelDirectory),
            ("state_dir", stateDirectory), ("state_topic", stateTopic),
            ("restore_timeout_ms", restoreTimeoutMs.map(String.init)), ("batch_size", batchSize.map(String.init)),
            ("batch_linger_ms", batchLingerMs.map(String.init)),
            ("max_inflight_events", maxInFlightEvents.map(String.init)),
            ("max_inflight_bytes", maxInFlightBytes.map(String.init)),
            ("commit_interval_ms", commitIntervalMs.map(String.init)),
            ("snapshot_interval_ms", snapshotIntervalMs.map(String.init)),
            ("shutdown_timeout_ms", shutdownTimeoutMs.map(String.init)),
            ("max_future_skew_ms", maxFutureSkewMs.map(String.init)),
            ("on_permanent_produce_error", onPermanentProduceError), ("metrics_port", metricsPort.map(String.init)),
            ("metrics_address", metricsAddress), ("log_format", logFormat?.rawValue), ("log_level", logLevel?.rawValue),
        ]
        return scalars.compactMap { key, value in value.map { (key, $0) } }
            + consumerProperties.map { ("consumer", $0) } + producerProperties.map { ("producer", $0) }
    }
}

extension AssignmentStrategy: ExpressibleByArgument {}
extension LoggingConfiguration.Format: ExpressibleByArgument {}
