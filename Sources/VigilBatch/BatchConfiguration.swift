/// What `vigil batch` analyses and where it writes: a log folder in, reports and its own state
/// out. Filled by `VigilSettings` from the file, the environment and flags.
public struct BatchConfiguration: Sendable, Equatable {
    /// The folder of log files, walked recursively (hidden entries skipped).
    public var logDirectory = "logs"
    /// Reports, run summaries and the processing state (`state.json`) go here.
    public var outputDirectory = "batch_outputs"
    /// Globs on the path relative to the log folder (`*` crosses `/`); empty: every file with
    /// a log extension (see ``LogFolder/isLogFile(_:)``).
    public var include: [String] = []
    /// Globs on the relative path; a file matching one is skipped.
    public var exclude: [String] = []
    /// Seconds between scans; 0 runs once and exits.
    public var intervalSeconds = 0
    /// A last line without its newline is left for the next run while the file was modified
    /// within this many seconds (a writer may be in the middle of it).
    public var settleSeconds = 60
    /// Anomalies listed in a run's HTML report (the JSON reports hold all of them).
    public var maxReportRows = 10_000
    /// Record errors kept per file in its report (the rest are counted).
    public var maxErrorsPerFile = 100
    /// Exit status 3 when a run found anomalies (and had no errors).
    public var failOnAnomalies = false

    public init() {}
}
