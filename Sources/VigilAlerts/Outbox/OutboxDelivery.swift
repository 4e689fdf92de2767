import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// What an ``OutboxDelivery`` did.
public struct OutboxTotals: Sendable, Equatable {
    /// Alerts a sink accepted (one per alert and sink).
    public var delivered = 0
    /// Alerts a sink gave up on (in `undelivered.ndjson`).
    public var gaveUp = 0
    /// Segments finished and removed.
    public var segments = 0
    /// Lines of a segment that were not an anomaly (put in `undelivered.ndjson` as sink `outbox`).
    public var unreadable = 0

    public init() {}
}

/// Hands an ``AlertOutbox``'s segments to the sinks — the same ``SinkRunner``s, queues, retries
/// and give-up deadline as `vigil alert` — writing each sink's final result per alert to the
/// segment's journal, and removing a segment once every sink finished every alert in it.
///
/// As a `Service` it keeps delivering what is released until a graceful shutdown, which waits
/// for sends in progress (up to ``shutdownTimeout``); alerts left are sent after a restart.
/// ``deliverAll()`` delivers what is there and returns (`vigil batch --once`).
public final class OutboxDelivery: Service, Sendable {
    public let outbox: AlertOutbox
    let runners: [SinkRunner]
    let logger: Logger
    /// How often a running delivery looks for new segments.
    public let pollInterval: Duration
    public let shutdownTimeout: Duration
    private let totals = Mutex(OutboxTotals())
    private let stopRequested = Atomic<Bool>(false)
    private let undelivered = Counter(label: "vigil_alerts_undelivered_total")

    public init(
        outbox: AlertOutbox, sinks: [any AlertSink], policy: DeliveryPolicy = DeliveryPolicy(), logger: Logger,
        pollInterval: Duration = .milliseconds(500), shutdownTimeout: Duration = .seconds(20)
    ) {
        self.outbox = outbox
        runners = sinks.map { SinkRunner(sink: $0, policy: policy) }
        self.logger = logger
        self.pollInterval = pollInterval
        self.shutdownTimeout = shutdownTimeout
    }

    /// What was done so far.
    public var done: OutboxTotals { totals.withLock { $0 } }

    /// Delivers until a graceful shutdown (or cancellation).
    public func run() async throws { await deliverUntilStopped() }

    /// Delivers until ``stop()``, a graceful shutdown or cancellation.
    public func deliverUntilStopped() async { await deliver(untilEmpty: false) }

    /// Delivers every segment released now or while it runs, and returns when none is left;
    /// the totals.
    public func deliverAll() async -> OutboxTotals {
        await deliver(untilEmpty: true)
        return done
    }

    /// Ends ``run()`` or ``deliverAll()`` as a graceful shutdown does: sends in progress get up
    /// to ``shutdownTimeout`` to finish, the rest stays in the outbox.
    public func stop() { stopRequested.store(true, ordering: .releasing) }

    private var stopping: Bool {
        stopRequested.load(ordering: .acquiring) || Task.isShuttingDownGracefully || Task.isCancelled
    }

    private func deliver(untilEmpty: Bool) async {
        outbox.removeOrphanJournals()
        await withDiscardingTaskGroup { group in
            for runner in runners { group.addTask { await runner.run() } }
            while !stopping {
                let names = outbox.released()
                if names.isEmpty {
                    if untilEmpty { break }
                    try? await Task.sleep(for: pollInterval)
                    continue
                }
                for name in names {
                    await deliver(segment: name)
                    if stopping { break }
                }
            }
            for runner in runners { await runner.stop() }
        }
    }

    /// Submits every alert of one segment that a sink has no result for yet, waits for the
    /// results (journalled as they come), and removes the segment when all are in.
    private func deliver(segment name: String) async {
        let finished = outbox.finished(name)
        let journal: OutboxJournal
        do { journal = try outbox.journal(name) } catch {
            logger.error("alert outbox: cannot open the journal of \(name): \(error); retrying")
            try? await Task.sleep(for: .seconds(1))
            return
        }
        let outstanding = Outstanding()
        var submittedAll = true
        do {
            try await outbox.forEachLine(name) { line in
                guard !stopping else {
                    submittedAll = false
                    return
                }
                let alert: Alert
                do { alert = try Alert(json: line) } catch {
                    unreadable(line, error: error, segment: name)
                    return
                }
                for runner in runners where !finished.contains(JournalKey(sink: runner.sink.name, id: alert.id)) {
                    outstanding.add()
                    let sink = runner.sink.name
                    await runner.submit(alert) { [self] result in
                        record(result, alert: alert, sink: sink, journal: journal)
                        outstanding.remove()
                    }
                }
            }
        } catch {
            logger.error("alert outbox: cannot read \(name): \(error)")
            submittedAll = false
        }
        var deadline: ContinuousClock.Instant?
        while outstanding.count > 0 {
            if stopping {
                let end = deadline ?? ContinuousClock.now + shutdownTimeout
                deadline = end
                if ContinuousClock.now >= end || Task.isCancelled { break }
            }
            try? await Task.sleep(for: .milliseconds(100))
            journal.sync()
        }
        journal.sync()
        let left = outstanding.count
        if left == 0 && submittedAll {
            outbox.remove(name)
            totals.withLock { $0.segments += 1 }
        } else if left > 0 {
            logger.warning("alert outbox: \(left) deliveries of \(name) unfinished at shutdown; sent after a restart")
        }
    }

    private func record(_ result: AlertDelivery, alert: Alert, sink: String, journal: OutboxJournal) {
        switch result {
        case .delivered(let attempts):
            // Attempts 0: the sink's filter does not take it; nothing to remember.
            guard attempts > 0 else { return }
            journal.append(result: "delivered", sink: sink, id: alert.id)
            totals.withLock { $0.delivered += 1 }
        case .gaveUp(let reason, let attempts):
            logger.warning("alert \(alert.id): \(sink) gave up: \(reason)")
            do { try outbox.recordUndelivered(alert, sink: sink, reason: reason, attempts: attempts) } catch {
                // Not journalled: it is tried again after a restart rather than lost.
                logger.error("alert \(alert.id): cannot write \(outbox.undeliveredPath): \(error)")
                return
            }
            undelivered.increment()
            journal.append(result: "gave-up", sink: sink, id: alert.id)
            totals.withLock { $0.gaveUp += 1 }
        }
    }

    /// A segment line that is not an anomaly (the outbox is ours, so: a damaged file) goes to
    /// the undelivered file as text, so it is neither retried forever nor dropped unseen.
    private func unreadable(_ line: [UInt8], error: any Error, segment: String) {
        logger.warning("alert outbox: a line of \(segment) is not an anomaly (\(error)); moved to undelivered")
        do {
            try outbox.appendUndelivered(sink: "outbox", reason: "\(error)") { w in
                w.field("line", String(decoding: line.prefix(10_000), as: UTF8.self))
            }
        } catch {
            logger.error("alert outbox: cannot write \(outbox.undeliveredPath): \(error)")
        }
        totals.withLock { $0.unreadable += 1 }
    }
}

/// Results still to come for one segment.
private final class Outstanding: Sendable {
    private let value = Atomic<Int>(0)
    var count: Int { value.load(ordering: .acquiring) }
    func add() { value.add(1, ordering: .relaxed) }
    func remove() { value.subtract(1, ordering: .releasing) }
}
