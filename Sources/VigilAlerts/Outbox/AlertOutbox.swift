import Foundation
import Synchronization
import VigilAnalysis
import VigilDetection

/// Alerts waiting for the sinks, kept in a folder so that a crash neither loses nor repeats
/// one: the batch processor and the REST API write their anomalies here, and
/// ``OutboxDelivery`` hands them to the sinks (the stream has Kafka for this: `vigil alert`).
///
/// Layout of the folder:
/// - `<name>.alerts` — a segment: one anomaly JSON per line, written whole (temp, fsync,
///   rename). Segments are delivered in name order, and names start with the time written.
/// - `<name>.staged` — a segment written but not yet released: the batch stages a file part's
///   alerts before it saves its state and releases them after, so a part redone after a crash
///   (its state not saved) replaces its staged alerts instead of adding to them.
/// - `<name>.journal` — what each sink finally did with each alert of the segment
///   (`delivered` or `gave-up`, by alert id), appended as it happens, so a restart sends only
///   what had no result yet. At-least-once: alerts in flight at a crash are sent again (with
///   the same id, so receivers can drop the repeat).
/// - `undelivered.ndjson` — alerts a sink gave up on, one JSON object per line with the sink,
///   the reason and the anomaly (the stream's `security-anomalies.undelivered` topic, on disk).
///
/// Segment and journal are removed once every sink finished every alert of the segment.
public final class AlertOutbox: Sendable {
    public let directory: String
    private let sequence = Atomic<Int>(0)
    private let undeliveredLock = Mutex<Void>(())

    /// Alerts a sink gave up on.
    public var undeliveredPath: String { "\(directory)/undelivered.ndjson" }

    /// Opens (and creates) the outbox folder.
    public init(directory: String) throws(AtomicFile.WriteError) {
        self.directory = directory
        try AtomicFile.makeDirectory(directory)
    }

    // MARK: Writing segments

    /// A new segment, whose name ends with `tag` (letters, digits, `.`, `_`; it says where the
    /// alerts came from). A `staged` one waits for ``release(_:)``.
    public func segment(tag: String, staged: Bool = false) throws(AtomicFile.WriteError) -> OutboxSegmentWriter {
        let millis = Int64(Date().timeIntervalSince1970 * 1000)
        let number = sequence.add(1, ordering: .relaxed).newValue
        let name = String(format: "%013lld-%d-%06d-", millis, getpid(), number) + tag
        let path = "\(directory)/\(name).\(staged ? "staged" : "alerts")"
        return OutboxSegmentWriter(name: name, file: try AtomicFile.Writer(path: path))
    }

    /// Makes a staged segment deliverable.
    public func release(_ name: String) throws(AtomicFile.WriteError) {
        let from = path(name, "staged")
        guard rename(from, path(name, "alerts")) == 0 else {
            throw AtomicFile.WriteError.system(from)
        }
        AtomicFile.syncDirectory(directory)
    }

    /// Drops a staged segment (its alerts will be written again).
    public func discardStaged(_ name: String) { unlink(path(name, "staged")) }

    /// The staged segments, as (name, tag).
    public func staged() -> [(name: String, tag: String)] {
        names(withExtension: "staged").map { ($0, Self.tag(of: $0)) }
    }

    /// The deliverable segments, oldest first.
    public func released() -> [String] { names(withExtension: "alerts") }

    // MARK: Delivering

    /// Calls `body` with each line of the segment (an anomaly's JSON), reading 1 MiB at a time
    /// so a large segment is never held whole.
    func forEachLine(_ name: String, _ body: ([UInt8]) async throws -> Void) async throws {
        guard let handle = FileHandle(forReadingAtPath: path(name, "alerts")) else {
            throw AtomicFile.WriteError.system(path(name, "alerts"))
        }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            pending.append(contentsOf: chunk)
            var start = 0
            while let newline = pending[start...].firstIndex(of: 0x0A) {
                if newline > start { try await body(Array(pending[start..<newline])) }
                start = newline + 1
            }
            pending.removeSubrange(..<start)
        }
        if !pending.isEmpty { try await body(pending) }
    }

    /// The (sink, alert id) pairs the journal holds a final result for.
    func finished(_ name: String) -> Set<JournalKey> {
        guard let data = FileManager.default.contents(atPath: path(name, "journal")) else { return [] }
        var keys = Set<JournalKey>()
        for line in data.split(separator: 0x0A) {
            // `<result>\t<sink>\t<id>`; a torn last line (crash mid-write) is ignored.
            let fields = line.split(separator: 0x09, omittingEmptySubsequences: false)
            guard fields.count == 3, let sink = String(bytes: fields[1], encoding: .utf8),
                let id = String(bytes: fields[2], encoding: .utf8)
            else { continue }
            keys.insert(JournalKey(sink: sink, id: id))
        }
        return keys
    }

    func journal(_ name: String) throws(AtomicFile.WriteError) -> OutboxJournal {
        try OutboxJournal(path: path(name, "journal"))
    }

    /// Appends an alert a sink gave up on to ``undeliveredPath`` (synced before it returns: the
    /// journal records the give-up only after).
    func recordUndelivered(_ alert: Alert, sink: String, reason: String, attempts: Int) throws(AtomicFile.WriteError) {
        try appendUndelivered(sink: sink, reason: reason) { w in
            w.field("attempts", attempts)
            w.key("anomaly")
            w.raw(alert.json)
        }
    }

    /// Appends one line `{"sink", "reason", "failed_at", …}` to ``undeliveredPath`` and syncs it.
    func appendUndelivered(
        sink: String, reason: String, _ fields: (inout JSONWriter) -> Void
    ) throws(AtomicFile.WriteError) {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.field("sink", sink)
        w.field("reason", String(reason.prefix(1_000)))
        w.field("failed_at", UTC.format(Int64(Date().timeIntervalSince1970 * 1000)))
        fields(&w)
        w.endObject()
        let line = w.bytes + [0x0A]
        try undeliveredLock.withLock { _ throws(AtomicFile.WriteError) in
            let descriptor = open(undeliveredPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw AtomicFile.WriteError.system(undeliveredPath)
            }
            defer { close(descriptor) }
            let written = line.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard written == line.count, fsync(descriptor) == 0 else {
                throw AtomicFile.WriteError.system(undeliveredPath)
            }
        }
    }

    /// Removes a finished segment: the segment first, so a crash in between leaves only a
    /// journal, which nothing reads.
    func remove(_ name: String) {
        unlink(path(name, "alerts"))
        unlink(path(name, "journal"))
        AtomicFile.syncDirectory(directory)
    }

    /// Journals left without their segment (a crash between the two removals).
    func removeOrphanJournals() {
        let segments = Set(released() + staged().map(\.name))
        for name in names(withExtension: "journal") where !segments.contains(name) {
            unlink(path(name, "journal"))
        }
    }

    // MARK: Names

    private func path(_ name: String, _ ext: String) -> String { "\(directory)/\(name).\(ext)" }

    private func names(withExtension ext: String) -> [String] {
        let suffix = ".\(ext)"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { $0.hasSuffix(suffix) }.map { String($0.dropLast(suffix.count)) }.sorted()
    }

    /// The tag of a segment name: what follows the time, process and sequence number.
    static func tag(of name: String) -> String {
        let parts = name.split(separator: "-", maxSplits: 3, omittingEmptySubsequences: false)
        return parts.count == 4 ? String(parts[3]) : ""
    }
}

/// A sink's final result for one alert, as the journal keys it.
struct JournalKey: Hashable, Sendable {
    var sink: String
    var id: String
}

/// Writes one segment of an ``AlertOutbox``; nothing is visible until ``commit()``.
public final class OutboxSegmentWriter {
    /// The segment's name (for ``AlertOutbox/release(_:)``).
    public let name: String
    private let file: AtomicFile.Writer
    /// Alerts added.
    public private(set) var count = 0

    init(name: String, file: AtomicFile.Writer) {
        self.name = name
        self.file = file
    }

    /// Adds an anomaly.
    public func add(_ anomaly: Anomaly) { add(json: AnomalyJSON.encode(anomaly)) }

    /// Adds an anomaly's JSON (one line: Vigil's JSON has no raw newlines).
    public func add(json: [UInt8]) {
        file.append(json)
        file.append(CollectionOfOne(0x0A))
        count += 1
    }

    /// Puts the segment in place (synced).
    public func commit() throws(AtomicFile.WriteError) { try file.commit() }

    /// Drops the segment.
    public func discard() { file.discard() }
}

/// A segment's journal: lines `<result>\t<sink>\t<id>` appended with `write(2)` as results
/// come (a killed process loses none: they are in the kernel), synced to the disk by
/// ``sync()`` — the delivery calls it a few times a second, so a power cut repeats at most
/// the alerts finished since.
final class OutboxJournal: Sendable {
    private let descriptor: Mutex<Int32>

    init(path: String) throws(AtomicFile.WriteError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFile.WriteError.system(path) }
        descriptor = Mutex(fd)
    }

    deinit { descriptor.withLock { _ = close($0) } }

    func append(result: String, sink: String, id: String) {
        let line = Array("\(result)\t\(sink)\t\(id)\n".utf8)
        descriptor.withLock { fd in
            // One write per line (O_APPEND): lines from several sinks never interleave.
            _ = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
    }

    func sync() { descriptor.withLock { _ = fdatasync($0) } }
}
