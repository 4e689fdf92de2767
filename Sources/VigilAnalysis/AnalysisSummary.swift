import VigilDetection

/// A record of an input that could not become an event, with the input it came from.
public struct InputRecordError: Sendable, Hashable, CustomStringConvertible {
    public var input: String
    public var error: RecordError

    public var description: String { "\(input): \(error)" }
}

/// What one input gave.
public struct InputSummary: Sendable, Hashable {
    public var name: String
    /// Records seen (events + unreadable records).
    public var records = 0
    public var events = 0
    /// Unreadable records (all of them, also those not kept in ``errors``).
    public var errorCount = 0
    /// The first unreadable records, with line (or index) and reason.
    public var errors: [RecordError] = []
    public var anomalies = 0
    /// Why the input could not be read, or not to its end (missing, permission, bad gzip);
    /// what was read before is analysed.
    public var failure: String? = nil
    /// Bytes consumed (compressed bytes for gzip).
    public var bytes = 0
    public var compressed = false

    public init(name: String) { self.name = name }
}

/// What an analysis found, across its inputs.
public struct AnalysisSummary: Sendable, Hashable {
    public var inputs: [InputSummary] = []
    /// The model used (its directory), or nil for rules and online baselines.
    public var model: String?
    public var anomaliesByDetector: [DetectorKind: Int] = [:]
    public var anomaliesBySeverity: [Severity: Int] = [:]
    /// Events further behind the latest event time than the allowed lateness.
    public var lateEvents = 0
    /// Wall-clock time the analysis took.
    public var duration: Duration = .zero

    public init(model: String?) { self.model = model }

    public var records: Int { inputs.reduce(0) { $0 + $1.records } }
    public var events: Int { inputs.reduce(0) { $0 + $1.events } }
    public var errorCount: Int { inputs.reduce(0) { $0 + $1.errorCount } }
    public var anomalies: Int { anomaliesByDetector.values.reduce(0, +) }
    /// The kept unreadable records of every input, in input order.
    public var errors: [InputRecordError] {
        inputs.flatMap { input in input.errors.map { InputRecordError(input: input.name, error: $0) } }
    }
    /// Inputs that could not be read, or not to their end.
    public var failures: [(input: String, reason: String)] {
        inputs.compactMap { input in input.failure.map { (input.name, $0) } }
    }

    public var milliseconds: Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}

// MARK: - Rendering

extension AnalysisSummary {
    /// The closing summary as text: one line per input, the anomaly counts, late events, and
    /// the first unreadable records.
    public var text: String {
        var lines: [String] = []
        let modelText = model.map { ", model \($0)" } ?? ", no model (rules and online baselines)"
        for input in inputs {
            var line = "\(input.name): \(input.records) records, \(input.events) events, \(input.errorCount) unreadable"
            if inputs.count == 1 { line += modelText }
            if let failure = input.failure { line += " — NOT READ TO THE END: \(failure)" }
            lines.append(line)
        }
        if inputs.count != 1 {
            lines.append(
                "total: \(inputs.count) inputs, \(records) records, \(events) events, \(errorCount) unreadable\(modelText)"
            )
        }
        let total = anomalies
        lines.append(
            "anomalies: \(total)"
                + (total == 0
                    ? ""
                    : " — "
                        + anomaliesByDetector.sorted { $0.key < $1.key }
                        .map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")))
        if lateEvents > 0 { lines.append("late events (beyond the allowed lateness): \(lateEvents)") }
        let kept = inputs.flatMap { input in input.errors.map { (input, $0) } }
        for (input, error) in kept.prefix(20) {
            lines.append(inputs.count == 1 ? "unreadable \(error)" : "unreadable \(input.name) \(error)")
        }
        if errorCount > min(20, kept.count) {
            lines.append("… and \(errorCount - min(20, kept.count)) more unreadable records")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary as a JSON object (`vigil analyze --format json`, batch reports).
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if inputs.count == 1, let input = inputs.first {
            writer.field("file", input.name)
        }
        writer.field("model", model)
        writer.field("records", records)
        writer.field("events", events)
        writer.field("unreadable", errorCount)
        writer.field("late_events", lateEvents)
        writer.counts("anomalies_by_detector", anomaliesByDetector)
        writer.counts("anomalies_by_severity", anomaliesBySeverity)
        writer.field("duration_ms", (milliseconds * 1000).rounded() / 1000)
        writer.key("errors")
        writer.beginArray()
        for input in inputs {
            for error in input.errors {
                writer.beginObject()
                if inputs.count != 1 { writer.field("input", input.name) }
                writer.field("record", error.index)
                writer.field("line", error.line)
                writer.field("reason", error.reason)
                writer.endObject()
            }
        }
        writer.endArray()
        writer.key("inputs")
        writer.beginArray()
        for input in inputs {
            writer.beginObject()
            writer.field("name", input.name)
            writer.field("records", input.records)
            writer.field("events", input.events)
            writer.field("unreadable", input.errorCount)
            writer.field("anomalies", input.anomalies)
            writer.field("bytes", input.bytes)
            writer.key("compressed")
            writer.bool(input.compressed)
            writer.field("failure", input.failure)
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
    }
}
