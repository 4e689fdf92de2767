import Foundation
import Logging
import MCP
import VigilDetection

/// `vigil mcp`: the analysis tools for AI assistants over the Model Context Protocol (stdio,
/// modelcontextprotocol/swift-sdk). Server name `log-anomaly-detection`. Every tool declares
/// JSON Schemas for its arguments and its result, returns the result both as
/// `structuredContent` and as concise text, and reports failures as `isError` results the
/// assistant can read. stdout is the JSON-RPC stream: logs go to stderr only.
public struct MCPServer: Sendable {
    public static let name = "log-anomaly-detection"
    let toolbox: MCPToolbox
    let version: String
    let logger: Logger

    public init(toolbox: MCPToolbox, version: String, logger: Logger) {
        self.toolbox = toolbox
        self.version = version
        self.logger = logger
    }

    /// Serves on stdin/stdout until the client closes the stream.
    public func run() async throws {
        let server = Server(
            name: Self.name, version: version, title: "Vigil log anomaly detection",
            instructions:
                "Analyse authentication and system logs for attacks (brute force, password spraying, credential stuffing, account enumeration, privilege abuse, impossible travel, …). Every anomaly says why: summary, evidence and MITRE ATT&CK technique.",
            capabilities: .init(tools: .init(listChanged: false)))
        let tools = Self.tools
        let toolbox = toolbox
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: tools) }
        await server.withMethodHandler(CallTool.self) { params in
            await Self.call(params.name, params.arguments ?? [:], toolbox: toolbox)
        }
        try await server.start(transport: StdioTransport(logger: logger))
        await server.waitUntilCompleted()
    }

    /// Runs one tool call; failures become `isError` results.
    static func call(_ name: String, _ arguments: [String: Value], toolbox: MCPToolbox) async -> CallTool.Result {
        do {
            let answer: ToolAnswer
            switch name {
            case "load_anomaly_models":
                try check(arguments, allowed: ["model_dir"])
                answer = try toolbox.loadModels(modelDirectory: try string(arguments, "model_dir", required: true) ?? "")
            case "analyze_logs":
                try check(arguments, allowed: ["log_data", "format"])
                answer = try toolbox.analyzeLogs(
                    try string(arguments, "log_data", required: true) ?? "", format: try string(arguments, "format"))
            case "analyze_log_file":
                try check(arguments, allowed: ["filepath"])
                answer = try toolbox.analyzeFile(try string(arguments, "filepath", required: true) ?? "")
            case "get_detection_stats":
                try check(arguments, allowed: [])
                answer = toolbox.stats()
            case "get_recent_anomalies":
                try check(arguments, allowed: ["since", "severity", "detector", "limit"])
                let limit: Int?
                switch arguments["limit"] {
                case nil, .null?: limit = nil
                case .int(let n)?: limit = n
                case .double(let d)? where d == d.rounded() && abs(d) < 1e9: limit = Int(d)
                default: throw ToolFailure("limit must be an integer")
                }
                answer = try await toolbox.recentAnomalies(
                    since: try string(arguments, "since"), severity: try string(arguments, "severity"),
                    detector: try string(arguments, "detector"), limit: limit)
            default:
                throw ToolFailure("unknown tool \(name)")
            }
            let structured = try JSONDecoder().decode(Value.self, from: Data(answer.structured))
            return CallTool.Result(
                content: [.text(text: answer.text, annotations: nil, _meta: nil)],
                structuredContent: Optional(structured) as Value?, isError: false)
        } catch let failure as ToolFailure {
            return CallTool.Result(content: [.text(text: failure.message, annotations: nil, _meta: nil)], isError: true)
        } catch {
            return CallTool.Result(
                content: [.text(text: "the tool failed: \(error)", annotations: nil, _meta: nil)], isError: true)
        }
    }

    private static func check(_ arguments: [String: Value], allowed: Set<String>) throws(ToolFailure) {
        if let unknown = arguments.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ToolFailure(
                "unknown argument \(unknown)" + (allowed.isEmpty ? ": this tool takes none" : "; arguments: \(allowed.sorted().joined(separator: ", "))"))
        }
    }

    private static func string(_ arguments: [String: Value], _ key: String, required: Bool = false) throws(ToolFailure)
        -> String?
    {
        switch arguments[key] {
        case nil, .null?:
            if required { throw ToolFailure("\(key) is required") }
            return nil
        case .string(let text)?: return text
        default: throw ToolFailure("\(key) must be a string")
        }
    }

    private static func schema(_ json: String) -> Value {
        (try? JSONDecoder().decode(Value.self, from: Data(json.utf8))) ?? .object([:])
    }

    static let modelSchema = #"""
        {"type": "object", "required": ["kind", "version", "loaded_at"], "properties": {"kind": {"type": "string", "enum": ["trained", "rules-only"]}, "version": {"type": "string"}, "directory": {"type": "string"}, "loaded_at": {"type": "string"}, "users": {"type": "integer"}, "templates": {"type": "integer"}, "trained_events": {"type": "integer"}}}
        """#

    static let analysisSchema = #"""
        {"type": "object", "required": ["anomalies_detected", "anomalies", "events_analyzed", "records", "errors", "errors_total", "duration_ms", "model"],
         "properties": {"anomalies_detected": {"type": "integer"}, "anomalies": {"type": "array", "items": {"type": "object", "required": ["id", "detector", "severity", "summary", "evidence"]}},
          "events_analyzed": {"type": "integer"}, "records": {"type": "integer"},
          "errors": {"type": "array", "items": {"type": "object", "required": ["index", "reason"], "properties": {"index": {"type": "integer"}, "line": {"type": "integer"}, "reason": {"type": "string"}}}},
          "errors_total": {"type": "integer"}, "input_error": {"type": "string"}, "duration_ms": {"type": "number"}, "model": \#(modelSchema)}}
        """#

    /// The tools, with schemas for arguments and results and honest hints.
    static let tools: [Tool] = [
        Tool(
            name: "load_anomaly_models", title: "Load a detection model",
            description:
                "Load (or reload) a trained model directory written by `vigil train`. Later analyses use it. Only directories inside the allowed directories are read; a missing or corrupt model is refused and the one in use stays.",
            inputSchema: schema(
                #"{"type": "object", "required": ["model_dir"], "additionalProperties": false, "properties": {"model_dir": {"type": "string", "description": "The model directory, e.g. anomaly_outputs."}}}"#
            ),
            annotations: .init(readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false),
            outputSchema: schema(
                #"{"type": "object", "required": ["status", "model"], "properties": {"status": {"type": "string"}, "model": \#(modelSchema)}}"#
            )),
        Tool(
            name: "analyze_logs", title: "Analyse log text",
            description:
                "Analyse logs given as text: a JSON array of events (or one event), NDJSON, or raw log lines (syslog, sshd, auth.log). Returns every anomaly with its detector, severity, summary, evidence and MITRE technique, and the records that could not be read.",
            inputSchema: schema(
                #"{"type": "object", "required": ["log_data"], "additionalProperties": false, "properties": {"log_data": {"type": "string", "description": "The logs."}, "format": {"type": "string", "enum": ["json", "ndjson", "text"], "description": "How log_data is written; detected when omitted."}}}"#
            ),
            annotations: .init(readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false),
            outputSchema: schema(analysisSchema)),
        Tool(
            name: "analyze_log_file", title: "Analyse a log file",
            description:
                "Analyse a log file on this machine (JSON array, NDJSON or raw lines; gzip accepted). Only regular files inside the allowed directories are read (symlinks are resolved first), up to the size limit.",
            inputSchema: schema(
                #"{"type": "object", "required": ["filepath"], "additionalProperties": false, "properties": {"filepath": {"type": "string", "description": "Path of the log file."}}}"#
            ),
            annotations: .init(readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false),
            outputSchema: schema(analysisSchema)),
        Tool(
            name: "get_detection_stats", title: "Detection statistics",
            description: "Events analysed and anomalies found by detector and severity in this session, and the model in use.",
            inputSchema: schema(#"{"type": "object", "additionalProperties": false, "properties": {}}"#),
            annotations: .init(readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false),
            outputSchema: schema(
                #"{"type": "object", "required": ["events_analyzed", "anomalies_detected", "anomalies_by_detector", "anomalies_by_severity"], "properties": {"events_analyzed": {"type": "integer"}, "records": {"type": "integer"}, "record_errors": {"type": "integer"}, "anomalies_detected": {"type": "integer"}, "anomalies_by_detector": {"type": "object"}, "anomalies_by_severity": {"type": "object"}, "requests": {"type": "object"}, "cache": {"type": "object"}, "model": {"oneOf": [\#(modelSchema), {"type": "null"}]}}}"#
            )),
        Tool(
            name: "get_recent_anomalies", title: "Recent anomalies from the live stream",
            description:
                "Anomalies the running stream detector published to its Kafka topic (security-anomalies), newest first — to answer questions such as \"what was detected in the last hour?\". Filter by time, severity and detector.",
            inputSchema: schema(
                #"{"type": "object", "additionalProperties": false, "properties": {"since": {"type": "string", "description": "An ISO 8601 time, or a duration back from now: 15m, 1h, 7d."}, "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]}, "detector": {"type": "string", "description": "A detector name, e.g. brute_force."}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Most anomalies returned (default 20)."}}}"#
            ),
            annotations: .init(readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: true),
            outputSchema: schema(
                #"{"type": "object", "required": ["topic", "count", "matched", "anomalies"], "properties": {"topic": {"type": "string"}, "count": {"type": "integer"}, "matched": {"type": "integer"}, "anomalies": {"type": "array", "items": {"type": "object"}}}}"#
            )),
    ]
}
