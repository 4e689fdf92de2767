import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import VigilAPI
import VigilAlerts
import VigilKafka
import VigilLogging
import VigilSettings

/// `vigil serve`: the REST API.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the REST API: /analyze, /analyze/file, /models/load, /stats, /metrics, /health, /docs.",
        discussion: """
            Settings come from --config (YAML; or VIGIL_CONFIG), then VIGIL_* environment variables, then flags — later \
            ones win; every setting has one name everywhere (max_body_bytes, VIGIL_MAX_BODY_BYTES, --max-body-bytes). \
            MODEL_DIR selects the model. SIGINT/SIGTERM stop the server gracefully.
            """
    )

    @Option(name: .long, help: "YAML config file (env VIGIL_CONFIG).") var config: String?
    @Flag(name: .long, help: "Print the effective configuration (tokens masked) and exit.") var printConfig = false
    @OptionGroup var flags: ServeFlags

    func settings() throws -> ServeSettings {
        var settings = ServeSettings()
        do {
            try ServeSettings.loader.apply(
                file: config, environment: ProcessInfo.processInfo.environment, flags: flags.values, to: &settings)
            try settings.readTokensFile()
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
        if (settings.api.tlsCertificatePath == nil) != (settings.api.tlsKeyPath == nil) {
            throw ValidationError("tls_cert and tls_key go together: set both or neither")
        }
        return settings
    }

    func run() async throws {
        let settings = try self.settings()
        if printConfig {
            print(settings.yaml, terminator: "")
            return
        }
        let logger = VigilLogging.logger("vigil.api", configuration: settings.logging)
        let registry = PrometheusBootstrap.bootstrap()
        let alerts = try settings.alertsFile.map { file in
            try AlertOutboxWiring(
                file: file, outboxDirectory: settings.alertsOutbox,
                brokers: ProcessInfo.processInfo.environment["VIGIL_BROKERS"], logger: logger)
        }
        defer { alerts?.close() }
        let server: APIServer
        do {
            server = try APIServer(
                configuration: settings.api, registry: registry,
                versions: [("vigil", VigilVersion.string), ("librdkafka", LibRdKafka.version)], logger: logger,
                alerts: alerts.map { Self.outboxHook($0.outbox, logger: logger) })
        } catch {
            throw CommandFailure("cannot start: \(error)")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server)]
        if let alerts { services.append(.init(service: alerts.delivery)) }
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }

    /// Writes each analysis's anomalies to the outbox (synced) before the answer goes out, so
    /// an answered anomaly is never lost to a crash; a write that fails is logged and counted
    /// (`vigil_api_alert_outbox_errors_total`) — the answer itself still goes out.
    static func outboxHook(_ outbox: AlertOutbox, logger: Logger) -> AnalysisService.AnomalyHook {
        let failures = Counter(label: "vigil_api_alert_outbox_errors_total")
        return { anomalies in
            do {
                let segment = try outbox.segment(tag: "api")
                for anomaly in anomalies { segment.add(anomaly) }
                try segment.commit()
            } catch {
                failures.increment()
                logger.error("\(anomalies.count) anomalies not written to the alert outbox: \(error)")
            }
        }
    }
}

/// The flags of `vigil serve`, named and explained by ``ServeSettings/table`` (values are
/// checked by the table, like the file's and the environment's).
struct ServeFlags: ParsableArguments {
    private static func name(_ key: String) -> NameSpecification { SettingFlags.name(ServeSettings.setting(key)) }
    private static func help(_ key: String) -> ArgumentHelp { SettingFlags.help(ServeSettings.setting(key)) }

    @Option(name: name("host"), help: help("host")) var host: String?
    @Option(name: name("port"), help: help("port")) var port: String?
    @Option(name: name("model_dir"), help: help("model_dir")) var modelDir: String?
    @Option(name: name("model_roots"), help: help("model_roots")) var modelRoots: String?
    @Option(name: name("max_body_bytes"), help: help("max_body_bytes")) var maxBodyBytes: String?
    @Option(name: name("max_upload_bytes"), help: help("max_upload_bytes")) var maxUploadBytes: String?
    @Option(name: name("max_events_per_request"), help: help("max_events_per_request")) var maxEventsPerRequest: String?
    @Option(name: name("request_timeout_ms"), help: help("request_timeout_ms")) var requestTimeoutMs: String?
    @Option(name: name("max_contexts"), help: help("max_contexts")) var maxContexts: String?
    @Option(name: name("context_idle_ms"), help: help("context_idle_ms")) var contextIdleMs: String?
    @Option(name: name("cache_bytes"), help: help("cache_bytes")) var cacheBytes: String?
    @Option(name: name("api_tokens"), help: help("api_tokens")) var apiTokens: String?
    @Option(name: name("api_tokens_file"), help: help("api_tokens_file")) var apiTokensFile: String?
    @Option(name: name("open_probes"), help: help("open_probes")) var openProbes: String?
    @Option(name: name("rate_limit_per_minute"), help: help("rate_limit_per_minute")) var rateLimitPerMinute: String?
    @Option(name: name("rate_limit_burst"), help: help("rate_limit_burst")) var rateLimitBurst: String?
    @Option(name: name("tls_cert"), help: help("tls_cert")) var tlsCert: String?
    @Option(name: name("tls_key"), help: help("tls_key")) var tlsKey: String?
    @Option(name: name("workers"), help: help("workers")) var workers: String?
    @Option(name: name("upload_dir"), help: help("upload_dir")) var uploadDir: String?
    @Option(name: name("alerts"), help: help("alerts")) var alerts: String?
    @Option(name: name("alerts_outbox"), help: help("alerts_outbox")) var alertsOutbox: String?
    @Option(name: name("log_format"), help: help("log_format")) var logFormat: String?
    @Option(name: name("log_level"), help: help("log_level")) var logLevel: String?

    /// The flags given, as (setting key, value) in table order.
    var values: [(String, String)] {
        let all: [(String, String?)] = [
            ("host", host), ("port", port), ("model_dir", modelDir), ("model_roots", modelRoots),
            ("max_body_bytes", maxBodyBytes), ("max_upload_bytes", maxUploadBytes),
            ("max_events_per_request", maxEventsPerRequest), ("request_timeout_ms", requestTimeoutMs),
            ("max_contexts", maxContexts), ("context_idle_ms", contextIdleMs), ("cache_bytes", cacheBytes),
            ("api_tokens", apiTokens), ("api_tokens_file", apiTokensFile), ("open_probes", openProbes),
            ("rate_limit_per_minute", rateLimitPerMinute), ("rate_limit_burst", rateLimitBurst), ("tls_cert", tlsCert),
            ("tls_key", tlsKey), ("workers", workers), ("upload_dir", uploadDir), ("alerts", alerts),
            ("alerts_outbox", alertsOutbox),
            ("log_format", logFormat), ("log_level", logLevel),
        ]
        return all.compactMap { key, value in value.map { (key, $0) } }
    }
}
