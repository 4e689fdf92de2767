import Foundation
import VigilAPI
import VigilLogging

/// Everything `vigil serve` is configured with: the API server and logging, filled from
/// ``table`` like the stream's settings (file key, `VIGIL_` variable, flag).
public struct ServeSettings: Sendable, Equatable {
    public var api = APIConfiguration()
    public var logging = LoggingConfiguration()
    /// A file of bearer tokens, one per line (read at start, added to `api_tokens`).
    public var tokensFile: String? = nil
    /// The alert routing file (`alerts.yml`): analysed anomalies go to its sinks.
    public var alertsFile: String?
    /// The outbox the anomalies wait in for the sinks.
    public var alertsOutbox = "alerts_outbox"

    public init() {}

    /// The model directory; setting it (anywhere) makes it explicit, so a missing one is an
    /// error rather than the rules-only default.
    var modelDirectory: String {
        get { api.modelDirectory }
        set {
            api.modelDirectory = newValue
            api.modelDirectoryExplicit = true
        }
    }

    /// The rate limit in requests per minute (0: none).
    var rateLimitPerMinute: Int {
        get { Int((api.rateLimitPerSecond * 60).rounded()) }
        set { api.rateLimitPerSecond = Double(newValue) / 60 }
    }

    var tlsCertificate: String? {
        get { api.tlsCertificatePath }
        set { api.tlsCertificatePath = newValue }
    }

    var tlsKey: String? {
        get { api.tlsKeyPath }
        set { api.tlsKeyPath = newValue }
    }

    /// Every setting of `vigil serve`, in the order `--print-config` and the README list them.
    public static let table: [Setting<ServeSettings>] = [
        .text("host", \.api.address, default: "127.0.0.1", help: "Address to bind; 0.0.0.0 in a container."),
        .integer("port", \.api.port, in: 0...65_535, default: "8000", help: "Port (0: any free port)."),
        .text(
            "model_dir", \.modelDirectory, default: "anomaly_outputs",
            help:
                "Model directory loaded at start (also MODEL_DIR); the default one missing or an empty one means rules only, a configured one missing means not ready.",
            environmentAliases: ["MODEL_DIR"], flagAliases: ["model"]),
        .list(
            "model_roots", \.api.modelRoots, default: "working dir, model_dir's parent",
            help: "Directories POST /models/load may load from, comma-separated."),
        .integer(
            "max_body_bytes", \.api.maxBodyBytes, in: 1024...(1 << 30), default: "16 MiB",
            help: "Largest /analyze body; larger ones get 413."),
        .integer(
            "max_upload_bytes", \.api.maxUploadBytes, in: 1024...(64 << 30), default: "256 MiB",
            help: "Largest /analyze/file upload (spooled to disk)."),
        .integer(
            "max_events_per_request", \.api.maxEventsPerRequest, in: 1...100_000_000, default: "100000",
            help: "Most records one request may hold."),
        .integer(
            "request_timeout_ms", \.api.requestTimeoutMs, in: 100...3_600_000, default: "30000",
            help: "Time for one request's analysis; idle connections are closed after it."),
        .integer(
            "max_contexts", \.api.maxContexts, in: 1...100_000, default: "64",
            help: "Named analysis contexts kept (least recently used dropped)."),
        .integer(
            "context_idle_ms", \.api.contextIdleMs, in: 1_000...604_800_000, default: "3600000",
            help: "An unused context is dropped after this."),
        .integer(
            "cache_bytes", \.api.cacheBytes, in: 0...(16 << 30), default: "32 MiB",
            help: "Cached responses to identical requests (0: no cache)."),
        .list(
            "api_tokens", \.api.tokens, default: "none",
            help: "Accepted bearer tokens, comma-separated (empty: no auth).",
            secret: true),
        .optionalText(
            "api_tokens_file", \.tokensFile, default: "none", help: "A file of bearer tokens, one per line."),
        .boolean(
            "open_probes", \.api.openProbes, default: "true",
            help: "With tokens set, /health* and /metrics still answer without one."),
        .integer(
            "rate_limit_per_minute", \.rateLimitPerMinute, in: 0...10_000_000, default: "0",
            help: "Requests per minute per client address (0: no limit); 429 with Retry-After past it."),
        .integer(
            "rate_limit_burst", \.api.rateLimitBurst, in: 1...1_000_000, default: "20",
            help: "Requests a client may send at once before the rate applies."),
        .optionalText("tls_cert", \.tlsCertificate, default: "none", help: "PEM certificate chain: serve HTTPS."),
        .optionalText("tls_key", \.tlsKey, default: "none", help: "PEM private key for tls_cert."),
        .integer(
            "workers", \.api.workers, in: 1...1_024, default: "the number of cores",
            help: "Analyses run at once (also WORKERS); more requests wait their turn.",
            environmentAliases: ["WORKERS"]),
        .text(
            "upload_dir", \.api.temporaryDirectory, default: "/tmp", help: "Where uploads are spooled while analysed."),
        .optionalText(
            "alerts", \.alertsFile, default: "none",
            help: "Alert routing file (alerts.yml, also VIGIL_ALERTS_CONFIG): analysed anomalies go to its sinks.",
            environmentAliases: ["VIGIL_ALERTS_CONFIG"]),
        .text(
            "alerts_outbox", \.alertsOutbox, default: "alerts_outbox",
            help: "Folder where anomalies wait for the alert sinks (kept across restarts)."),
        .choice("log_format", \.logging.format, default: "text", help: "text, or json: one JSON object per line."),
        .choice(
            "log_level", \.logging.level, default: "info",
            help: "trace, debug, info, notice, warning, error or critical (also LOG_LEVEL).",
            environmentAliases: ["LOG_LEVEL"]),
    ]

    /// The loader for ``table``.
    public static let loader = SettingsLoader(table: table)

    /// A setting by its file key.
    public static func setting(_ key: String) -> Setting<ServeSettings> {
        guard let setting = table.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key)") }
        return setting
    }

    /// The effective settings as YAML, tokens masked (`--print-config`).
    public var yaml: String { Self.loader.yaml(self) }

    /// Adds the tokens of ``tokensFile`` (one per line; blank lines and `#` comments skipped).
    public mutating func readTokensFile() throws(SettingError) {
        guard let path = tokensFile else { return }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SettingError(message: "api_tokens_file \(path): \(error.localizedDescription)")
        }
        let tokens = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !tokens.isEmpty else { throw SettingError(message: "api_tokens_file \(path) holds no token") }
        api.tokens += tokens
    }
}
