import Foundation
import Synchronization

/// The bounded hand-off between the consumer's poll thread and the application.
///
/// The poll thread never blocks on it (it must keep serving rebalances); instead it checks
/// ``hasRoom`` and pauses fetching when the application falls behind.
final class BatchBuffer: Sendable {
    private struct State {
        var batches: [ConsumerBatch] = []
        var waiter: CheckedContinuation<ConsumerBatch?, Never>? = nil
        var finished = false
    }
    private let state = Mutex(State())
    /// Signalled when the reader takes a batch; the poll thread waits on it for room.
    private let room = NSCondition()
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var hasRoom: Bool { state.withLock { $0.batches.count < capacity || $0.finished } }

    /// Blocks the calling (poll) thread until there is room, at most `timeout`.
    func waitForRoom(timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.wholeMilliseconds) / 1000)
        room.lock()
        defer { room.unlock() }
        while !hasRoom {
            if !room.wait(until: deadline) { return hasRoom }
        }
        return true
    }

    private func signalRoom() {
        room.lock()
        room.broadcast()
        room.unlock()
    }
    var count: Int { state.withLock { $0.batches.count } }

    /// Hands a batch to the waiting reader, or queues it.
    func push(_ batch: ConsumerBatch) {
        let waiter = state.withLock { state -> CheckedContinuation<ConsumerBatch?, Never>? in
            if state.finished { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.batches.append(batch)
            return nil
        }
        waiter?.resume(returning: batch)
    }

    /// Drops queued records of `partitions` (revoked: their new owner will read them again).
    func purge(_ partitions: Set<TopicPartition>) {
        state.withLock { state in
            state.batches = state.batches.compactMap { $0.removing(partitions) }
        }
        signalRoom()
    }

    /// Ends the sequence: the reader gets nil once the queued batches are drained... or at once
    /// if `discard` is set.
    func finish(discard: Bool = false) {
        let waiter = state.withLock { state -> CheckedContinuation<ConsumerBatch?, Never>? in
            state.finished = true
            if discard { state.batches.removeAll() }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
        signalRoom()
    }

    /// The next batch, or nil once finished or when the calling task is cancelled (batches are
    /// not lost then: a later call gets them). One reader at a time.
    func next() async -> ConsumerBatch? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> ConsumerBatch?? in
                    if !state.batches.isEmpty { return .some(state.batches.removeFirst()) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    precondition(state.waiter == nil, "ConsumerBatches supports a single reader")
                    state.waiter = continuation
                    return .none
                }
                if let ready {
                    continuation.resume(returning: ready)
                    signalRoom()
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

/// The batches a ``KafkaConsumer`` delivers, in fetch order per partition. Ends when the
/// consumer closes. Iterate from one task only.
public struct ConsumerBatches: AsyncSequence, Sendable {
    public typealias Element = ConsumerBatch
    let buffer: BatchBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: BatchBuffer
        public mutating func next() async -> ConsumerBatch? { await buffer.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}
