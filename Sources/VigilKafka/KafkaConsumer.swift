import CRdKafka
import Dispatch
import Logging
import Synchronization

/// Hears about partition assignment changes of a ``KafkaConsumer``.
///
/// Both methods run while the consumer's poll thread waits for them, so librdkafka does not
/// complete the rebalance until they return (bounded by `revokeTimeout`).
public protocol ConsumerRebalanceListener: Sendable {
    /// `partitions` were added to this member's assignment.
    func partitionsAssigned(_ partitions: [TopicPartition]) async
    /// `partitions` are about to be taken away. Finish or abandon in-flight work for them and
    /// store the offsets of what is done: the consumer commits right after this returns —
    /// unless `lost`, when another member may already own them and committing is skipped.
    func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) async
}

/// Health of a consumer, for liveness and readiness probes.
public struct ConsumerHealth: Sendable {
    /// The poll thread is running.
    public var pollThreadRunning: Bool
    /// Milliseconds since the poll thread last started a poll.
    public var millisecondsSinceLastPoll: UInt64
    /// Partitions currently assigned to this member.
    public var assignedPartitions: Int
}

/// A group consumer on librdkafka that hands the application *batches* of records.
///
/// A dedicated poll thread fills batches (up to `maxBatchSize` records or `batchLinger`) and
/// queues at most `maxBufferedBatches` of them; when the application falls behind the consumer
/// pauses fetching and keeps serving rebalances. Offsets are never stored automatically: the
/// application ``store(_:)``s what it has finished and ``commit(timeout:)``s, or lets the
/// consumer commit on revoke and close. Rebalances support eager and cooperative protocols.
public final class KafkaConsumer: Sendable {
    private let handle: RdKafkaHandle
    private let core: ConsumerCore
    private let pollThread: PollThread
    private let poll: PollResources
    private let closed = Atomic<Bool>(false)
    private let logger: Logger

    /// The batches, in order per partition. Ends after ``close(timeout:)``.
    public let batches: ConsumerBatches

    /// Creates the consumer and starts its poll thread. Throws ``KafkaError`` naming the
    /// property if librdkafka rejects the configuration.
    public init(configuration: ConsumerConfiguration, observer: KafkaClientObserver,
                listener: (any ConsumerRebalanceListener)? = nil) throws(KafkaError) {
        let buffer = BatchBuffer(capacity: configuration.maxBufferedBatches)
        let core = ConsumerCore(buffer: buffer, listener: listener, logger: observer.logger,
                                revokeTimeout: configuration.revokeTimeout, onError: observer.onError)
        let context = ClientContext(observer: observer, rebalance: core)
        let handle = try RdKafkaHandle(type: RD_KAFKA_CONSUMER, entries: configuration.entries, context: context) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
            rd_kafka_conf_set_offset_commit_cb(conf, offsetCommitCallback)
        }
        // Route every event (errors, statistics, rebalances) through the consumer queue, which
        // the poll thread serves.
        rd_kafka_poll_set_consumer(handle.rk)
        guard let queue = rd_kafka_queue_get_consumer(handle.rk) else {
            throw KafkaError(code: .state, message: "consumer queue unavailable")
        }
        self.handle = handle
        self.core = core
        self.batches = ConsumerBatches(buffer: buffer)
        self.logger = observer.logger
        let poll = PollResources(queue: queue, capacity: max(1, configuration.maxBatchSize))
        self.poll = poll
        let linger = Int32(clamping: max(1, configuration.batchLinger.wholeMilliseconds))
        pollThread = PollThread(name: "vigil-consumer-poll") {
            core.pollOnce(handle.rk, poll, linger: linger)
        }
    }

    deinit {
        if !closed.load(ordering: .acquiring) {
            logger.warning("KafkaConsumer deinitialised without close(); leaving the group without committing")
            pollThread.stop()
            poll.destroyQueue()
            handle.destroy(flags: RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
            core.buffer.finish(discard: true)
        }
    }

    /// Joins the group and subscribes to `topics` (replacing any earlier subscription).
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = PartitionList(topics.map { TopicPartition($0, vigil_partition_ua()) })
        let err = rd_kafka_subscribe(handle.rk, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, message: "subscribe \(topics): \(String(cString: rd_kafka_err2str(err)))") }
    }

    /// Reads `partitions` directly, without group management, from the given offsets (use
    /// `RD_KAFKA_OFFSET_*` values such as -2 for the beginning).
    public func assign(_ partitions: [TopicPartitionOffset]) throws(KafkaError) {
        let list = PartitionList(partitions)
        let err = rd_kafka_assign(handle.rk, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// The partitions currently assigned to this member.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        try ConsumerCore.assignment(handle.rk)
    }

    /// Stores offsets for the next commit. Each offset is the *next* one to read: last
    /// finished + 1. Returns per-partition failures (for example `_STATE` for a partition that
    /// is no longer assigned); other partitions are stored regardless.
    @discardableResult
    public func store(_ offsets: [TopicPartitionOffset]) -> [TopicPartition: KafkaError] {
        guard !offsets.isEmpty, !closed.load(ordering: .acquiring) else { return [:] }
        let list = PartitionList(offsets)
        let err = rd_kafka_offsets_store(handle.rk, list.pointer)
        var errors = list.errors
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && errors.isEmpty {
            for tpo in offsets { errors[tpo.topicPartition] = KafkaError(err) }
        }
        return errors
    }

    /// Commits the stored offsets (or `offsets` when given) and waits for the broker's answer,
    /// at most `timeout`. Nothing to commit is success. Blocks the calling thread; see the
    /// `async` overload.
    public func commitBlocking(_ offsets: [TopicPartitionOffset]? = nil, timeout: Duration) throws(KafkaError) {
        guard !closed.load(ordering: .acquiring) else { throw .closed("commit") }
        if let error = ConsumerCore.commit(handle.rk, offsets, timeout: timeout) { throw error }
    }

    /// Commits the stored offsets (or `offsets` when given), waiting at most `timeout` for the
    /// broker. Runs off Swift's cooperative pool.
    public func commit(_ offsets: [TopicPartitionOffset]? = nil, timeout: Duration) async throws(KafkaError) {
        let result: Result<Void, KafkaError> = await runBlocking { [self] in
            Result { () throws(KafkaError) in try commitBlocking(offsets, timeout: timeout) }
        }
        try result.get()
    }

    /// Starts a commit of the stored offsets and returns at once; failures are logged.
    public func commitAsync() {
        guard !closed.load(ordering: .acquiring) else { return }
        let err = rd_kafka_commit(handle.rk, nil, 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            logger.warning("async commit not started: \(KafkaError(err))")
        }
    }

    /// Stops fetching `partitions` until ``resume(_:)``. Records already handed out stay valid.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try core.pause(handle.rk, partitions)
    }

    /// Resumes fetching `partitions` paused with ``pause(_:)``.
    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try core.resume(handle.rk, partitions)
    }

    /// The group's committed offsets for `partitions` (next offset to read; -1001 when none).
    public func committed(_ partitions: [TopicPartition], timeout: Duration) throws(KafkaError) -> [TopicPartitionOffset] {
        let list = PartitionList(partitions)
        let err = rd_kafka_committed(handle.rk, list.pointer, Int32(clamping: timeout.wholeMilliseconds))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
        return list.offsets
    }

    /// Low and high watermarks of a partition, asked of the broker.
    public func watermarks(_ partition: TopicPartition, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle.rk, partition.topic, partition.partition, &low, &high,
                                                   Int32(clamping: timeout.wholeMilliseconds))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
        return (low, high)
    }

    /// Poll-thread liveness and assignment size.
    public var health: ConsumerHealth {
        ConsumerHealth(pollThreadRunning: pollThread.isRunning,
                       millisecondsSinceLastPoll: pollThread.millisecondsSinceLastIteration,
                       assignedPartitions: core.assignedCount)
    }

    /// Leaves the group cleanly: stops fetching, lets the rebalance listener finish revoked
    /// partitions, commits stored offsets and leaves — all within `timeout`. If the broker does
    /// not answer in time the client is destroyed anyway and `timedOut` is thrown (offsets
    /// stored but not committed are then read again by the next owner). The batch sequence
    /// ends either way.
    public func close(timeout: Duration = .seconds(10)) async throws(KafkaError) {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let result: KafkaError? = await runBlocking { [self] in closeBlocking(timeout: timeout) }
        if let result { throw result }
    }

    private func closeBlocking(timeout: Duration) -> KafkaError? {
        let deadline = ContinuousClock.now + timeout
        core.setDeadline(deadline)
        pollThread.stop()
        // Commit what the application stored, so an unanswered leave does not lose it.
        if let error = ConsumerCore.commit(handle.rk, nil, timeout: min(timeout, deadline - .now)),
           error.code != .state {
            logger.warning("commit on close: \(error)")
        }
        var outcome: KafkaError? = nil
        if let closeQueue = rd_kafka_queue_new(handle.rk) {
            if let error = rd_kafka_consumer_close_queue(handle.rk, closeQueue) {
                outcome = KafkaError(consuming: error)
            } else {
                // Serves the final revoke (rebalance callback) and the leave.
                while rd_kafka_consumer_closed(handle.rk) == 0 && ContinuousClock.now < deadline {
                    rd_kafka_queue_poll_callback(closeQueue, 100)
                }
                if rd_kafka_consumer_closed(handle.rk) == 0 {
                    outcome = KafkaError(code: .timedOut,
                                         message: "consumer close did not finish within \(timeout); destroyed without leaving the group")
                }
            }
            rd_kafka_queue_destroy(closeQueue)
        }
        poll.destroyQueue()
        handle.destroy(flags: outcome == nil ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
        core.buffer.finish()
        if let outcome { logger.error("\(outcome)") }
        return outcome
    }
}

/// The consumer queue and the message array `rd_kafka_consume_batch_queue` fills.
final class PollResources: @unchecked Sendable {
    // @unchecked: only the poll thread uses the array; rd_kafka_queue_t is thread-safe and is
    // destroyed (once, guarded by the consumer's `closed` flag) only after the poll thread stopped.
    let queue: OpaquePointer
    let messages: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    let capacity: Int

    init(queue: OpaquePointer, capacity: Int) {
        self.queue = queue
        self.capacity = capacity
        messages = .allocate(capacity: capacity)
    }

    func destroyQueue() { rd_kafka_queue_destroy(queue) }

    deinit { messages.deallocate() }
}

/// Runs blocking work (librdkafka calls that wait on the broker) on a Dispatch thread, so it
/// does not occupy one of Swift's cooperative threads.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}

/// The consumer's state shared between its poll thread and the application.
final class ConsumerCore: RebalanceHandling {
    let buffer: BatchBuffer
    private let listener: (any ConsumerRebalanceListener)?
    private let logger: Logger
    private let revokeTimeout: Duration
    private let onError: (@Sendable (KafkaError) -> Void)?

    private struct State {
        /// Paused by the consumer itself because the application is behind.
        var backpressurePaused = false
        /// Paused by the application; stays paused when backpressure lifts.
        var appPaused: Set<TopicPartition> = []
        /// Revoked while a batch was being collected: its records of these partitions are stale.
        var revokedDuringPoll: Set<TopicPartition> = []
        var assigned: Set<TopicPartition> = []
        /// Set by close: revokes must finish before it.
        var deadline: ContinuousClock.Instant? = nil
    }
    private let state = Mutex(State())

    init(buffer: BatchBuffer, listener: (any ConsumerRebalanceListener)?, logger: Logger,
         revokeTimeout: Duration, onError: (@Sendable (KafkaError) -> Void)?) {
        self.buffer = buffer
        self.listener = listener
        self.logger = logger
        self.revokeTimeout = revokeTimeout
        self.onError = onError
    }

    var assignedCount: Int { state.withLock { $0.assigned.count } }

    func setDeadline(_ deadline: ContinuousClock.Instant) { state.withLock { $0.deadline = deadline } }

    // MARK: Poll thread

    func pollOnce(_ rk: OpaquePointer, _ poll: PollResources, linger: Int32) {
        let room = buffer.hasRoom
        applyBackpressure(rk, paused: !room)
        // With no room, poll only to serve rebalances and errors; fetching is paused.
        let count = rd_kafka_consume_batch_queue(poll.queue, room ? linger : 100, poll.messages, poll.capacity)
        guard count > 0 else {
            if count < 0 { logger.error("consume failed: \(KafkaError(rd_kafka_last_error()))") }
            return
        }
        let received = UnsafeBufferPointer(start: poll.messages, count: count)
        defer { for case let message? in received { rd_kafka_message_destroy(message) } }
        let stale = state.withLock { state in
            defer { state.revokedDuringPoll.removeAll() }
            return state.revokedDuringPoll
        }
        let batch = ConsumerBatch.make(from: received) { error, partition in
            logger.error("consume error\(partition.map { " on \($0)" } ?? ""): \(error)")
            onError?(error)
        }
        guard var batch else { return }
        if !stale.isEmpty {
            guard let kept = batch.removing(stale) else { return }
            batch = kept
        }
        buffer.push(batch)
    }

    private func applyBackpressure(_ rk: OpaquePointer, paused: Bool) {
        let change: [TopicPartition]? = state.withLock { state in
            guard state.backpressurePaused != paused else { return nil }
            state.backpressurePaused = paused
            return paused ? Array(state.assigned) : Array(state.assigned.subtracting(state.appPaused))
        }
        guard let change, !change.isEmpty else { return }
        let list = PartitionList(change)
        if paused {
            rd_kafka_pause_partitions(rk, list.pointer)
            logger.debug("application behind: paused \(change.count) partition(s)")
        } else {
            rd_kafka_resume_partitions(rk, list.pointer)
            logger.debug("application caught up: resumed \(change.count) partition(s)")
        }
    }

    func handleRebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                         _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let list = PartitionList.topicPartitions(partitions)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("partitions assigned: \(list.sorted().map(\.description).joined(separator: ", "))",
                        metadata: ["protocol": "\(cooperative ? "cooperative" : "eager")"])
            if let listener { waitFor("assign") { await listener.partitionsAssigned(list) } }
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) { report(KafkaError(consuming: error), "incremental assign") }
            } else {
                let err = rd_kafka_assign(rk, partitions)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { report(KafkaError(err), "assign") }
            }
            let pauseNow: [TopicPartition] = state.withLock { state in
                state.assigned.formUnion(list)
                return state.backpressurePaused ? list : list.filter { state.appPaused.contains($0) }
            }
            if !pauseNow.isEmpty {
                let pauseList = PartitionList(pauseNow)
                rd_kafka_pause_partitions(rk, pauseList.pointer)
            }

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            logger.info("partitions \(lost ? "lost" : "revoked"): \(list.sorted().map(\.description).joined(separator: ", "))")
            let revoked = Set(list)
            state.withLock { $0.revokedDuringPoll.formUnion(revoked) }
            buffer.purge(revoked)
            if let listener { waitFor("revoke") { await listener.partitionsRevoked(list, lost: lost) } }
            if !lost {
                if let error = Self.commit(rk, nil, timeout: remaining(revokeTimeout)) {
                    report(error, "commit on revoke")
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) { report(KafkaError(consuming: error), "incremental unassign") }
            } else {
                let err = rd_kafka_assign(rk, nil)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { report(KafkaError(err), "unassign") }
            }
            state.withLock { state in
                state.assigned.subtract(revoked)
                state.appPaused.subtract(revoked)
            }

        default:
            report(KafkaError(err), "rebalance")
            rd_kafka_assign(rk, nil)
            state.withLock { $0.assigned.removeAll() }
        }
    }

    private func remaining(_ limit: Duration) -> Duration {
        guard let deadline = state.withLock({ $0.deadline }) else { return limit }
        return max(.zero, min(limit, deadline - .now))
    }

    /// Runs an async listener method and blocks the poll thread until it returns, at most
    /// `revokeTimeout` (or the close deadline).
    private func waitFor(_ what: String, _ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await body()
            done.signal()
        }
        let limit = remaining(revokeTimeout)
        if done.wait(timeout: .now() + .milliseconds(limit.wholeMilliseconds)) == .timedOut {
            logger.error("rebalance listener (\(what)) did not return within \(limit); continuing without it")
        }
    }

    private func report(_ error: KafkaError, _ what: String) {
        logger.error("\(what): \(error)")
        onError?(error)
    }

    // MARK: Application calls

    func pause(_ rk: OpaquePointer, _ partitions: [TopicPartition]) throws(KafkaError) {
        state.withLock { $0.appPaused.formUnion(partitions) }
        let list = PartitionList(partitions)
        let err = rd_kafka_pause_partitions(rk, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    func resume(_ rk: OpaquePointer, _ partitions: [TopicPartition]) throws(KafkaError) {
        let resumable: [TopicPartition] = state.withLock { state in
            state.appPaused.subtract(partitions)
            // Under backpressure they resume when it lifts.
            return state.backpressurePaused ? [] : partitions
        }
        guard !resumable.isEmpty else { return }
        let list = PartitionList(resumable)
        let err = rd_kafka_resume_partitions(rk, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    static func assignment(_ rk: OpaquePointer) throws(KafkaError) -> [TopicPartition] {
        var raw: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        let err = rd_kafka_assignment(rk, &raw)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
        guard let raw else { return [] }
        return PartitionList(owning: raw).topicPartitions
    }

    /// Commits and waits for the broker's answer on a private queue, at most `timeout`.
    /// Returns nil on success or when there was nothing to commit.
    static func commit(_ rk: OpaquePointer, _ offsets: [TopicPartitionOffset]?, timeout: Duration) -> KafkaError? {
        guard let queue = rd_kafka_queue_new(rk) else { return KafkaError(code: .state, message: "no queue") }
        defer { rd_kafka_queue_destroy(queue) }
        let err: rd_kafka_resp_err_t
        if let offsets {
            let list = PartitionList(offsets) // librdkafka copies the list
            err = rd_kafka_commit_queue(rk, list.pointer, queue, nil, nil)
        } else {
            err = rd_kafka_commit_queue(rk, nil, queue, nil, nil)
        }
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return nil }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { return KafkaError(err) }
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = max(0, (deadline - .now).wholeMilliseconds)
            guard let event = rd_kafka_queue_poll(queue, Int32(clamping: left)) else {
                if ContinuousClock.now >= deadline { return .timedOut("commit") }
                continue
            }
            defer { rd_kafka_event_destroy(event) }
            guard rd_kafka_event_type(event) == RD_KAFKA_EVENT_OFFSET_COMMIT else { continue }
            let err = rd_kafka_event_error(event)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET {
                // The request succeeded; a partition can still have failed on its own.
                if let partitions = rd_kafka_event_topic_partition_list(event) {
                    var failure: KafkaError? = nil
                    PartitionList.forEach(partitions) { element in
                        if element.err != RD_KAFKA_RESP_ERR_NO_ERROR && failure == nil {
                            failure = KafkaError(element.err, message: "commit \(String(cString: element.topic))[\(element.partition)]: \(String(cString: rd_kafka_err2str(element.err)))")
                        }
                    }
                    return failure
                }
                return nil
            }
            return KafkaError(err, message: rd_kafka_event_error_string(event).map { String(cString: $0) })
        }
    }
}

private let rebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, partitions, _ in
    guard let rk, let partitions, let handler = ClientContext.from(rk)?.rebalance else { return }
    handler.handleRebalance(rk, err, partitions)
}

private let offsetCommitCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, _, _ in
    guard err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET,
          let context = ClientContext.from(rk) else { return }
    let error = KafkaError(err)
    context.observer.logger.warning("offset commit failed: \(error)")
    context.observer.onError?(error)
}
