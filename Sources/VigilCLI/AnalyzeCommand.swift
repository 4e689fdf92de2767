import ArgumentParser
import Foundation
import VigilDetection
import VigilFiles

/// `vigil analyze`: run the engine over a file and print anomalies.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Detect anomalies in a log file and print them with a summary.",
        discussion: "Without --model the engine uses its rules and learns baselines as it reads."
    )

    @Argument(help: "Log file (JSON, JSON array, NDJSON or syslog lines).") var file: String
    @Option(name: .long, help: "Model directory from `vigil train` (env MODEL_DIR).") var model: String?
    @Option(name: .long, help: "json (one document), ndjson (one anomaly per line) or text.") var format = "text"
    @Option(name: .long, help: "Reference time for syslog years (RFC 3339); default: the file's modification time.")
    var referenceTime: String?

    func run() throws {
        guard ["json", "ndjson", "text"].contains(format) else {
            throw ValidationError("--format: expected json, ndjson or text, got \"\(format)\"")
        }
        let reference = try referenceTime.map { text -> Int64 in
            guard let t = UTC.parse(text) else { throw ValidationError("--reference-time: not an RFC 3339 time: \(text)") }
            return t
        }
        let modelPath = model ?? ProcessInfo.processInfo.environment["MODEL_DIR"]
        var loaded: DetectionModel? = nil
        if let modelPath {
            do { loaded = try ModelDirectory.load(modelPath) } catch { throw CommandFailure("\(error)") }
        }
        var engine = DetectionEngine(model: loaded)
        var anomalies: [Anomaly] = []
        var errors: [RecordError] = []
        var records = 0, events = 0
        try LogFiles.parse(file, referenceTime: reference) { result in
            records += result.records
            events += result.events.count
            errors.append(contentsOf: result.errors)
            for event in result.events {
                let found = engine.process(event)
                if format == "ndjson" {
                    for anomaly in found { print(String(decoding: AnomalyJSON.encode(anomaly), as: UTF8.self)) }
                } else {
                    anomalies.append(contentsOf: found)
                }
            }
        }
        let summary = AnalysisSummary(file: file, model: modelPath, records: records, events: events, errors: errors,
                                      statistics: engine.statistics)
        switch format {
        case "json":
            var w = JSONWriter()
            w.beginObject()
            w.key("summary")
            summary.write(to: &w)
            w.key("anomalies")
            w.beginArray()
            for a in anomalies { AnomalyJSON.write(a, to: &w) }
            w.endArray()
            w.endObject()
            print(w.string)
        case "ndjson":
            FileHandle.standardError.write(Data(summary.text.utf8))
        default:
            for a in anomalies {
                print("\(UTC.format(a.eventTime))  \(a.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.detector.rawValue.padding(toLength: 23, withPad: " ", startingAt: 0)) \(a.summary)")
            }
            if !anomalies.isEmpty { print("") }
            print(summary.text, terminator: "")
        }
    }
}

/// The closing summary of an analysis.
struct AnalysisSummary {
    var file: String
    var model: String?
    var records: Int
    var events: Int
    var errors: [RecordError]
    var statistics: EngineStatistics

    var text: String {
        var lines = ["\(file): \(records) records, \(events) events, \(errors.count) unreadable\(model.map { ", model \($0)" } ?? ", no model (rules and online baselines)")"]
        let total = statistics.anomalies.values.reduce(0, +)
        lines.append("anomalies: \(total)" + (total == 0 ? "" : " — " + statistics.anomalies.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")))
        if statistics.lateEvents > 0 { lines.append("late events (beyond the allowed lateness): \(statistics.lateEvents)") }
        for error in errors.prefix(20) { lines.append("unreadable \(error)") }
        if errors.count > 20 { lines.append("… and \(errors.count - 20) more unreadable records") }
        return lines.joined(separator: "\n") + "\n"
    }

    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("file", file)
        w.field("model", model)
        w.field("records", records)
        w.field("events", events)
        w.field("unreadable", errors.count)
        w.field("late_events", statistics.lateEvents)
        w.key("anomalies_by_detector")
        w.value(.object(statistics.anomalies.sorted { $0.key < $1.key }.map { ($0.key.rawValue, .int($0.value)) }))
        w.key("errors")
        w.beginArray()
        for error in errors {
            w.beginObject()
            w.field("record", error.index)
            w.field("line", error.line)
            w.field("reason", error.reason)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }
}
