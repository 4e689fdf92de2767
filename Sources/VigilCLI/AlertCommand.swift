import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import VigilAlerts
import VigilKafka
import VigilLogging
import VigilServers
import VigilSettings

/// `vigil alert`: routes the anomaly topic to the configured sinks.
struct AlertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alert",
        abstract: "Route anomalies from Kafka to Slack, Splunk HEC, Elasticsearch, signed webhooks and Kafka topics.",
        discussion: """
            Consumes input_topic (security-anomalies) in its own consumer group and commits an offset only when every \
            sink has delivered that anomaly or given up on it; given-up anomalies go to undelivered_topic with the sink \
            and the reason in headers. The sinks come from the --config file (see the README); `${NAME}` values are \
            read from the environment. VIGIL_BROKERS and --brokers override the file's brokers. SIGINT/SIGTERM stop \
            intake, finish the deliveries in progress (up to 20 s) and commit.
            """
    )

    @Option(name: .long, help: "The alert routing file (env VIGIL_ALERTS_CONFIG).") var config: String?
    @Option(name: .long, help: "Kafka bootstrap servers (env VIGIL_BROKERS; default: the file's).") var brokers: String?
    @Flag(name: .long, help: "Print the effective configuration (secrets masked) and exit.") var printConfig = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = config ?? environment["VIGIL_ALERTS_CONFIG"] else {
            throw ValidationError("--config: the alert routing file is required (sinks are configured there)")
        }
        var settings: AlertSettings
        do { settings = try AlertSettings.load(file: path, environment: environment) } catch {
            throw ValidationError("\(error)")
        }
        if let brokers = brokers ?? environment["VIGIL_BROKERS"] { settings.router.brokers = brokers }
        // The environment's logging settings win over the file's (as for the other commands).
        do { try settings.logging.apply(environment: environment) } catch { throw ValidationError("\(error)") }
        if printConfig {
            print(settings.masked, terminator: "")
            return
        }
        let logger = VigilLogging.logger("vigil.alert", configuration: settings.logging)
        let registry = PrometheusBootstrap.bootstrap()
        let producer: KafkaProducer
        do { producer = try AlertRouter.makeProducer(settings.router, logger: logger) } catch {
            throw CommandFailure("cannot create the producer: \(error)")
        }
        let sinks: [any AlertSink]
        do { sinks = try settings.makeSinks(producer: producer) } catch {
            producer.close(timeout: .zero)  // nothing was sent yet
            throw ValidationError("\(path): \(error)")
        }
        let router = AlertRouter(
            configuration: settings.router, sinks: sinks, policy: settings.policy, producer: producer, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: router)]
        if settings.metrics.isEnabled {
            // Delivery metrics by sink, and probes: live while the process runs, ready while routing.
            services.append(
                .init(
                    service: MetricsServer(
                        configuration: settings.metrics, registry: registry,
                        liveness: { ProbeResult(healthy: true, body: #"{"status":"live"}"#) },
                        readiness: {
                            router.isRouting
                                ? ProbeResult(healthy: true, body: #"{"status":"routing"}"#)
                                : ProbeResult(healthy: false, body: #"{"status":"not routing"}"#)
                        }, logger: logger),
                    failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        var group = ServiceGroupConfiguration(services: services, logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(40)
        try await ServiceGroup(configuration: group).run()
    }
}
