import Crypto
import Foundation
import VigilAlerts
import VigilAnalysis
import VigilDetection

/// How far a run has got, for a progress bar.
public struct BatchProgress: Sendable {
    public var filesDone: Int
    public var filesTotal: Int
    /// File bytes read (compressed bytes for gzip) against the files' sizes.
    public var bytesDone: Int64
    public var bytesTotal: Int64
    public var events: Int
    public var elapsed: Duration
    /// The file being read.
    public var current: String?
}

/// Analyses a log folder once: every file's content not analysed before, each with its own
/// detector state carried from run to run.
///
/// **Exactly once per content.** `state.json` records per content its file identity (device,
/// inode), how far it was read (a record boundary) and a SHA-256 of that prefix. A file whose
/// prefix still hashes the same continues from there with the detector snapshot it had (an
/// attack spanning the boundary is found); one that is shorter or hashes differently was
/// truncated or rewritten and starts over. A file not seen before whose prefix hashes like
/// the content of a vanished or truncated one is that content rotated (`auth.log` →
/// `auth.log.1`, compressed to `auth.log.2.gz`, or copied by logrotate's copytruncate), and
/// continues it; a new file where a rotated one was starts from its predecessor's state.
///
/// **Crash safety.** Per file: the report is written (temp, fsync, rename), then the detector
/// snapshot under a name of its own offset, then `state.json`. A crash before the state is
/// written redoes that file's part, rewriting the same report name — nothing is reported
/// twice and nothing is lost.
///
/// **Alerts.** With an ``AlertOutbox``, a part's anomalies are staged in it before the state
/// is written and released after: a part redone after a crash replaces its staged alerts
/// (none reached a sink), and released alerts belong to a saved state, so they are never
/// written twice. ``OutboxDelivery`` sends them.
public struct BatchProcessor: Sendable {
    public let configuration: BatchConfiguration
    /// The engine's model, configuration and limits (each file gets a session of its own).
    public let analyzer: Analyzer
    /// Where anomalies go for the alert sinks; none: reports only.
    public let outbox: AlertOutbox?

    public init(configuration: BatchConfiguration, analyzer: Analyzer, outbox: AlertOutbox? = nil) {
        self.configuration = configuration
        self.analyzer = analyzer
        self.outbox = outbox
    }

    var statePath: String { "\(configuration.outputDirectory)/state.json" }
    var snapshotDirectory: String { "\(configuration.outputDirectory)/state" }
    var reportDirectory: String { "\(configuration.outputDirectory)/reports" }
    var runDirectory: String { "\(configuration.outputDirectory)/runs" }

    /// Runs once. `stop` is asked between chunks: once true, the file in hand is finished at
    /// the record reached (its state saved) and the run ends there. Throws only for what
    /// stops the run as a whole (state file unreadable, output folder not writable); files
    /// that cannot be read are in the summary.
    public func run(
        now: Date = Date(), stop: () -> Bool = { false }, progress: (BatchProgress) -> Void = { _ in }
    ) throws(BatchError) -> BatchRunSummary {
        let started = ContinuousClock.now
        for directory in [configuration.outputDirectory, snapshotDirectory, reportDirectory, runDirectory] {
            do { try AtomicFile.makeDirectory(directory) } catch { throw BatchError("\(error)") }
        }
        var state = try BatchState.load(statePath)
        settleStagedAlerts(state)
        let folder = LogFolder(
            root: configuration.logDirectory, include: configuration.include, exclude: configuration.exclude,
            skip: configuration.outputDirectory)
        let (found, problems) = try folder.scan()
        var summary = BatchRunSummary(runID: Self.runID(now, in: runDirectory), started: now, model: analyzer.modelName)
        summary.problems = problems.map { FileProblem(path: $0.path, reason: $0.reason) }

        let (plan, detached) = Planner(state: state, found: found).plan()
        for id in detached { Planner.detach(id, in: &state) }
        let total = plan.reduce(Int64(0)) { $0 + $1.file.size }
        var tracker = ProgressTracker(total: plan.count, bytesTotal: total, started: started)
        var rows = ReportRows(limit: configuration.maxReportRows)
        for step in plan {
            if stop() {
                summary.stopped = true
                break
            }
            var outcome: FileOutcome
            switch step.action {
            case .unchanged:
                outcome = FileOutcome(path: step.file.path, status: .unchanged)
                outcome.fromOffset = step.entry?.offset ?? 0
                outcome.toOffset = outcome.fromOffset
            case .read(let status, let resume, let inherit):
                let inherited = inherit.flatMap { id in state.files.first { $0.id == id } }
                var staged: String?
                outcome = process(
                    step.file, status: status, resume: resume, inherit: inherited, state: &state, rows: &rows,
                    staged: &staged, stop: stop
                ) { bytes, events in
                    progress(tracker.update(fileBytes: bytes, events: events, current: step.file.path))
                }
                if outcome.status != .failed {
                    Planner.prune(&state)
                    try state.save(statePath)
                    removeStaleSnapshots(state)
                    if let staged { release(staged, outcome: &outcome) }
                }
            }
            summary.add(outcome)
            if outcome.stopped { summary.stopped = true }
            progress(tracker.finish(file: step.file, events: outcome.events))
            if summary.stopped { break }
        }
        summary.anomalyRows = rows.rows
        summary.anomalyRowsOmitted = rows.omitted
        summary.duration = ContinuousClock.now - started
        try summary.write(to: "\(runDirectory)/\(summary.runID)")
        return summary
    }

    // MARK: One file

    /// Reads one file's new content: verifies the prefix when continuing, analyses the rest,
    /// writes the report, the snapshot and the state entry (in that order).
    private func process(
        _ file: FoundFile, status: FileStatus, resume: TrackedFile?, inherit: TrackedFile?,
        state: inout BatchState, rows: inout ReportRows, staged: inout String?, stop: () -> Bool,
        progress: (Int64, Int) -> Void
    ) -> FileOutcome {
        var outcome = FileOutcome(path: file.path, status: status)
        var status = status
        var resume = resume
        // A continuation whose prefix no longer hashes the same starts over (as new content
        // at this path, from the state of the content it replaced).
        var reader: ContentReader
        var hasher = SHA256()
        var startedOver = false
        do {
            reader = try ContentReader(path: file.fullPath)
            if let entry = resume {
                let verified = try verify(&reader, &hasher, entry)
                if !verified {
                    status = reader.position < entry.offset ? .truncated : .rewritten
                    // The content read before is no longer in this file.
                    Planner.detach(entry.id, in: &state)
                    resume = nil
                    startedOver = true
                    reader = try ContentReader(path: file.fullPath)
                    hasher = SHA256()
                }
            }
        } catch {
            outcome.status = .failed
            outcome.failure = error.reason
            return outcome
        }
        outcome.status = status
        var entry =
            resume
            ?? TrackedFile(
                id: Self.newID(file), path: file.path, device: file.device, inode: file.inode, size: 0, offset: 0,
                prefixSHA256: "", records: 0, lines: 0, origin: Self.origin(file, inheriting: inherit),
                compressed: reader.isCompressed, modified: 0, complete: false, snapshotOffset: nil, updated: "")
        outcome.id = entry.id
        outcome.fromOffset = entry.offset

        var session = analyzer.session()
        // Content that changed under its name starts empty; a successor at a path starts
        // from its predecessor's state.
        let snapshotSource = resume ?? (startedOver ? nil : inherit)
        if let source = snapshotSource, let bytes = loadSnapshot(source) {
            do { try session.restore(bytes) } catch {
                outcome.notes.append("detector state of \(source.path) not restored (\(error)); starting empty")
            }
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var options = ParseOptions(
            referenceTime: file.modified, latestTime: now.addingSaturated(analyzer.limits.maxFutureSkewMs),
            origin: StableHash.hash(entry.origin))
        options.firstIndex = entry.records
        var parser = InputParser(options: options, maxRecordBytes: analyzer.limits.maxRecordBytes)
        var parsed = ParsedInput()
        var input = InputSummary(name: file.path)
        input.compressed = reader.isCompressed

        let reportName = Self.reportName(entry: entry, from: entry.offset)
        let report: ReportWriter
        let alerts: OutboxSegmentWriter?
        do {
            report = try ReportWriter(path: "\(reportDirectory)/\(reportName)")
        } catch {
            outcome.status = .failed
            outcome.failure = "cannot write the report: \(error)"
            return outcome
        }
        do { alerts = try outbox?.segment(tag: Self.alertTag(entry.id, from: entry.offset), staged: true) } catch {
            outcome.status = .failed
            outcome.failure = "cannot write to the alert outbox: \(error)"
            return outcome
        }
        var fed: Int64 = entry.offset
        var lines = entry.lines
        var pending: [UInt8] = []
        let settled = now - file.modified >= Int64(configuration.settleSeconds) * 1000
        let lineBase = entry.lines
        let indexBase = entry.records
        func feed(_ bytes: ArraySlice<UInt8>, final: Bool) {
            hasher.update(data: bytes)
            fed += Int64(bytes.count)
            lines += bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            parsed.removeAll()
            bytes.withUnsafeBufferPointer { parser.feed($0, final: final, into: &parsed) }
            for index in parsed.errors.indices {
                parsed.errors[index].index += indexBase
                parsed.errors[index].line = parsed.errors[index].line.map { $0 + lineBase }
            }
            session.analyze(
                &parsed, into: &input,
                emit: { anomaly in
                    report.add(anomaly)
                    alerts?.add(anomaly)
                    rows.add(anomaly, file: file.path)
                })
        }
        do {
            while let chunk = try reader.next() {
                pending.append(contentsOf: chunk)
                // Only whole lines are fed, so the part ends at a record boundary; a long
                // run without a newline (a JSON array on one line) is fed as it comes.
                if let newline = pending.lastIndex(of: 0x0A) {
                    feed(pending[...newline], final: false)
                    pending.removeSubrange(...newline)
                } else if pending.count >= reader.chunkBytes {
                    feed(pending[...], final: false)
                    pending.removeAll(keepingCapacity: true)
                }
                progress(reader.fileBytesRead, input.events)
                if stop() {
                    outcome.stopped = true
                    outcome.notes.append("stopped at byte \(fed); the rest is read by the next run")
                    break
                }
            }
            // A last line without its newline may still be being written: left for the next
            // run unless the file has settled (or is compressed, so complete).
            if !pending.isEmpty, !outcome.stopped, reader.isCompressed || settled {
                feed(pending[...], final: false)
                pending.removeAll()
            }
        } catch {
            input.failure = error.reason
            outcome.failure = error.reason
        }
        feed([], final: true)
        if !pending.isEmpty {
            outcome.notes.append("a last line without a newline (\(pending.count) bytes) is left for the next run")
        }
        input.bytes = Int(clamping: reader.fileBytesRead)

        outcome.toOffset = fed
        outcome.records = input.records
        outcome.events = input.events
        outcome.anomalies = input.anomalies
        outcome.errorCount = input.errorCount
        outcome.errors = Array(input.errors.prefix(configuration.maxErrorsPerFile))
        outcome.anomaliesByDetector = report.byDetector
        outcome.anomaliesBySeverity = report.bySeverity
        if let failure = outcome.failure, fed == entry.offset {
            // Nothing could be read: no report, no state change (tried again next run).
            report.discard()
            outcome.status = .failed
            outcome.failure = failure
            return outcome
        }

        // 1. results
        do { try report.finish(summary: outcome, model: analyzer.modelName) } catch {
            outcome.status = .failed
            outcome.failure = "cannot write the report: \(error)"
            return outcome
        }
        outcome.report = "reports/\(reportName)"
        // 2. detector state, under the offset it belongs to
        let snapshot = session.snapshot()
        do { try AtomicFile.write(snapshot, to: snapshotPath(entry.id, offset: fed)) } catch {
            outcome.status = .failed
            outcome.failure = "cannot write the detector state: \(error)"
            return outcome
        }
        // 3. the alerts, staged until the state is saved
        if let alerts, alerts.count > 0 {
            do { try alerts.commit() } catch {
                outcome.status = .failed
                outcome.failure = "cannot write to the alert outbox: \(error)"
                return outcome
            }
            staged = alerts.name
        }
        // 4. the state entry (saved by the caller, who then releases the alerts)
        entry.path = file.path
        entry.device = file.device
        entry.inode = file.inode
        entry.size = file.size
        entry.offset = fed
        entry.prefixSHA256 = hasher.hex
        entry.records += input.records
        entry.lines = lines
        entry.compressed = reader.isCompressed
        entry.modified = file.modified
        entry.complete = !outcome.stopped
        entry.snapshotOffset = fed
        entry.updated = BatchRunSummary.timestamp(Date())
        if let index = state.files.firstIndex(where: { $0.id == entry.id }) {
            state.files[index] = entry
        } else {
            state.files.append(entry)
        }
        return outcome
    }

    /// Reads and hashes the first `entry.offset` bytes; whether they are the content read before.
    private func verify(
        _ reader: inout ContentReader, _ hasher: inout SHA256, _ entry: TrackedFile
    ) throws(InputError) -> Bool {
        try reader.hashPrefix(to: entry.offset, into: &hasher) && hasher.hex == entry.prefixSHA256
    }

    // MARK: Alerts

    /// Releases a part's staged alerts once its state is saved.
    private func release(_ staged: String, outcome: inout FileOutcome) {
        do { try outbox?.release(staged) } catch {
            // Left staged: the next run releases it (its state is saved).
            outcome.notes.append("alerts not released yet (\(error)); the next run releases them")
        }
    }

    /// Staged alerts left by a crash: released when their part's state was saved (the entry
    /// is past the part's start), dropped when not (the part is read again and stages anew).
    private func settleStagedAlerts(_ state: BatchState) {
        guard let outbox else { return }
        for (name, tag) in outbox.staged() {
            let saved = Self.parseAlertTag(tag).map { id, from in
                state.files.contains { $0.id == id && $0.offset > from }
            }
            if saved == true {
                try? outbox.release(name)
            } else {
                outbox.discardStaged(name)
            }
        }
    }

    /// `batch.<id>.<from offset>`: which part of which content a segment holds.
    static func alertTag(_ id: String, from: Int64) -> String { "batch.\(id).\(from)" }

    static func parseAlertTag(_ tag: String) -> (id: String, from: Int64)? {
        let parts = tag.split(separator: ".")
        guard parts.count == 3, parts[0] == "batch", let from = Int64(parts[2]) else { return nil }
        return (String(parts[1]), from)
    }

    // MARK: Snapshots and names

    func snapshotPath(_ id: String, offset: Int64) -> String { "\(snapshotDirectory)/\(id).\(offset).state" }

    private func loadSnapshot(_ entry: TrackedFile) -> [UInt8]? {
        guard let offset = entry.snapshotOffset else { return nil }
        return FileManager.default.contents(atPath: snapshotPath(entry.id, offset: offset)).map { [UInt8]($0) }
    }

    /// Snapshots the state no longer points at (an older offset, or left by a crash).
    private func removeStaleSnapshots(_ state: BatchState) {
        let keep = Set(state.files.compactMap { entry in entry.snapshotOffset.map { "\(entry.id).\($0).state" } })
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: snapshotDirectory) else { return }
        for name in names where name.hasSuffix(".state") && !keep.contains(name) {
            try? FileManager.default.removeItem(atPath: "\(snapshotDirectory)/\(name)")
        }
    }

    /// `<file name>.<id>.<from offset>.json`: the same part of the same content always gets
    /// the same name, so a part redone after a crash replaces its report.
    static func reportName(entry: TrackedFile, from: Int64) -> String {
        let base = (entry.path as NSString).lastPathComponent.map {
            $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_"
        }
        return "\(String(base)).\(entry.id).\(from).json"
    }

    /// The name a new content's anomaly ids derive from: its file name (as `vigil analyze`
    /// would use), made distinct for a file that succeeds rotated content of the same name.
    static func origin(_ file: FoundFile, inheriting predecessor: TrackedFile?) -> String {
        let name = (file.path as NSString).lastPathComponent
        return predecessor == nil ? name : "\(name)@\(newID(file))"
    }

    static func newID(_ file: FoundFile) -> String {
        let digest = SHA256.hash(data: Array("\(file.path)|\(file.device)|\(file.inode)|\(file.modified)".utf8))
        return digest.prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    static func runID(_ date: Date, in directory: String) -> String {
        let base = BatchRunSummary.compactTimestamp(date)
        var id = base
        var suffix = 1
        while FileManager.default.fileExists(atPath: "\(directory)/\(id)") {
            suffix += 1
            id = "\(base)-\(suffix)"
        }
        return id
    }
}

/// Progress over a run: bytes of finished files plus the file in hand.
struct ProgressTracker {
    let total: Int
    let bytesTotal: Int64
    let started: ContinuousClock.Instant
    var done = 0
    var bytesDone: Int64 = 0
    var events = 0

    init(total: Int, bytesTotal: Int64, started: ContinuousClock.Instant) {
        self.total = total
        self.bytesTotal = bytesTotal
        self.started = started
    }

    func update(fileBytes: Int64, events fileEvents: Int, current: String) -> BatchProgress {
        BatchProgress(
            filesDone: done, filesTotal: total, bytesDone: bytesDone + fileBytes, bytesTotal: bytesTotal,
            events: events + fileEvents, elapsed: .now - started, current: current)
    }

    mutating func finish(file: FoundFile, events fileEvents: Int) -> BatchProgress {
        done += 1
        bytesDone += file.size
        events += fileEvents
        return BatchProgress(
            filesDone: done, filesTotal: total, bytesDone: bytesDone, bytesTotal: bytesTotal, events: events,
            elapsed: .now - started, current: nil)
    }
}
