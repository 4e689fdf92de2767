import Synchronization

/// A value produced once, by any thread, and awaited by any number of tasks.
///
/// Bridges librdkafka's callbacks (which run on its threads) to `async` callers.
public final class Promise<Value: Sendable>: Sendable {
    private enum State {
        case pending([CheckedContinuation<Value, Never>])
        case fulfilled(Value)
    }
    private let state = Mutex(State.pending([]))

    public init() {}

    /// Sets the value and wakes every waiter. Later calls are ignored.
    public func fulfill(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard case .pending(let waiters) = state else { return [] }
            state = .fulfilled(value)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value once fulfilled.
    public var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Value? in
                    switch state {
                    case .fulfilled(let value): return value
                    case .pending(var waiters):
                        waiters.append(continuation)
                        state = .pending(waiters)
                        return nil
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    /// The value if already fulfilled.
    public var current: Value? {
        state.withLock { if case .fulfilled(let value) = $0 { value } else { nil } }
    }
}
