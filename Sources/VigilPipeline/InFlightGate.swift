import Synchronization

/// Bounds the records (and bytes) read but not finished. `acquire` waits while the pipeline is
/// at its cap; a batch larger than the cap alone is still admitted when nothing is in flight,
/// so progress never stops.
final class InFlightGate: Sendable {
    private struct State {
        var events = 0
        var bytes = 0
        var waiter: (events: Int, bytes: Int, continuation: CheckedContinuation<Void, Never>)? = nil
        var closed = false
    }
    private let state = Mutex(State())
    let maxEvents: Int
    let maxBytes: Int

    init(maxEvents: Int, maxBytes: Int) {
        self.maxEvents = max(1, maxEvents)
        self.maxBytes = max(1, maxBytes)
    }

    var events: Int { state.withLock { $0.events } }
    var bytes: Int { state.withLock { $0.bytes } }

    private static func fits(_ s: State, events: Int, bytes: Int, maxEvents: Int, maxBytes: Int) -> Bool {
        s.closed || (s.events == 0 && s.bytes == 0) || (s.events + events <= maxEvents && s.bytes + bytes <= maxBytes)
    }

    /// Waits for room (single caller: the intake loop).
    func acquire(events: Int, bytes: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { s -> Bool in
                if Self.fits(s, events: events, bytes: bytes, maxEvents: maxEvents, maxBytes: maxBytes) {
                    s.events += events
                    s.bytes += bytes
                    return true
                }
                s.waiter = (events, bytes, continuation)
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    func release(events: Int, bytes: Int) {
        let resume = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.events -= events
            s.bytes -= bytes
            guard let waiter = s.waiter,
                Self.fits(s, events: waiter.events, bytes: waiter.bytes, maxEvents: maxEvents, maxBytes: maxBytes)
            else { return nil }
            s.events += waiter.events
            s.bytes += waiter.bytes
            s.waiter = nil
            return waiter.continuation
        }
        resume?.resume()
    }

    /// Lets a waiting intake through (shutdown).
    func close() {
        let resume = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        resume?.resume()
    }
}
