import ArgumentParser
import Foundation
import Logging

/// The `vigil` command: streaming log anomaly detection on Kafka.
@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Streaming log anomaly detection for Kafka.",
        version: VigilVersion.string,
        subcommands: [VersionCommand.self, TopicsCommand.self, GenerateCommand.self, TrainCommand.self,
                      AnalyzeCommand.self, EvaluateCommand.self, BenchCommand.self, StreamCommand.self,
                      ProduceCommand.self, ConsumeCommand.self, BenchStreamCommand.self]
    )
}

enum VigilVersion {
    static let string = "0.1.0"
}

/// Options every subcommand that logs shares.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (env VIGIL_LOG_LEVEL).")
    var logLevel: String?

    /// Bootstraps swift-log to stderr (stdout stays for command output) and returns a logger.
    func makeLogger(label: String) throws -> Logger {
        let text = logLevel ?? ProcessInfo.processInfo.environment["VIGIL_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError("--log-level: unknown level \"\(text)\"")
        }
        LoggingBootstrap.once { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// swift-log may be bootstrapped once per process.
enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    // Commands run one at a time on the main task; the flag is only touched there.
    static func once(_ factory: @escaping @Sendable (String) -> any LogHandler) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap(factory)
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
