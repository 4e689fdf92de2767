import ArgumentParser
import Foundation
import Logging
import VigilDetection
import VigilLogging

/// The `vigil` command: streaming log anomaly detection on Kafka.
@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Streaming log anomaly detection for Kafka.",
        version: VigilVersion.string,
        subcommands: [
            VersionCommand.self, TopicsCommand.self, GenerateCommand.self, TrainCommand.self,
            AnalyzeCommand.self, EvaluateCommand.self, StreamCommand.self, ServeCommand.self, MCPCommand.self,
            BatchCommand.self, AlertCommand.self, ProduceCommand.self,
            ConsumeCommand.self, ProbeCommand.self,
        ]
    )
}

enum VigilVersion {
    static let string = "0.1.0"
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options every subcommand that logs shares.
struct LoggingOptions: ParsableArguments {
    @Option(
        name: .long, help: "Log level: trace, debug, info, notice, warning, error or critical (env VIGIL_LOG_LEVEL).")
    var logLevel: Logger.Level?

    /// Logs to stderr (stdout stays for command output).
    func makeLogger(label: String) throws -> Logger {
        var level = logLevel ?? .info
        if logLevel == nil, let text = ProcessInfo.processInfo.environment["VIGIL_LOG_LEVEL"] {
            guard let fromEnvironment = Logger.Level(rawValue: text.lowercased()) else {
                throw ValidationError("VIGIL_LOG_LEVEL: unknown level \"\(text)\"")
            }
            level = fromEnvironment
        }
        return VigilLogging.logger(label, configuration: LoggingConfiguration(level: level))
    }
}

/// Where the Kafka cluster is.
struct BrokerOptions: ParsableArguments {
    @Option(name: .long, help: "Kafka bootstrap servers, host:port[,host:port] (env VIGIL_BROKERS).")
    var brokers: String?

    var resolved: String {
        brokers ?? ProcessInfo.processInfo.environment["VIGIL_BROKERS"] ?? "127.0.0.1:9092"
    }
}

/// A command failure with a message and exit status 1 (no usage text: the invocation was fine).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A `--reference-time` value: RFC 3339, in milliseconds.
func referenceTime(_ text: String?) throws -> Int64? {
    try text.map { text -> Int64 in
        guard let time = UTC.parse(text) else {
            throw ValidationError("--reference-time: not an RFC 3339 time: \(text)")
        }
        return time
    }
}
