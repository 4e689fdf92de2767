import ArgumentParser
import Foundation
import Logging
import VigilLogging
import VigilMCP

/// `vigil mcp`: the MCP server on stdio.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the analysis tools to AI assistants over the Model Context Protocol (stdio).",
        discussion: """
            Tools: load_anomaly_models, analyze_logs, analyze_log_file, get_detection_stats, get_recent_anomalies. \
            stdout carries the JSON-RPC stream; logs go to stderr. Files are read only inside --allowed-dir \
            directories (default: the working directory). Each option also reads its environment variable.
            """
    )

    @Option(
        name: [.customLong("model-dir"), .customLong("model")],
        help: "Model directory (env MODEL_DIR; default anomaly_outputs).")
    var modelDirectory: String?
    @Option(
        name: .customLong("allowed-dir"),
        help:
            "A directory the tools may read (repeatable; env VIGIL_MCP_ALLOWED_DIRS, comma-separated; default the working directory)."
    )
    var allowedDirectories: [String] = []
    @Option(
        name: .long,
        help: "Kafka bootstrap servers for get_recent_anomalies (env VIGIL_BROKERS; none: the tool says so).")
    var brokers: String?
    @Option(name: .long, help: "The anomaly topic (env VIGIL_OUTPUT_TOPIC; default security-anomalies).")
    var outputTopic: String?
    @Option(
        name: .long, help: "Largest file or log_data read, in bytes (env VIGIL_MCP_MAX_FILE_BYTES; default 256 MiB).")
    var maxFileBytes: Int?
    @Option(
        name: .long,
        help:
            "Log level on stderr (env VIGIL_LOG_LEVEL or LOG_LEVEL; default info; VIGIL_LOG_FORMAT=json for JSON lines)."
    ) var logLevel: Logger.Level?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = MCPConfiguration()
        // An empty variable (compose's `${MODEL_DIR:-}`) is no setting.
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let model = modelDirectory ?? variable("MODEL_DIR") ?? variable("VIGIL_MODEL_DIR") {
            configuration.modelDirectory = model
            configuration.modelDirectoryExplicit = true
        }
        configuration.allowedDirectories =
            allowedDirectories.isEmpty
            ? (environment["VIGIL_MCP_ALLOWED_DIRS"] ?? "").split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty } : allowedDirectories
        configuration.brokers = brokers ?? environment["VIGIL_BROKERS"]
        if let topic = outputTopic ?? environment["VIGIL_OUTPUT_TOPIC"] { configuration.anomalyTopic = topic }
        if let text = maxFileBytes.map(String.init) ?? environment["VIGIL_MCP_MAX_FILE_BYTES"] {
            guard let bytes = Int(text), bytes > 0 else {
                throw ValidationError("max file bytes must be a positive integer, got \(text)")
            }
            configuration.maxFileBytes = bytes
        }
        var logging = LoggingConfiguration()
        do { try logging.apply(environment: environment) } catch { throw ValidationError("\(error)") }
        if let logLevel { logging.level = logLevel }
        let logger = VigilLogging.logger("vigil.mcp", configuration: logging)
        let toolbox = MCPToolbox(configuration: configuration, logger: logger)
        logger.info(
            "MCP server \(MCPServer.name) on stdio; files confined to \(configuration.allowedDirectories.isEmpty ? [FileManager.default.currentDirectoryPath] : configuration.allowedDirectories)"
        )
        try await MCPServer(toolbox: toolbox, version: VigilVersion.string, logger: logger).run()
    }
}
