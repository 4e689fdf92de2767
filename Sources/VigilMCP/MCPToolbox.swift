import Foundation
import Logging
import VigilAPI
import VigilAnalysis
import VigilDetection
import VigilKafka

/// Everything `vigil mcp` is configured with.
public struct MCPConfiguration: Sendable, Equatable {
    /// Directories `analyze_log_file` and `load_anomaly_models` may read (subdirectories
    /// included, symlinks resolved); empty: the working directory.
    public var allowedDirectories: [String] = []
    /// The model loaded at start (`MODEL_DIR`); as for the API, a configured one that is
    /// missing makes the tools fail with the reason until one is loaded.
    public var modelDirectory = "anomaly_outputs"
    public var modelDirectoryExplicit = false
    /// Largest file `analyze_log_file` reads, and largest `log_data`.
    public var maxFileBytes = 256 << 20
    /// Kafka for `get_recent_anomalies`; nil: that tool says no broker is configured.
    public var brokers: String? = nil
    public var anomalyTopic = "security-anomalies"
    /// Most anomaly records `get_recent_anomalies` scans per partition (the newest ones).
    public var maxScan = 100_000
    public var requestTimeoutMs = 120_000
    public var detection: DetectionConfig = .default

    public init() {}
}

/// A tool's answer: the structured result (a JSON object matching the tool's output schema)
/// and the same content as short readable text.
public struct ToolAnswer: Sendable {
    public var structured: [UInt8]
    public var text: String
}

/// A tool failure the assistant can read (an `isError` result, not a protocol error).
public struct ToolFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The five tools, independent of the protocol: arguments in, a ``ToolAnswer`` or a
/// ``ToolFailure`` out. ``MCPServer`` exposes them over stdio.
public final class MCPToolbox: Sendable {
    public let configuration: MCPConfiguration
    let service: AnalysisService
    let roots: [String]
    private let logger: Logger

    public init(configuration: MCPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let roots = configuration.allowedDirectories.isEmpty
            ? [FileManager.default.currentDirectoryPath] : configuration.allowedDirectories
        self.roots = roots.map { ModelStore.resolved($0) ?? $0 }
        var api = APIConfiguration()
        api.modelDirectory = configuration.modelDirectory
        api.modelDirectoryExplicit = configuration.modelDirectoryExplicit
        api.detection = configuration.detection
        api.maxErrorsListed = 20
        let models = ModelStore(roots: roots)
        service = AnalysisService(configuration: api, models: models)
        models.loadInitial(configuration.modelDirectory, explicit: configuration.modelDirectoryExplicit, logger: logger)
    }

    private var deadline: ContinuousClock.Instant { .now + .milliseconds(configuration.requestTimeoutMs) }

    /// `load_anomaly_models {"model_dir"}`.
    public func loadModels(modelDirectory: String) throws(ToolFailure) -> ToolAnswer {
        let loaded: LoadedModel
        do { loaded = try service.models.load(modelDirectory) } catch { throw ToolFailure(error.message) }
        return ToolAnswer(
            structured: loaded.loadedJSON,
            text: "Loaded the \(loaded.kind) model \(loaded.version) from \(modelDirectory); later analyses use it.")
    }

    /// `analyze_logs {"log_data", "format"}`: JSON (an array of events or one event), NDJSON, or
    /// raw log lines.
    public func analyzeLogs(_ data: String, format: String?) throws(ToolFailure) -> ToolAnswer {
        let bytes = Array(data.utf8)
        guard bytes.count <= configuration.maxFileBytes else {
            throw ToolFailure("log_data is \(bytes.count) bytes, more than the limit of \(configuration.maxFileBytes)")
        }
        let first = bytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        switch format ?? "auto" {
        case "json":
            guard first == UInt8(ascii: "[") || first == UInt8(ascii: "{") else {
                throw ToolFailure("format is json but log_data does not start with '[' or '{'")
            }
            let valid = (try? JSONSerialization.jsonObject(with: Data(bytes))) != nil
            guard valid else {
                throw ToolFailure(
                    "log_data is not valid JSON (format json): send an array of events, or use format ndjson or text")
            }
        case "ndjson", "text", "auto":
            break
        default:
            throw ToolFailure("format must be json, ndjson or text")
        }
        guard first != nil else { throw ToolFailure("log_data is empty") }
        return try analyze(.bytes(bytes, name: "log_data"), what: "the log data")
    }

    /// `analyze_log_file {"filepath"}`: only regular files inside the allowed directories.
    public func analyzeFile(_ path: String) throws(ToolFailure) -> ToolAnswer {
        guard !path.isEmpty, !path.contains("\0") else { throw ToolFailure("filepath must be a non-empty path") }
        guard let real = ModelStore.resolved(path) else { throw ToolFailure("\(path) does not exist") }
        guard roots.contains(where: { real == $0 || real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw ToolFailure(
                "\(path) is outside the allowed directories (\(roots.joined(separator: ", "))); symlinks are resolved first")
        }
        var info = stat()
        guard stat(real, &info) == 0 else { throw ToolFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ToolFailure("\(path) is not a regular file (directories, devices and pipes are not read)")
        }
        guard Int(info.st_size) <= configuration.maxFileBytes else {
            throw ToolFailure("\(path) is \(info.st_size) bytes, more than the limit of \(configuration.maxFileBytes)")
        }
        guard access(real, R_OK) == 0 else { throw ToolFailure("cannot read \(path): permission denied") }
        var input = LogInput.file(real)
        input.name = path
        return try analyze(input, what: path)
    }

    private func analyze(_ input: LogInput, what: String) throws(ToolFailure) -> ToolAnswer {
        let answer: AnalysisAnswer
        do { answer = try service.analyze(input, textLines: 20, deadline: deadline) } catch {
            throw ToolFailure(error.message)
        }
        var text = "Analysed \(answer.events) event\(answer.events == 1 ? "" : "s") in \(what): "
        text += answer.anomalies == 0 ? "no anomalies." : "\(answer.anomalies) anomal\(answer.anomalies == 1 ? "y" : "ies"):"
        for line in answer.lines { text += "\n- " + line }
        if answer.anomalies > answer.lines.count { text += "\n… and \(answer.anomalies - answer.lines.count) more." }
        if answer.errorCount > 0 {
            text += "\n\(answer.errorCount) record\(answer.errorCount == 1 ? "" : "s") could not be read (see errors)."
        }
        return ToolAnswer(structured: answer.body, text: text)
    }

    /// `get_detection_stats {}`.
    public func stats() -> ToolAnswer {
        var w = JSONWriter()
        w.beginObject()
        service.statistics.write(to: &w)
        w.key("model")
        if let model = service.models.model { model.write(to: &w) } else { w.null() }
        w.endObject()
        let object = (try? JSONSerialization.jsonObject(with: Data(w.bytes))) as? [String: Any] ?? [:]
        let model = (object["model"] as? [String: Any])
        let text =
            "\(object["events_analyzed"] ?? 0) events analysed, \(object["anomalies_detected"] ?? 0) anomalies detected in this session; model: \(model.map { "\($0["kind"] ?? "?") \($0["version"] ?? "")" } ?? "none loaded")."
        return ToolAnswer(structured: w.bytes, text: text)
    }

    /// `get_recent_anomalies {"since"?, "severity"?, "detector"?, "limit"?}`: the live
    /// anomaly topic, newest first.
    public func recentAnomalies(since: String?, severity: String?, detector: String?, limit: Int?) async throws(
        ToolFailure
    ) -> ToolAnswer {
        guard let brokers = configuration.brokers, !brokers.isEmpty else {
            throw ToolFailure(
                "no Kafka broker is configured: start vigil mcp with --brokers (or VIGIL_BROKERS) to read \(configuration.anomalyTopic)"
            )
        }
        let limit = min(max(limit ?? 20, 1), 1_000)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var cutoff: Int64? = nil
        if let since { cutoff = try Self.time(since, now: now) }
        if let severity, Severity(rawValue: severity) == nil {
            throw ToolFailure("severity must be one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let detector, DetectorKind(rawValue: detector) == nil {
            throw ToolFailure("detector must be one of \(DetectorKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let records = try await AnomalyTopicReader(
            brokers: brokers, topic: configuration.anomalyTopic, maxScan: configuration.maxScan, logger: logger
        ).read()
        var matched: [(time: String, json: [UInt8])] = []
        for record in records {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(record))) as? [String: Any],
                let time = object["event_time"] as? String
            else { continue }
            if let severity, object["severity"] as? String != severity { continue }
            if let detector, object["detector"] as? String != detector { continue }
            if let cutoff, let parsed = UTC.parse(time), parsed < cutoff { continue }
            matched.append((time, record))
        }
        matched.sort { $0.time > $1.time }
        let newest = matched.prefix(limit)
        var w = JSONWriter()
        w.beginObject()
        w.field("topic", configuration.anomalyTopic)
        w.field("count", newest.count)
        w.field("matched", matched.count)
        w.key("anomalies")
        w.beginArray()
        for item in newest { w.raw(item.json) }
        w.endArray()
        w.endObject()
        var text =
            newest.isEmpty
            ? "No anomalies in \(configuration.anomalyTopic)\(since.map { " since \($0)" } ?? "") matching the filter."
            : "\(matched.count) anomal\(matched.count == 1 ? "y" : "ies") in \(configuration.anomalyTopic)\(since.map { " since \($0)" } ?? ""); newest \(newest.count):"
        for item in newest { text += "\n- " + (AnomalyText.line(json: item.json) ?? String(decoding: item.json, as: UTF8.self)) }
        return ToolAnswer(structured: w.bytes, text: text)
    }

    /// `since`: an ISO 8601 time, or a duration back from now (`90s`, `15m`, `1h`, `7d`).
    static func time(_ text: String, now: Int64) throws(ToolFailure) -> Int64 {
        if let parsed = UTC.parse(text) { return parsed }
        let units: [Character: Int64] = ["s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        if let unit = text.last.flatMap({ units[$0] }), let amount = Int64(text.dropLast()), amount >= 0,
            amount <= 36_500 * 86_400
        {
            return now - amount * unit
        }
        throw ToolFailure("since must be an ISO 8601 time (2026-11-30T10:00:00Z) or a duration such as 15m, 1h or 7d")
    }
}

/// Reads the newest records of the anomaly topic (up to `maxScan` per partition) with a consumer
/// of its own — no group, nothing committed.
struct AnomalyTopicReader {
    var brokers: String
    var topic: String
    var maxScan: Int
    var logger: Logger

    func read() async throws(ToolFailure) -> [[UInt8]] {
        var quiet = logger
        quiet.logLevel = .critical
        let observer = KafkaClientObserver(logger: quiet)
        let partitions: [TopicDescription.Partition]
        do {
            var admin = AdminConfiguration(bootstrapServers: brokers)
            admin.properties["socket.connection.setup.timeout.ms"] = "5000"
            let client = try KafkaAdmin(configuration: admin, observer: observer)
            guard let description = try await client.describeTopics([topic], timeout: .seconds(8)).first else {
                throw ToolFailure("topic \(topic) does not exist on \(brokers)")
            }
            partitions = description.partitions
        } catch let failure as ToolFailure {
            throw failure
        } catch {
            throw ToolFailure("cannot reach Kafka at \(brokers) to read \(topic): \(error)")
        }
        guard !partitions.isEmpty else { throw ToolFailure("topic \(topic) does not exist on \(brokers)") }
        var records: [[UInt8]] = []
        do {
            let consumer = try KafkaConsumer(
                configuration: ConsumerConfiguration(bootstrapServers: brokers, groupID: "vigil-mcp-reader"),
                observer: observer)
            var starts: [TopicPartitionOffset] = []
            var ends: [Int32: Int64] = [:]
            for partition in partitions {
                let tp = TopicPartition(topic, partition.id)
                let (low, high) = try consumer.watermarks(tp, timeout: .seconds(8))
                ends[partition.id] = high
                if high > low { starts.append(TopicPartitionOffset(topic, partition.id, offset: max(low, high - Int64(maxScan)))) }
            }
            if !starts.isEmpty {
                try consumer.assign(starts)
                var done: Set<Int32> = []
                let deadline = ContinuousClock.now + .seconds(30)
                while done.count < starts.count, ContinuousClock.now < deadline,
                    let batch = await consumer.nextBatch(timeout: .seconds(3))
                {
                    for record in batch {
                        if let value = record.value { records.append(Array(value)) }
                        if record.offset + 1 >= ends[record.partition, default: 0] { done.insert(record.partition) }
                    }
                }
            }
            try? await consumer.close(timeout: .seconds(5))
        } catch {
            throw ToolFailure("cannot read \(topic) from \(brokers): \(error)")
        }
        return records
    }
}
