import Foundation
import Metrics

/// What finally happened to an alert at one sink.
public enum AlertDelivery: Sendable, Equatable {
    case delivered(attempts: Int)
    /// Refused for good, or not delivered before the give-up deadline: dead-letter it.
    case gaveUp(reason: String, attempts: Int)
}

/// Runs one sink: a bounded queue in front of it, batches of up to ``AlertSink/maxBatch``
/// (waiting ``DeliveryPolicy/linger`` to fill), retries with exponential backoff and jitter
/// (never sooner than a receiver's `Retry-After`), and a give-up deadline per alert. Every
/// alert submitted ends in exactly one ``AlertDelivery``, handed to its completion.
///
/// Metrics, by sink: `vigil_alerts_sent_total`, `vigil_alerts_retried_total`,
/// `vigil_alerts_failed_total` (given up), `vigil_alert_queue_depth`.
public actor SinkRunner {
    public nonisolated let sink: any AlertSink
    public nonisolated let policy: DeliveryPolicy

    private struct Pending {
        var alert: Alert
        var completion: @Sendable (AlertDelivery) -> Void
        var attempts = 0
        var firstAttempt: ContinuousClock.Instant?
        var due: ContinuousClock.Instant
        var enqueued: ContinuousClock.Instant
    }

    private var pending: [Pending] = []
    private var inFlight = 0
    private var stopped = false
    private let sent: Counter
    private let retried: Counter
    private let failed: Counter
    private let depth: Gauge
    private var random = SystemRandomNumberGenerator()

    public init(sink: any AlertSink, policy: DeliveryPolicy = DeliveryPolicy()) {
        self.sink = sink
        self.policy = policy
        let dimensions = [("sink", sink.name)]
        sent = Counter(label: "vigil_alerts_sent_total", dimensions: dimensions)
        retried = Counter(label: "vigil_alerts_retried_total", dimensions: dimensions)
        failed = Counter(label: "vigil_alerts_failed_total", dimensions: dimensions)
        depth = Gauge(label: "vigil_alert_queue_depth", dimensions: dimensions)
    }

    /// Queues `alert` for delivery; waits while the queue is full. Alerts the sink's filter
    /// does not take complete at once as delivered (there is nothing to deliver).
    public func submit(_ alert: Alert, completion: @escaping @Sendable (AlertDelivery) -> Void) async {
        guard sink.filter.accepts(alert) else {
            completion(.delivered(attempts: 0))
            return
        }
        while pending.count + inFlight >= policy.queueCapacity && !stopped {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let now = ContinuousClock.now
        pending.append(Pending(alert: alert, completion: completion, due: now, enqueued: now))
        depth.record(pending.count + inFlight)
    }

    /// Alerts queued or being sent.
    public var queued: Int { pending.count + inFlight }

    /// Delivers until ``stop()``; run it in a task of its own.
    public func run() async {
        while !stopped {
            let now = ContinuousClock.now
            let ready = pending.indices.filter { pending[$0].due <= now }
            let oldest = ready.map { pending[$0].enqueued }.min()
            let batchFull = ready.count >= sink.maxBatch
            if ready.isEmpty || (!batchFull && oldest.map { now - $0 < policy.linger } == true) {
                let nextDue = pending.map(\.due).min()
                let wake = min(nextDue.map { $0 - now } ?? .milliseconds(50), .milliseconds(50))
                try? await Task.sleep(for: max(.milliseconds(1), wake))
                continue
            }
            let chosen = Array(ready.prefix(sink.maxBatch))
            var batch = chosen.map { pending[$0] }
            for index in chosen.reversed() { pending.remove(at: index) }
            inFlight += batch.count
            let started = ContinuousClock.now
            for index in batch.indices {
                batch[index].attempts += 1
                if batch[index].firstAttempt == nil { batch[index].firstAttempt = started }
            }
            let outcomes = await sink.send(batch.map(\.alert))
            inFlight -= batch.count
            let after = ContinuousClock.now
            // One jitter draw per batch: its retried alerts stay together as a batch.
            let draw = Double.random(in: 0...1, using: &random)
            for (index, item) in batch.enumerated() {
                let outcome =
                    index < outcomes.count ? outcomes[index] : .retry(reason: "no outcome from the sink", after: nil)
                finish(item, outcome, now: after, random: draw)
            }
            depth.record(pending.count + inFlight)
        }
    }

    private func finish(_ item: Pending, _ outcome: SendOutcome, now: ContinuousClock.Instant, random draw: Double) {
        switch outcome {
        case .delivered:
            sent.increment()
            item.completion(.delivered(attempts: item.attempts))
        case .rejected(let reason):
            failed.increment()
            item.completion(.gaveUp(reason: reason, attempts: item.attempts))
        case .retry(let reason, let requested):
            let age = now - (item.firstAttempt ?? now)
            let delay = policy.delay(attempt: item.attempts, requested: requested, random: draw)
            if age + delay > policy.giveUpAfter {
                failed.increment()
                item.completion(
                    .gaveUp(reason: "\(reason) (gave up after \(item.attempts) attempts)", attempts: item.attempts))
                return
            }
            retried.increment()
            var again = item
            again.due = now + delay
            pending.append(again)
        }
    }

    /// Waits until nothing is queued or `timeout` passed; the alerts left.
    public func drain(timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while pending.count + inFlight > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return pending.count + inFlight
    }

    /// Ends ``run()``; alerts still queued get no result (their offsets are not committed).
    public func stop() { stopped = true }
}
