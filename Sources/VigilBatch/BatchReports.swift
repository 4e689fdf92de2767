import Foundation
import VigilAnalysis
import VigilDetection

/// What happened to a file in a run.
public enum FileStatus: String, Sendable, Codable {
    /// Not seen before: read from the start.
    case new
    /// Read before and longer now: read from where it stopped.
    case grown
    /// Nothing new.
    case unchanged
    /// Content read before, found under another name (or compressed): read on from where it stopped.
    case rotated
    /// Shorter than what was read before: read from the start.
    case truncated
    /// Same file, different content: read from the start.
    case rewritten
    /// Could not be read at all (the reason is in the outcome).
    case failed
}

/// A path in the log folder that could not be looked at.
public struct FileProblem: Sendable, Equatable {
    public var path: String
    public var reason: String
}

/// One file's part of a run.
public struct FileOutcome: Sendable {
    public var path: String
    public var status: FileStatus
    public var id: String?
    /// The part read: content bytes [fromOffset, toOffset).
    public var fromOffset: Int64 = 0
    public var toOffset: Int64 = 0
    public var records = 0
    public var events = 0
    public var anomalies = 0
    public var errorCount = 0
    /// The first record errors (index and line within the whole file).
    public var errors: [RecordError] = []
    public var anomaliesByDetector: [DetectorKind: Int] = [:]
    public var anomaliesBySeverity: [Severity: Int] = [:]
    /// Why the file could not be read (to its end); what was read is analysed.
    public var failure: String?
    /// Things worth knowing that are not failures (a held-back last line, state not restored).
    public var notes: [String] = []
    /// The report, relative to the output folder (nil when nothing was read).
    public var report: String?
    /// The run was stopped while reading this file.
    public var stopped = false

    public init(path: String, status: FileStatus) {
        self.path = path
        self.status = status
    }

    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("path", path)
        w.field("status", status.rawValue)
        w.field("id", id)
        w.field("from_offset", fromOffset)
        w.field("to_offset", toOffset)
        w.field("records", records)
        w.field("events", events)
        w.field("anomalies", anomalies)
        w.field("unreadable", errorCount)
        w.counts("anomalies_by_severity", anomaliesBySeverity)
        w.counts("anomalies_by_detector", anomaliesByDetector)
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
        w.field("failure", failure)
        w.key("notes")
        w.beginArray()
        for note in notes { w.string(note) }
        w.endArray()
        w.field("report", report)
        w.endObject()
    }
}

/// A run: what was read, what was found, what went wrong. Written as `summary.json` and
/// `report.html` in `runs/<run id>/`.
public struct BatchRunSummary: Sendable {
    public var runID: String
    public var started: Date
    public var model: String?
    public var files: [FileOutcome] = []
    public var problems: [FileProblem] = []
    public var duration: Duration = .zero
    /// The run was stopped (a signal) before every file was read.
    public var stopped = false
    /// The anomalies for the HTML report (at most the configured number).
    public var anomalyRows: [AnomalyRow] = []
    public var anomalyRowsOmitted = 0

    init(runID: String, started: Date, model: String?) {
        self.runID = runID
        self.started = started
        self.model = model
    }

    mutating func add(_ outcome: FileOutcome) { files.append(outcome) }

    public var events: Int { files.reduce(0) { $0 + $1.events } }
    public var records: Int { files.reduce(0) { $0 + $1.records } }
    public var anomalies: Int { files.reduce(0) { $0 + $1.anomalies } }
    public var unreadableRecords: Int { files.reduce(0) { $0 + $1.errorCount } }
    /// Files and folders that could not be read (to their end).
    public var errors: [FileProblem] {
        problems + files.compactMap { file in file.failure.map { FileProblem(path: file.path, reason: $0) } }
    }
    public var anomaliesBySeverity: [Severity: Int] {
        files.reduce(into: [:]) { total, file in total.merge(file.anomaliesBySeverity, uniquingKeysWith: +) }
    }
    public var anomaliesByDetector: [DetectorKind: Int] {
        files.reduce(into: [:]) { total, file in total.merge(file.anomaliesByDetector, uniquingKeysWith: +) }
    }

    /// The run summary as JSON.
    public var json: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("run_id", runID)
        w.field("started", Self.timestamp(started))
        w.field(
            "duration_ms", Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)
        w.field("model", model)
        w.key("stopped")
        w.bool(stopped)
        w.key("files")
        w.beginObject()
        w.field("total", files.count)
        for status in [FileStatus.new, .grown, .rotated, .truncated, .rewritten, .unchanged, .failed] {
            w.field(status.rawValue, files.filter { $0.status == status }.count)
        }
        w.endObject()
        w.field("records", records)
        w.field("events", events)
        w.field("unreadable_records", unreadableRecords)
        w.field("anomalies", anomalies)
        w.counts("anomalies_by_severity", anomaliesBySeverity)
        w.counts("anomalies_by_detector", anomaliesByDetector)
        w.key("errors")
        w.beginArray()
        for error in errors {
            w.beginObject()
            w.field("path", error.path)
            w.field("reason", error.reason)
            w.endObject()
        }
        w.endArray()
        w.key("inputs")
        w.beginArray()
        for file in files { file.write(to: &w) }
        w.endArray()
        w.endObject()
        return w.bytes + [0x0A]
    }

    /// Writes `summary.json` and `report.html` into `directory` (created).
    func write(to directory: String) throws(BatchError) {
        do {
            try AtomicFile.makeDirectory(directory)
            try AtomicFile.write(Array(HTMLReport(self).html.utf8), to: "\(directory)/report.html")
            try AtomicFile.write(json, to: "\(directory)/summary.json")
        } catch {
            throw BatchError("\(error)")
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// `20261201T193000Z`: sorts by time, safe in file names.
    static func compactTimestamp(_ date: Date) -> String {
        timestamp(date).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }
}

/// An anomaly as the HTML report lists it.
public struct AnomalyRow: Sendable {
    public var id: String
    public var time: Int64
    public var severity: Severity
    public var detector: DetectorKind
    public var entity: String
    public var summary: String
    public var technique: String?
    public var file: String
}

/// The anomalies kept for the HTML report: the first `limit`, the rest counted.
struct ReportRows {
    let limit: Int
    var rows: [AnomalyRow] = []
    var omitted = 0

    init(limit: Int) { self.limit = max(0, limit) }

    mutating func add(_ anomaly: Anomaly, file: String) {
        guard rows.count < limit else {
            omitted += 1
            return
        }
        rows.append(
            AnomalyRow(
                id: anomaly.id, time: anomaly.eventTime, severity: anomaly.severity, detector: anomaly.detector,
                entity: "\(anomaly.entity.kind.rawValue) \(anomaly.entity.value)", summary: anomaly.summary,
                technique: anomaly.mitre?.techniqueID,
                file: file))
    }
}

/// One file part's report: its anomalies as they are found, written to a temporary file that
/// becomes the report (fsync, rename) once the part's summary is known.
final class ReportWriter {
    let path: String
    private let file: AtomicFile.Writer
    private var count = 0
    private(set) var byDetector: [DetectorKind: Int] = [:]
    private(set) var bySeverity: [Severity: Int] = [:]

    init(path: String) throws(BatchError) {
        self.path = path
        do { file = try AtomicFile.Writer(path: path) } catch { throw BatchError("\(error)") }
        file.append("{\"anomalies\":[".utf8)
    }

    func add(_ anomaly: Anomaly) {
        file.append(count > 0 ? [UInt8(ascii: ","), 0x0A] : [0x0A])
        file.append(AnomalyJSON.encode(anomaly))
        count += 1
        byDetector[anomaly.detector, default: 0] += 1
        bySeverity[anomaly.severity, default: 0] += 1
    }

    /// Closes the anomaly list with the part's summary and puts the report in place.
    func finish(summary: FileOutcome, model: String?) throws(BatchError) {
        var w = JSONWriter()
        summary.write(to: &w)
        file.append("\n],\"summary\":".utf8)
        file.append(w.bytes)
        file.append(",\"model\":".utf8)
        var m = JSONWriter()
        if let model { m.string(model) } else { m.null() }
        file.append(m.bytes)
        file.append("}\n".utf8)
        do { try file.commit() } catch { throw BatchError("\(error)") }
    }

    /// Drops the report (nothing was read).
    func discard() { file.discard() }
}
