import Foundation
import Synchronization

/// A dedicated OS thread that runs a poll loop until stopped.
///
/// librdkafka delivers callbacks (delivery reports, rebalances, errors) only from inside its
/// poll calls, and those calls block; a dedicated thread keeps them off Swift's cooperative pool.
final class PollThread: Sendable {
    private let running = Atomic<Bool>(true)
    private let finished = DispatchSemaphore(value: 0)
    /// Milliseconds since boot at the start of the latest poll iteration (liveness).
    private let lastIteration = Atomic<UInt64>(0)

    /// Starts `body` in a loop; `body` returns after one bounded poll.
    init(name: String, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while running.load(ordering: .acquiring) {
                lastIteration.store(PollThread.nowMilliseconds(), ordering: .relaxed)
                body()
            }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Milliseconds since the poll loop last started an iteration.
    var millisecondsSinceLastIteration: UInt64 {
        PollThread.nowMilliseconds() &- lastIteration.load(ordering: .relaxed)
    }

    /// Asks the loop to stop and waits until the current iteration has returned.
    func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }

    static func nowMilliseconds() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds / 1_000_000
    }
}
