import Synchronization

/// Lets producers wait for librdkafka's local queue to drain instead of failing with
/// `_QUEUE_FULL`. The poll thread opens the gate each time it serves delivery reports.
///
/// A generation counter avoids lost wake-ups: a waiter that saw the queue full at generation
/// `g` returns at once if reports were served since.
final class CapacityGate: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }
    private let state = Mutex(State())

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Waits until the generation moves past `seen` (or the gate is closed).
    func wait(after seen: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.closed || state.generation != seen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Wakes every waiter.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Wakes every waiter now and later ones immediately.
    func close() {
        state.withLock { $0.closed = true }
        open()
    }
}
