import CRdKafka
import Logging
import Synchronization

/// The outcome of producing one message.
public typealias DeliveryResult = Result<DeliveryReport, KafkaError>

/// An asynchronous Kafka producer on librdkafka.
///
/// `send` completes when the broker's delivery report arrives, not when the message is queued.
/// Batches are enqueued in one pass and complete with one callback, so the cost per message is
/// a queue insert, not a task switch. When librdkafka's local queue is full the caller waits
/// for delivery reports to make room (backpressure) instead of receiving `_QUEUE_FULL`.
///
/// Idempotence is on by default (see ``ProducerConfiguration``). Call ``close(timeout:)`` to
/// flush before the producer goes away; otherwise queued messages are lost.
public final class KafkaProducer: Sendable {
    /// `package`: the test-support module reaches librdkafka's test hooks through it.
    package let handle: RdKafkaHandle
    private let gate = CapacityGate()
    private let state: Mutex<State>
    private let pollThread: PollThread
    private let logger: Logger

    private struct State {
        var closed = false
        /// Cached topic handles: naming a topic by string costs a lookup per message.
        var topics: [String: OpaquePointer] = [:]
    }

    /// Creates the producer. Throws ``KafkaError`` naming the property if librdkafka rejects
    /// the configuration.
    public init(configuration: ProducerConfiguration, observer: KafkaClientObserver) throws(KafkaError) {
        let context = ClientContext(observer: observer)
        handle = try RdKafkaHandle(type: RD_KAFKA_PRODUCER, entries: configuration.entries, context: context) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryCallback)
        }
        state = Mutex(State())
        logger = observer.logger
        let handle = self.handle
        let gate = self.gate
        pollThread = PollThread(name: "vigil-producer-poll") {
            // Serves delivery reports; any served report may have freed queue space.
            if rd_kafka_poll(handle.rk, 50) > 0 { gate.open() }
        }
    }

    deinit {
        if !state.withLock({ $0.closed }) {
            logger.warning("KafkaProducer deinitialised without close(); unflushed messages are lost")
            shutdown()
        }
    }

    /// Messages queued in librdkafka and not yet acknowledged (`rd_kafka_outq_len`).
    public var outstanding: Int {
        state.withLock { $0.closed ? 0 : Int(rd_kafka_outq_len(handle.rk)) }
    }

    /// Partitions and replicas of `names` as the cluster reports them (absent: no such topic).
    /// Uses this producer's connection, so its security settings apply.
    public func describeTopics(_ names: [String], timeout: Duration) async throws(KafkaError) -> [TopicDescription] {
        try await ClusterMetadata.describeTopics(handle, names, timeout: timeout)
    }

    /// Produces one message and waits for its delivery report.
    public func send(_ message: ProducerMessage) async throws(KafkaError) -> DeliveryReport {
        let results = await send([message])
        return try results[0].get()
    }

    /// Produces messages and waits for every delivery report. Results are in message order.
    public func send(_ messages: [ProducerMessage]) async -> [DeliveryResult] {
        let promise = Promise<[DeliveryResult]>()
        await enqueue(DeliveryBatch(messages: messages) { promise.fulfill($0) })
        return await promise.value
    }

    /// Queues messages and returns once all are in librdkafka's queue (waiting for room if it
    /// is full). `onDelivery` is called once, with results in message order, when every
    /// delivery report has arrived — on the producer's poll thread, so keep it short.
    public func enqueue(
        _ messages: [ProducerMessage],
        onDelivery: @escaping @Sendable ([DeliveryResult]) -> Void
    ) async {
        await enqueue(DeliveryBatch(messages: messages, completion: onDelivery))
    }

    private func enqueue(_ batch: DeliveryBatch) async {
        var index = 0
        let messages = batch.messages
        while index < messages.count {
            let seen = gate.generation
            let outcome: EnqueueOutcome = state.withLock { state in
                if state.closed { return .closed }
                if let fatal = handle.context.fatalError.withLock({ $0 }) { return .fatal(fatal) }
                while index < messages.count {
                    let err = produce(messages[index], slot: batch.slot(index), state: &state)
                    if err == RD_KAFKA_RESP_ERR__QUEUE_FULL { return .queueFull }
                    if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        batch.complete(index, .failure(KafkaError(err)))
                    }
                    index += 1
                }
                return .done
            }
            switch outcome {
            case .done:
                break
            case .queueFull:
                await gate.wait(after: seen)
            case .closed:
                batch.failRemaining(from: index, with: .closed("produce"))
                index = messages.count
            case .fatal(let error):
                batch.failRemaining(from: index, with: error)
                index = messages.count
            }
        }
        batch.finishEnqueueing()
    }

    private enum EnqueueOutcome {
        case done, queueFull, closed
        case fatal(KafkaError)
    }

    /// Calls librdkafka for one message. Must run under the state lock (the handle is alive).
    private func produce(
        _ message: ProducerMessage, slot: UnsafeMutableRawPointer,
        state: inout State
    ) -> rd_kafka_resp_err_t {
        let topic: OpaquePointer
        if let cached = state.topics[message.topic] {
            topic = cached
        } else {
            guard let created = rd_kafka_topic_new(handle.rk, message.topic, nil) else {
                return rd_kafka_last_error()
            }
            state.topics[message.topic] = created
            topic = created
        }
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(
                            headers, header.name, -1, bytes.baseAddress ?? UnsafeRawPointer(emptyByte), bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let err = withOptionalBytes(message.key) { key, keyLength in
            withOptionalBytes(message.value) { value, valueLength in
                vigil_produce(
                    handle.rk, topic, message.partition ?? vigil_partition_ua(),
                    key, keyLength, value, valueLength, headers, message.timestamp ?? 0, slot)
            }
        }
        // On failure the headers are still ours.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, let headers { rd_kafka_headers_destroy(headers) }
        return err
    }

    /// Waits until every queued message is delivered or failed. Throws `timedOut` with the
    /// number still outstanding when the timeout passes first.
    ///
    /// Not under the state lock: `rd_kafka_flush` serves delivery callbacks on this thread, and
    /// those may call back into the producer. The owner must not call it concurrently with `close`.
    public func flush(timeout: Duration) throws(KafkaError) {
        guard !state.withLock({ $0.closed }) else { return }
        if rd_kafka_flush(handle.rk, Int32(clamping: timeout.wholeMilliseconds)) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(
                code: .timedOut,
                message: "flush: \(outstanding) message(s) still unacknowledged after \(timeout)")
        }
    }

    /// Flushes for up to `timeout`, then destroys the client. Messages still queued after the
    /// timeout fail with `_PURGE_QUEUE`; their count is returned (0 when everything was delivered).
    @discardableResult
    public func close(timeout: Duration) -> Int {
        var remaining = 0
        do { try flush(timeout: timeout) } catch {
            remaining = outstanding
            logger.error("producer close: \(remaining) message(s) not delivered within \(timeout); purging")
        }
        shutdown()
        return remaining
    }

    private func shutdown() {
        let topics: [OpaquePointer] = state.withLock { state in
            guard !state.closed else { return [] }
            state.closed = true
            // Fail what is left so every pending batch completes, then serve those reports.
            rd_kafka_purge(handle.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            return Array(state.topics.values)
        }
        pollThread.stop()
        // Serve the purge reports so every pending batch completes before the handle goes away.
        for _ in 0..<100 where rd_kafka_outq_len(handle.rk) > 0 { rd_kafka_poll(handle.rk, 10) }
        rd_kafka_poll(handle.rk, 0)
        gate.close()
        for topic in topics { rd_kafka_topic_destroy(topic) }
        handle.destroy()
    }
}

/// A non-null pointer for empty payloads: librdkafka treats a NULL payload as a null value
/// (tombstone), which is not the same as an empty one.
nonisolated(unsafe) private let emptyByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes {
        body($0.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(emptyByte), $0.count)
    }
}

/// Tracks the delivery reports of one batch and completes it once all have arrived.
///
/// Each message's librdkafka opaque points at its slot, which names the batch and the index.
final class DeliveryBatch: @unchecked Sendable {
    // @unchecked: `results` is written at distinct indices — by the poll thread (reports) and by
    // the enqueuing task (synchronous failures) — and read only by whoever brings `remaining`
    // to zero; the acquire-release decrement orders every write before that read.
    let messages: [ProducerMessage]
    private let results: UnsafeMutableBufferPointer<DeliveryResult>
    private let slots: UnsafeMutableBufferPointer<DeliverySlot>
    private let remaining: Atomic<Int>
    private let completion: @Sendable ([DeliveryResult]) -> Void

    init(messages: [ProducerMessage], completion: @escaping @Sendable ([DeliveryResult]) -> Void) {
        self.messages = messages
        self.completion = completion
        results = .allocate(capacity: messages.count)
        results.initialize(repeating: .failure(KafkaError(code: .unknown, message: "not delivered")))
        slots = .allocate(capacity: messages.count)
        // One extra count held by the enqueuer, so completion cannot run mid-enqueue.
        remaining = Atomic(messages.count + 1)
        // Retained until the last report; released in `finish`.
        let unmanaged = Unmanaged.passRetained(self)
        for index in 0..<messages.count {
            slots.initializeElement(at: index, to: DeliverySlot(batch: unmanaged, index: index))
        }
    }

    deinit {
        results.deinitialize().deallocate()
        slots.deinitialize().deallocate()
    }

    func slot(_ index: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(slots.baseAddress! + index)
    }

    func complete(_ index: Int, _ result: DeliveryResult) {
        results[index] = result
        release()
    }

    func failRemaining(from index: Int, with error: KafkaError) {
        for i in index..<messages.count { complete(i, .failure(error)) }
    }

    func finishEnqueueing() { release() }

    private func release() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            completion(Array(results))
            Unmanaged.passUnretained(self).release()
        }
    }
}

struct DeliverySlot {
    let batch: Unmanaged<DeliveryBatch>
    let index: Int
}

private let deliveryCallback:
    @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
        _, message, _ in
        guard let message, let opaque = message.pointee._private else { return }
        let slot = opaque.assumingMemoryBound(to: DeliverySlot.self).pointee
        let batch = slot.batch.takeUnretainedValue()
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            batch.complete(
                slot.index,
                .success(
                    DeliveryReport(
                        topic: batch.messages[slot.index].topic,
                        partition: message.pointee.partition,
                        offset: message.pointee.offset)))
        } else {
            var error = KafkaError(err)
            if rd_kafka_message_status(message) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED {
                error.message += " (possibly persisted: the broker may have stored it)"
            }
            error.isRetriable = true
            batch.complete(slot.index, .failure(error))
        }
    }
