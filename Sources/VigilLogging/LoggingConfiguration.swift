import Logging
import Synchronization

/// How Vigil logs: to stderr (stdout stays for command output and, for `vigil mcp`, the
/// JSON-RPC stream), as text or one JSON object per line, from a minimum level.
public struct LoggingConfiguration: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable {
        /// swift-log's standard text lines.
        case text
        /// One JSON object per line (`ts`, `level`, `logger`, `msg`, `source`, metadata).
        case json
    }

    public var format = Format.text
    public var level = Logger.Level.info

    public init(format: Format = .text, level: Logger.Level = .info) {
        self.format = format
        self.level = level
    }
}

/// Installs the log handler (swift-log allows that once per process) and makes loggers.
public enum VigilLogging {
    private static let bootstrapped = Atomic<Bool>(false)

    /// Bootstraps swift-log for `configuration` (the first call wins; later ones only keep the
    /// level for the loggers they make) and returns a logger labelled `label`.
    public static func logger(_ label: String, configuration: LoggingConfiguration) -> Logger {
        if !bootstrapped.exchange(true, ordering: .acquiringAndReleasing) {
            let format = configuration.format
            LoggingSystem.bootstrap { label in
                format == .json
                    ? JSONLogHandler(label: label) as any LogHandler : StreamLogHandler.standardError(label: label)
            }
        }
        var logger = Logger(label: label)
        logger.logLevel = configuration.level
        return logger
    }
}

extension LoggingConfiguration {
    /// A logging variable with a value it cannot take.
    public struct EnvironmentError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// `VIGIL_LOG_LEVEL` (or `LOG_LEVEL`) and `VIGIL_LOG_FORMAT` over these values — for the
    /// commands whose settings do not come from a settings table (`vigil mcp`, `vigil alert`).
    /// Empty variables are no setting.
    public mutating func apply(environment: [String: String]) throws(EnvironmentError) {
        func variable(_ name: String) -> (String, String)? {
            environment[name].flatMap { $0.isEmpty ? nil : (name, $0) }
        }
        if let (name, text) = variable("VIGIL_LOG_LEVEL") ?? variable("LOG_LEVEL") {
            guard let value = Logger.Level(rawValue: text.lowercased()) else {
                throw EnvironmentError(
                    description:
                        "\(name): \"\(text)\" is not a level (trace, debug, info, notice, warning, error, critical)")
            }
            level = value
        }
        if let (name, text) = variable("VIGIL_LOG_FORMAT") {
            guard let value = Format(rawValue: text.lowercased()) else {
                throw EnvironmentError(description: "\(name): \"\(text)\" is not a log format (text or json)")
            }
            format = value
        }
    }
}
