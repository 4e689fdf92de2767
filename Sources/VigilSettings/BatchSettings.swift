import VigilAnalysis
import VigilBatch
import VigilLogging

/// Everything `vigil batch` is configured with: the folder, the schedule, the model and
/// logging, filled from ``table`` like the other commands' settings (file key, `VIGIL_`
/// variable, flag).
public struct BatchSettings: Sendable, Equatable {
    public var batch = BatchConfiguration()
    public var model = ModelConfiguration()
    public var logging = LoggingConfiguration()
    /// Whether to draw a progress bar on standard error.
    public var progress = ProgressMode.auto
    /// The alert routing file (`alerts.yml`, as for `vigil alert`): anomalies go to its sinks
    /// through an outbox in the output folder.
    public var alertsFile: String?

    public init() {}

    /// When the progress bar is drawn.
    public enum ProgressMode: String, Sendable, CaseIterable {
        /// When standard error is a terminal.
        case auto
        case always
        case never
    }

    /// Every setting of `vigil batch`, in the order `--print-config` and the README list them.
    public static let table: [Setting<BatchSettings>] = [
        .text("log_dir", \.batch.logDirectory, default: "logs", help: "Folder of log files, read recursively."),
        .text(
            "output_dir", \.batch.outputDirectory, default: "batch_outputs",
            help: "Reports, run summaries and the processing state."),
        .list(
            "include", \.batch.include, default: "log extensions",
            help:
                "Globs on the path in the log folder, comma-separated (`*` crosses folders); default .json .ndjson .jsonl .log .txt, names without extension, rotated and .gz."
        ),
        .list("exclude", \.batch.exclude, default: "none", help: "Globs of files to skip, comma-separated."),
        .integer(
            "interval", \.batch.intervalSeconds, in: 0...31_536_000, default: "0",
            help: "Seconds between scans (also BATCH_INTERVAL); 0 runs once and exits.",
            environmentAliases: ["BATCH_INTERVAL"]),
        .integer(
            "settle_seconds", \.batch.settleSeconds, in: 0...86_400, default: "60",
            help: "A last line without a newline waits for the next run while the file changed this recently."),
        .optionalText(
            "model_dir", \.model.directory, default: "none",
            help: "Model directory from `vigil train` (also MODEL_DIR); without one, rules and online baselines.",
            environmentAliases: ["MODEL_DIR"], flagAliases: ["model"]),
        .integer(
            "max_report_rows", \.batch.maxReportRows, in: 0...1_000_000, default: "10000",
            help: "Anomalies listed in a run's HTML report (the JSON reports hold all)."),
        .integer(
            "max_errors_per_file", \.batch.maxErrorsPerFile, in: 0...1_000_000, default: "100",
            help: "Unreadable records listed per file (the rest are counted)."),
        .boolean(
            "fail_on_anomalies", \.batch.failOnAnomalies, default: "false",
            help: "Exit status 3 when a run found anomalies."),
        .choice(
            "progress", \.progress, default: "auto",
            help: "Progress bar on standard error: auto (on a terminal), always or never."),
        .optionalText(
            "alerts", \.alertsFile, default: "none",
            help:
                "Alert routing file (alerts.yml, also VIGIL_ALERTS_CONFIG): anomalies go to its sinks through output_dir/alerts/.",
            environmentAliases: ["VIGIL_ALERTS_CONFIG"]),
        .choice("log_format", \.logging.format, default: "text", help: "text, or json: one JSON object per line."),
        .choice(
            "log_level", \.logging.level, default: "info",
            help: "trace, debug, info, notice, warning, error or critical (also LOG_LEVEL).",
            environmentAliases: ["LOG_LEVEL"]),
    ]

    /// The loader for ``table``.
    public static let loader = SettingsLoader(table: table)

    /// A setting by its file key.
    public static func setting(_ key: String) -> Setting<BatchSettings> {
        guard let setting = table.first(where: { $0.key == key }) else { preconditionFailure("no setting \(key)") }
        return setting
    }

    /// The effective settings as YAML (`--print-config`).
    public var yaml: String { Self.loader.yaml(self) }
}
