import CRdKafka
import Dispatch
import Logging
import Synchronization

/// Hears about partition assignment changes of a ``KafkaConsumer``.
///
/// Both methods run while the consumer's poll thread waits for them, so librdkafka does not
/// complete the rebalance until they return (bounded by `revokeTimeout`).
public protocol ConsumerRebalanceListener: Sendable {
    /// `partitions` are being added to this member's assignment; each comes with the group's
    /// committed offset (-1001 when there is none). Return start offsets to override where
    /// reading begins (for example to replay from a state snapshot); partitions not returned
    /// start at their committed offset.
    func partitionsAssigned(_ partitions: [TopicPartitionOffset]) async -> [TopicPartition: Int64]
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
/// A dedicated poll thread hands over what librdkafka has queued (up to `maxBatchSize` records,
/// or with a `batchLinger`, a batch filled for that long) and
/// queues at most `maxBufferedBatches` of them; when the application falls behind, records wait
/// in librdkafka's bounded prefetch queue while the poll thread keeps serving rebalances. Offsets are never stored automatically: the
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
    public init(
        configuration: ConsumerConfiguration, observer: KafkaClientObserver,
        listener: (any ConsumerRebalanceListener)? = nil
    ) throws(KafkaError) {
        let buffer = BatchBuffer(capacity: configuration.maxBufferedBatches)
        let poll = PollResources(capacity: max(1, configuration.maxBatchSize))
        let core = ConsumerCore(
            buffer: buffer, poll: poll, listener: listener, logger: observer.logger,
            revokeTimeout: configuration.revokeTimeout, onError: observer.onError)
        try configuration.validate()
        let context = ClientContext(observer: observer, rebalance: core)
        let handle = try RdKafkaHandle(type: RD_KAFKA_CONSUMER, entries: configuration.entries, context: context) {
            conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
            rd_kafka_conf_set_offset_commit_cb(conf, offsetCommitCallback)
        }
        // Events (rebalances, errors, statistics) arrive on the consumer queue; records are
        // redirected partition by partition to a queue of their own (see ConsumerCore), so the
        // poll thread can keep serving events while it leaves records waiting.
        rd_kafka_poll_set_consumer(handle.rk)
        guard let events = rd_kafka_queue_get_consumer(handle.rk), let records = rd_kafka_queue_new(handle.rk) else {
            throw KafkaError(code: .state, message: "consumer queues unavailable")
        }
        poll.setQueues(events: events, records: records)
        self.handle = handle
        self.core = core
        self.batches = ConsumerBatches(buffer: buffer)
        self.logger = observer.logger
        self.poll = poll
        let linger = Int32(clamping: max(0, configuration.batchLinger.wholeMilliseconds))
        pollThread = PollThread(name: "vigil-consumer-poll") {
            core.pollOnce(handle.rk, linger: linger)
        }
    }

    deinit {
        if !closed.load(ordering: .acquiring) {
            logger.warning("KafkaConsumer deinitialised without close(); leaving the group without committing")
            pollThread.stop()
            poll.destroyQueues()
            handle.destroy(flags: RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
            core.buffer.finish(discard: true)
        }
    }

    /// The next batch, or nil when none arrives within `timeout` (or the consumer closed). A
    /// batch arriving as the timer fires is returned, never dropped. Do not mix with iterating
    /// ``batches`` from another task.
    public func nextBatch(timeout: Duration) async -> ConsumerBatch? {
        let buffer = batches.buffer
        return await withTaskGroup(of: ConsumerBatch?.self) { group -> ConsumerBatch? in
            group.addTask { await buffer.next() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if first == nil, let late = await group.next(), let batch = late { return batch }
            return first
        }
    }

    /// Advanced by every assignment change (rebalance or manual assign). Read it in
    /// ``ConsumerRebalanceListener/partitionsAssigned(_:)`` to know the generation of the new
    /// assignment: batches with an older ``ConsumerBatch/generation`` were fetched before it.
    public var assignmentGeneration: UInt64 { core.generation }

    /// Whether `tp` is in this member's current assignment.
    public func isAssigned(_ tp: TopicPartition) -> Bool { core.isAssigned(tp) }

    /// Joins the group and subscribes to `topics` (replacing any earlier subscription).
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = PartitionList(topics.map { TopicPartition($0, vigil_partition_ua()) })
        let err = rd_kafka_subscribe(handle.rk, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, message: "subscribe \(topics): \(String(cString: rd_kafka_err2str(err)))")
        }
    }

    /// Reads `partitions` directly, without group management, from the given offsets (use
    /// `RD_KAFKA_OFFSET_*` values such as -2 for the beginning).
    public func assign(_ partitions: [TopicPartitionOffset]) throws(KafkaError) {
        core.willAssignManually(handle.rk, partitions.map(\.topicPartition))
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

    /// Stops fetching `partitions` until ``resume(_:)``. Records already handed out stay valid;
    /// prefetched ones are dropped and fetched again on resume, from the record after the last
    /// one handed out. Not needed for backpressure (the consumer bounds itself).
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try core.pause(handle.rk, partitions)
    }

    /// Resumes fetching `partitions` paused with ``pause(_:)``.
    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try core.resume(handle.rk, partitions)
    }

    /// The group's committed offsets for `partitions` (next offset to read; -1001 when none).
    public func committed(
        _ partitions: [TopicPartition], timeout: Duration
    ) throws(KafkaError) -> [TopicPartitionOffset] {
        let list = PartitionList(partitions)
        let err = rd_kafka_committed(handle.rk, list.pointer, Int32(clamping: timeout.wholeMilliseconds))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
        return list.offsets
    }

    /// The group's committed offsets, asked of the broker off Swift's cooperative pool.
    public func committed(
        _ partitions: [TopicPartition], timeout: Duration
    ) async throws(KafkaError) -> [TopicPartitionOffset] {
        let result: Result<[TopicPartitionOffset], KafkaError> = await runBlocking { [self] in
            Result { () throws(KafkaError) in try committed(partitions, timeout: timeout) }
        }
        return try result.get()
    }

    /// Low and high watermarks of a partition, asked of the broker.
    public func watermarks(
        _ partition: TopicPartition, timeout: Duration
    ) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(
            handle.rk, partition.topic, partition.partition, &low, &high,
            Int32(clamping: timeout.wholeMilliseconds))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
        return (low, high)
    }

    /// Low and high watermarks of a partition as the last fetch response reported them (no
    /// request; nil until a fetch has answered). Unlike ``watermarks(_:timeout:)`` this is
    /// right on brokers whose latest-offset lookup is not (Tansu): it is what reading "to the
    /// end" of a partition has to reach.
    public func fetchedWatermarks(_ partition: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle.rk, partition.topic, partition.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// Poll-thread liveness and assignment size.
    public var health: ConsumerHealth {
        ConsumerHealth(
            pollThreadRunning: pollThread.isRunning,
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
        // Commit what the application stored, so an unanswered leave does not lose it. Half the
        // budget at most: the leave needs the rest.
        if let error = ConsumerCore.commit(handle.rk, nil, timeout: (deadline - .now) / 2),
            error.code != .state
        {
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
                    outcome = KafkaError(
                        code: .timedOut,
                        message: "consumer close did not finish within \(timeout); destroyed without leaving the group")
                }
            }
            rd_kafka_queue_destroy(closeQueue)
        }
        poll.destroyQueues()
        // Against a dead cluster rd_kafka_destroy itself can wait for requests to time out;
        // the deadline holds regardless and the teardown finishes in the background.
        let handle = self.handle
        let flags = outcome == nil ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE
        let destroyed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            handle.destroy(flags: flags)
            destroyed.signal()
        }
        let grace = max(deadline - .now, .milliseconds(500))
        if destroyed.wait(timeout: .now() + .milliseconds(grace.wholeMilliseconds)) == .timedOut {
            logger.warning("librdkafka teardown still running after the close deadline; continuing in the background")
        }
        core.buffer.finish()
        if let outcome { logger.error("\(outcome)") }
        return outcome
    }
}

/// A value shared with a callback that runs on another task.
final class SharedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func set(_ value: Value) { mutex.withLock { $0 = value } }
}

/// The queues the poll thread serves and the array `rd_kafka_consume_batch_queue` fills.
final class PollResources: @unchecked Sendable {
    // @unchecked: the queue pointers are set once, before the poll thread starts and before any
    // subscription (so before any callback can read them); rd_kafka_queue_t is thread-safe and
    // the queues are destroyed (once, guarded by the consumer's `closed` flag) only after the
    // poll thread stopped. Only the poll thread (or close, after it stopped) uses the array.
    private(set) var events: OpaquePointer? = nil
    private(set) var records: OpaquePointer? = nil
    let messages: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        messages = .allocate(capacity: capacity)
    }

    func setQueues(events: OpaquePointer, records: OpaquePointer) {
        self.events = events
        self.records = records
    }

    func destroyQueues() {
        if let records { rd_kafka_queue_destroy(records) }
        if let events { rd_kafka_queue_destroy(events) }
    }

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
    private let poll: PollResources
    private let listener: (any ConsumerRebalanceListener)?
    private let logger: Logger
    private let revokeTimeout: Duration
    private let onError: (@Sendable (KafkaError) -> Void)?

    private struct State {
        var assigned: Set<TopicPartition> = []
        /// Advanced by every assignment change; each delivered batch carries the value then.
        var generation: UInt64 = 0
        /// Set by close: revokes must finish before it.
        var deadline: ContinuousClock.Instant? = nil
    }
    private let state = Mutex(State())

    init(
        buffer: BatchBuffer, poll: PollResources, listener: (any ConsumerRebalanceListener)?, logger: Logger,
        revokeTimeout: Duration, onError: (@Sendable (KafkaError) -> Void)?
    ) {
        self.buffer = buffer
        self.poll = poll
        self.listener = listener
        self.logger = logger
        self.revokeTimeout = revokeTimeout
        self.onError = onError
    }

    var assignedCount: Int { state.withLock { $0.assigned.count } }

    var generation: UInt64 { state.withLock { $0.generation } }

    func isAssigned(_ tp: TopicPartition) -> Bool { state.withLock { $0.assigned.contains(tp) } }

    func setDeadline(_ deadline: ContinuousClock.Instant) { state.withLock { $0.deadline = deadline } }

    // MARK: Poll thread

    /// One turn of the poll thread: serve events, then take records if the application has
    /// room for them.
    ///
    /// Backpressure needs no pausing: records the application has no room for stay in
    /// librdkafka's prefetch queue, which is bounded (`queued.max.messages.kbytes`,
    /// `queued.min.messages`), so fetching stops by itself and memory stays flat. Pausing
    /// would discard the prefetched records and refetch them from a position librdkafka
    /// derives from what it last handed out — which after a revoke can point past records
    /// that were never processed.
    func pollOnce(_ rk: OpaquePointer, linger: Int32) {
        guard let events = poll.events, let records = poll.records else { return }
        // Rebalance callbacks run inside this call; records that reached the event queue before
        // their partition was redirected come back too and are delivered first.
        deliver(rd_kafka_consume_batch_queue(events, 0, poll.messages, poll.capacity))
        guard buffer.hasRoom || buffer.waitForRoom(timeout: .milliseconds(100)) else { return }
        if linger > 0 {
            // Waits until the batch is full or the linger has passed.
            deliver(rd_kafka_consume_batch_queue(records, linger, poll.messages, poll.capacity))
            return
        }
        // Wait for one record only, then take what else is queued: a record is handed over as
        // soon as it arrives, and batches grow by themselves when records arrive faster than the
        // application takes them (a fill-the-batch linger added its whole length to latency at
        // moderate rates).
        let first = rd_kafka_consume_batch_queue(records, Self.idleWait, poll.messages, 1)
        guard first > 0 else { return deliver(first) }
        let rest = rd_kafka_consume_batch_queue(records, 0, poll.messages + 1, poll.capacity - 1)
        if rest < 0 { logger.error("consume failed: \(KafkaError(rd_kafka_last_error()))") }
        deliver(first + max(0, rest))
    }

    /// How long a poll with nothing queued waits for a record before serving events again.
    static let idleWait: Int32 = 20

    private func deliver(_ count: Int) {
        guard count > 0 else {
            if count < 0 { logger.error("consume failed: \(KafkaError(rd_kafka_last_error()))") }
            return
        }
        let received = UnsafeBufferPointer(start: poll.messages, count: count)
        defer { for case let message? in received { rd_kafka_message_destroy(message) } }
        let batch = ConsumerBatch.make(from: received) { error, partition in
            logger.error("consume error\(partition.map { " on \($0)" } ?? ""): \(error)")
            onError?(error)
        }
        guard var batch else { return }
        // Records fetched before a revoke can still be in the queue: they belong to the
        // partition's next owner (which reads them again from the committed offset).
        let (assigned, generation) = state.withLock { ($0.assigned, $0.generation) }
        batch.generation = generation
        if !batch.partitions.isSubset(of: assigned) {
            guard let kept = batch.removing(batch.partitions.subtracting(assigned)) else { return }
            batch = kept
        }
        buffer.push(batch)
    }

    /// A manual assignment replaces the current one (no rebalance callback runs for it).
    func willAssignManually(_ rk: OpaquePointer, _ partitions: [TopicPartition]) {
        state.withLock {
            $0.assigned = Set(partitions)
            $0.generation += 1
        }
        redirect(rk, partitions)
    }

    /// Sends a partition's records to the records queue instead of the event queue.
    private func redirect(_ rk: OpaquePointer, _ partitions: [TopicPartition]) {
        guard let records = poll.records else { return }
        for tp in partitions {
            guard let queue = rd_kafka_queue_get_partition(rk, tp.topic, tp.partition) else { continue }
            rd_kafka_queue_forward(queue, records)
            rd_kafka_queue_destroy(queue)
        }
    }

    func handleRebalance(
        _ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        let list = PartitionList.topicPartitions(partitions)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        // Batches delivered from now on belong to the new assignment (callbacks and deliveries
        // both run on the poll thread, so the order is exact).
        state.withLock { $0.generation += 1 }
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info(
                "partitions assigned: \(list.sorted().map(\.description).joined(separator: ", "))",
                metadata: ["protocol": "\(cooperative ? "cooperative" : "eager")"])
            if let listener {
                // The listener decides where to start, so it needs the committed offsets now.
                let committed = PartitionList(list)
                let err = rd_kafka_committed(
                    rk, committed.pointer, Int32(clamping: remaining(revokeTimeout).wholeMilliseconds))
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { report(KafkaError(err), "fetching committed offsets") }
                let offsets =
                    err == RD_KAFKA_RESP_ERR_NO_ERROR
                    ? committed.offsets : list.map { TopicPartitionOffset($0, offset: vigil_offset_invalid()) }
                let overrides = SharedValue<[TopicPartition: Int64]>([:])
                // Not bounded by revokeTimeout: assigning before the listener has chosen where
                // to start would start from the committed offset while its restored state is
                // from an earlier one (the records between would never be replayed). Blocking
                // here is what librdkafka expects of a rebalance callback; only a close's
                // deadline cuts it short.
                waitFor("assign", bounded: false) { overrides.set(await listener.partitionsAssigned(offsets)) }
                let starts = overrides.value
                if !starts.isEmpty, let elements = partitions.pointee.elems {
                    for index in 0..<Int(partitions.pointee.cnt) {
                        let tp = TopicPartition(String(cString: elements[index].topic), elements[index].partition)
                        if let start = starts[tp] { elements[index].offset = start }
                    }
                    logger.info(
                        "starting from listener offsets: \(starts.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: ", "))"
                    )
                }
            }
            state.withLock { $0.assigned.formUnion(list) }
            // Before assigning, so fetching starts into the records queue.
            redirect(rk, list)
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    report(KafkaError(consuming: error), "incremental assign")
                }
            } else {
                let err = rd_kafka_assign(rk, partitions)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { report(KafkaError(err), "assign") }
            }

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            logger.info(
                "partitions \(lost ? "lost" : "revoked"): \(list.sorted().map(\.description).joined(separator: ", "))")
            let revoked = Set(list)
            state.withLock { $0.assigned.subtract(revoked) }
            buffer.purge(revoked)
            if let listener { waitFor("revoke") { await listener.partitionsRevoked(list, lost: lost) } }
            if !lost {
                if let error = Self.commit(rk, nil, timeout: remaining(revokeTimeout)) {
                    report(error, "commit on revoke")
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    report(KafkaError(consuming: error), "incremental unassign")
                }
            } else {
                let err = rd_kafka_assign(rk, nil)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR { report(KafkaError(err), "unassign") }
            }

        default:
            report(KafkaError(err), "rebalance")
            rd_kafka_assign(rk, nil)
            state.withLock { $0.assigned.removeAll() }
        }
        // Return from the current consume call now, so one batch never spans a rebalance.
        rd_kafka_yield(rk)
    }

    private func remaining(_ limit: Duration) -> Duration {
        guard let deadline = state.withLock({ $0.deadline }) else { return limit }
        return max(.zero, min(limit, deadline - .now))
    }

    /// Runs an async listener method and blocks the poll thread until it returns, at most
    /// `revokeTimeout` (unless not `bounded`) or until the close deadline.
    private func waitFor(_ what: String, bounded: Bool = true, _ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        // The caller is librdkafka's poll thread, not a task, so there is no task tree to join:
        // the thread itself waits for this one (bounded), and nothing cancels it.
        Task {
            await body()
            done.signal()
        }
        let limit = remaining(bounded ? revokeTimeout : .seconds(86_400 * 365))
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
        let list = PartitionList(partitions)
        let err = rd_kafka_pause_partitions(rk, list.pointer)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    func resume(_ rk: OpaquePointer, _ partitions: [TopicPartition]) throws(KafkaError) {
        let list = PartitionList(partitions)
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
            let list = PartitionList(offsets)  // librdkafka copies the list
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
                            failure = KafkaError(
                                element.err,
                                message:
                                    "commit \(String(cString: element.topic))[\(element.partition)]: \(String(cString: rd_kafka_err2str(element.err)))"
                            )
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

private let rebalanceCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = {
        rk, err, partitions, _ in
        guard let rk, let partitions, let handler = ClientContext.from(rk)?.rebalance else { return }
        handler.handleRebalance(rk, err, partitions)
    }

private let offsetCommitCallback:
    @convention(c) (
        OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        UnsafeMutableRawPointer?
    ) -> Void = {
        rk, err, _, _ in
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET,
            let context = ClientContext.from(rk)
        else { return }
        let error = KafkaError(err)
        context.observer.logger.warning("offset commit failed: \(error)")
        context.observer.onError?(error)
    }
