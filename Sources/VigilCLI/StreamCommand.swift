import ArgumentParser
import Dispatch
import CVigilSupport
import Foundation
import Logging
import Metrics
import Prometheus
import VigilConfig
import VigilDetection
import VigilFiles
import VigilKafka
import VigilPipeline
import VigilServers

/// `vigil stream`: the main job.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Consume raw logs from Kafka, detect anomalies, publish them; commit offsets only after publishing.",
        discussion: """
        Settings come from --config (YAML; or VIGIL_CONFIG), then VIGIL_* environment variables, then flags — later
        ones win. Every setting has the same name everywhere: group_id, VIGIL_GROUP_ID, --group-id. Any librdkafka
        property passes through: consumer:/producer: maps in the file, VIGIL_CONSUMER_PROPERTIES="a=b,c=d", or
        --consumer-property a=b. SIGINT/SIGTERM shut down gracefully (exit 0, or 2 past the deadline; 1 if it cannot start); SIGHUP reloads
        the model.
        """
    )

    @Option(name: .long, help: "YAML config file (env VIGIL_CONFIG).") var config: String?
    @Flag(name: .long, help: "Print the effective configuration (secrets masked) and exit.") var printConfig = false
    @Option(name: .long) var brokers: String?
    @Option(name: .long) var groupId: String?
    @Option(name: .long) var groupInstanceId: String?
    @Option(name: .long) var inputTopic: String?
    @Option(name: .long) var outputTopic: String?
    @Option(name: .long) var dlqTopic: String?
    @Option(name: .long, help: "range, roundrobin or cooperative-sticky.") var assignmentStrategy: String?
    @Option(name: .long, help: "Model directory from `vigil train` (env MODEL_DIR).") var model: String?
    @Option(name: .long, help: "Snapshot directory for crash recovery ('none' disables).") var stateDir: String?
    @Option(name: .long) var batchSize: String?
    @Option(name: .long) var batchLingerMs: String?
    @Option(name: .long) var maxInflightEvents: String?
    @Option(name: .long) var maxInflightBytes: String?
    @Option(name: .long) var commitIntervalMs: String?
    @Option(name: .long) var snapshotIntervalMs: String?
    @Option(name: .long) var shutdownTimeoutMs: String?
    @Option(name: .long, help: "Prometheus and health port (0 disables).") var metricsPort: String?
    @Option(name: .long) var metricsAddress: String?
    @Option(name: .long, help: "text or json.") var logFormat: String?
    @Option(name: .long) var logLevel: String?
    @Option(name: .long, help: "A librdkafka consumer property, name=value (repeatable).") var consumerProperty: [String] = []
    @Option(name: .long, help: "A librdkafka producer property, name=value (repeatable).") var producerProperty: [String] = []

    func settings() throws -> StreamSettings {
        var settings = StreamSettings()
        let environment = ProcessInfo.processInfo.environment
        do {
            if let file = config ?? environment["VIGIL_CONFIG"] { try StreamSettingsLoader.apply(file: file, to: &settings) }
            try StreamSettingsLoader.apply(environment: environment, to: &settings)
            let flags: [(String, String?)] = [
                ("brokers", brokers), ("group_id", groupId), ("group_instance_id", groupInstanceId),
                ("input_topic", inputTopic), ("output_topic", outputTopic), ("dlq_topic", dlqTopic),
                ("assignment_strategy", assignmentStrategy), ("model_dir", model), ("state_dir", stateDir),
                ("batch_size", batchSize), ("batch_linger_ms", batchLingerMs), ("max_inflight_events", maxInflightEvents),
                ("max_inflight_bytes", maxInflightBytes), ("commit_interval_ms", commitIntervalMs),
                ("snapshot_interval_ms", snapshotIntervalMs), ("shutdown_timeout_ms", shutdownTimeoutMs),
                ("metrics_port", metricsPort), ("metrics_address", metricsAddress), ("log_format", logFormat), ("log_level", logLevel),
            ]
            for case let (key, value?) in flags { try StreamSettingsLoader.apply(key, value, to: &settings) }
            for pair in consumerProperty {
                let (k, v) = try StreamSettingsLoader.property(pair, name: "--consumer-property")
                settings.consumerProperties[k] = v
            }
            for pair in producerProperty {
                let (k, v) = try StreamSettingsLoader.property(pair, name: "--producer-property")
                settings.producerProperties[k] = v
            }
        } catch {
            throw ValidationError("\(error)")
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
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingBootstrap.once { label in
            settings.logFormat == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label) as any LogHandler
        }
        let logger = { () -> Logger in
            var logger = Logger(label: "vigil.stream")
            logger.logLevel = level
            return logger
        }()

        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                                   .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                                   .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]
        MetricsSystem.bootstrap(factory)

        var loaded: DetectionModel? = nil
        if let path = settings.modelDirectory {
            do {
                loaded = try ModelDirectory.load(path)
                logger.info("model loaded from \(path)")
            } catch {
                throw CommandFailure("\(error)")
            }
        } else {
            logger.info("no model: rules and baselines learnt online")
        }
        logger.info("librdkafka \(LibRdKafka.version)")
        let pipeline: StreamPipeline
        do {
            pipeline = try StreamPipeline(settings: settings, model: loaded, logger: logger)
        } catch {
            throw CommandFailure("cannot start: \(error)")
        }

        var signals = [
            installSignalHandler(SIGINT) { pipeline.stop(reason: "SIGINT") },
            installSignalHandler(SIGTERM) { pipeline.stop(reason: "SIGTERM") },
        ]
        signals.append(installSignalHandler(SIGHUP) {
            guard let path = settings.modelDirectory else {
                logger.warning("SIGHUP: no model directory configured; nothing to reload")
                return
            }
            do {
                try pipeline.reloadModel { try ModelDirectory.load(path) }
                logger.notice("SIGHUP: model reloaded from \(path)")
            } catch {
                logger.error("SIGHUP: \(error); keeping the model in use")
            }
        })

        let server = settings.metricsPort == 0 ? nil
            : MetricsServer(address: settings.metricsAddress, port: settings.metricsPort, registry: registry,
                            health: { pipeline.health }, logger: logger)
        let serving: Task<Void, Never>? = server.map { server in
            Task {
                do { try await server.run() } catch { logger.error("metrics server: \(error)") }
            }
        }
        let report = await pipeline.run()
        await server?.shutdown()
        _ = await serving?.value
        for source in signals { source.cancel() }
        if !report.clean {
            FileHandle.standardError.write(Data("vigil stream: \(report)\n".utf8))
            throw ExitCode(report.startError == nil ? 2 : 1)
        }
    }
}

/// Delivers a Unix signal to `handler` on a dispatch queue instead of its default action.
/// Keep the returned source alive for as long as the handler should run.
func installSignalHandler(_ signalNumber: Int32, _ handler: @escaping @Sendable () -> Void) -> DispatchSourceSignal {
    signal(signalNumber, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
    source.setEventHandler(handler: handler)
    source.resume()
    return source
}
