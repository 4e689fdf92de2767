import Foundation
import Logging
import Synchronization
import VigilDetection
import VigilKafka

/// One slice of a consumer batch: the records of one partition, in offset order.
struct SubBatch: Sendable {
    let batch: ConsumerBatch
    let indices: [Int]
    let bytes: Int
}

/// What a partition worker is asked to do, in order.
enum PartitionWork: Sendable {
    case records(SubBatch)
    case replaceModel(DetectionModel?, DetectionConfig)
    /// Time for a state snapshot, if anything was processed since the last one.
    case snapshot
    /// Route stage: if the partition has been read to its end, tell the detect stage not to
    /// wait for it (see ``RepartitionRecord/idleHeartbeat(stream:partition:streams:watermark:)``).
    case idleCheck
}

/// Everything a worker shares with the pipeline.
struct PartitionContext: Sendable {
    let settings: StreamConfiguration
    let detection: DetectionConfig
    let producer: KafkaProducer
    let consumer: KafkaConsumer
    let gate: InFlightGate
    let metrics: StreamMetrics
    let stateStore: StateStore?
    /// Where snapshots are also written so they follow the partition (nil: local only). Set
    /// before the first assignment, once the topic's partition count is known.
    var changelog: StateChangelog? = nil
    let logger: Logger
    let problems: DeliveryProblems
    /// Stops the stream (a permanent delivery error under ``PermanentErrorPolicy/exit``).
    let stop: @Sendable (String) -> Void
    /// The stage this pipeline runs, and (repartitioned) the repartition topics, their
    /// partition counts known once described.
    var stage: StreamStage = .single
    var repartition: RepartitionTopics? = nil

    /// Whether workers take snapshots at all (to disk, to the changelog, or both).
    var keepsSnapshots: Bool { stateStore != nil || changelog != nil }
}

/// Owns the detection state of one assigned partition and processes its records serially, in
/// offset order — the order that makes results reproducible. Different partitions run
/// concurrently on Swift's cooperative pool.
///
/// A record is finished when its anomalies (and, if it could not be decoded, its dead-letter
/// copy) are acknowledged by the broker; only then can its offset be committed.
final class PartitionWorker: Sendable {
    let partition: TopicPartition
    private let context: PartitionContext
    private let work: AsyncStream<PartitionWork>.Continuation
    private let workItems: AsyncStream<PartitionWork>
    private let retries: AsyncStream<Retry>.Continuation
    private let retryItems: AsyncStream<Retry>
    /// Snapshots to write to the changelog, newest kept when writes fall behind (only the
    /// newest matters; each is a whole state).
    private let changelogWrites: AsyncStream<(nextOffset: Int64, bytes: [UInt8])>.Continuation
    private let changelogItems: AsyncStream<(nextOffset: Int64, bytes: [UInt8])>
    private let engine: Mutex<DetectionEngine?>
    private let replayUntil: Int64
    private let restored: Bool
    /// The records the process died on last time, if it did (see ``StateStore/ProcessingMarker``).
    private let interrupted: StateStore.ProcessingMarker?
    /// Fulfilled when ``run()`` returns.
    private let stopped = Promise<Void>()
    private let state: Mutex<State>

    /// Messages to publish again once `due` (their first attempt failed).
    private struct Retry: Sendable {
        var messages: [ProducerMessage]
        var range: FinishedRange
        var attempt: Int
        var due: ContinuousClock.Instant
    }

    private struct State {
        var tracker = OffsetTracker()
        var queued = 0
        var unfinished = 0
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var accepting = true
        /// A snapshot waiting for its offset to become committable.
        var heldSnapshot: (offset: Int64, bytes: [UInt8])? = nil
        /// The last offset handed to the consumer's offset store.
        var stored: Int64? = nil
        /// The newest offset known to be committed in the group: the snapshot that recovery
        /// from it needs is never pruned, however long commits fail.
        var committed: Int64? = nil
        /// The newest record received (offset) and when: for the stall watch.
        var lastReceived: (offset: Int64, at: ContinuousClock.Instant)? = nil
        /// What each changelog slot of this partition holds.
        var slots: ChangelogSlots
        /// When the route stage last sent its clock to every repartition partition.
        var lastHeartbeat: ContinuousClock.Instant? = nil
        /// When the route stage last said this partition is idle; nil once a record arrived since.
        var idleSent: ContinuousClock.Instant? = nil
    }

    /// What the stall watch looks at: where the commit stands, what is in hand, and when the
    /// last record arrived.
    struct Progress: Sendable {
        var stored: Int64?
        var queued: Int
        var unfinished: Int
        var lastReceived: Int64?
        var sinceLastReceived: Duration?
    }

    var progress: Progress {
        let now = ContinuousClock.now
        return state.withLock { s in
            Progress(
                stored: s.stored, queued: s.queued, unfinished: s.unfinished, lastReceived: s.lastReceived?.offset,
                sinceLastReceived: s.lastReceived.map { now - $0.at })
        }
    }

    /// `replayUntil`: records before this offset were already published and committed; they are
    /// processed only to rebuild state (after restoring a snapshot) and publish nothing.
    /// `restored`: the engine comes from a snapshot (otherwise the worker snapshots its empty
    /// state at the first record, so recovery can always start from a snapshot).
    /// `committed`: the group's committed offset at assignment, if any.
    /// The consumer's assignment generation this worker was created for.
    let generation: UInt64
    /// The partition's part of every record's origin (anomaly ids name the record's position).
    private let origin: UInt64

    init(
        partition: TopicPartition, engine: DetectionEngine, replayUntil: Int64, restored: Bool, committed: Int64?,
        generation: UInt64, interrupted: StateStore.ProcessingMarker? = nil, changelogSlots: ChangelogSlots? = nil,
        context: PartitionContext
    ) {
        self.partition = partition
        self.origin = ParseOptions.origin(topic: partition.topic, partition: partition.partition)
        self.generation = generation
        self.interrupted = interrupted
        self.context = context
        self.state = Mutex(
            State(committed: committed, slots: changelogSlots ?? ChangelogSlots(slots: context.changelog?.slots ?? 3)))
        (workItems, work) = AsyncStream<PartitionWork>.makeStream()
        (retryItems, retries) = AsyncStream<Retry>.makeStream()
        (changelogItems, changelogWrites) = AsyncStream<(nextOffset: Int64, bytes: [UInt8])>.makeStream(
            bufferingPolicy: .bufferingNewest(1))
        self.engine = Mutex(engine)
        self.replayUntil = replayUntil
        self.restored = restored
    }

    /// Processes the partition's work until ``drain(timeout:)`` ends it. Runs as a child task
    /// of the pipeline; failed deliveries are retried by a child of its own.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.retryLoop() }
            group.addTask { await self.changelogLoop() }
            await processLoop()
            retries.finish()
            // The final snapshot (if any) is queued: the loop writes it, then ends.
            changelogWrites.finish()
        }
        stopped.fulfill(())
    }

    private func processLoop() async {
        guard var engine = engine.withLock({ $0.take() }) else { return }
        var processedUpTo: Int64? = nil
        var snapshotAt: Int64? = nil
        var needsBaseSnapshot = !restored
        // Records the process died on: analysed one at a time, so a record that kills it
        // again is known exactly and dead-lettered instead of killing it for ever.
        var suspect = interrupted.map {
            StateStore.ProcessingMarker(first: $0.first, last: $0.last, deaths: $0.deaths + 1)
        }
        if let suspect {
            context.logger.warning(
                "\(partition): the process stopped while analysing offsets \(suspect.first)...\(suspect.last) (\(suspect.deaths) time(s)); analysing them one by one"
            )
        }
        for await item in workItems {
            switch item {
            case .records(let sub):
                if let next = processedUpTo, let first = sub.indices.first, sub.batch.offset(at: first) < next {
                    // Records this worker already processed (a batch fetched for an earlier
                    // assignment): processing them again would count them twice.
                    context.logger.warning(
                        "\(partition): dropped records from offset \(sub.batch.offset(at: first)), already processed up to \(next)"
                    )
                    context.metrics.staleRecords.increment(by: sub.indices.count)
                    context.gate.release(events: sub.indices.count, bytes: sub.bytes)
                    state.withLock { $0.queued -= 1 }
                    notifyIfDrained()
                    continue
                }
                if needsBaseSnapshot, context.keepsSnapshots, let first = sub.indices.first {
                    // The state before this partition's first record here: everything
                    // before it is already committed (or there is nothing before it).
                    saveSnapshot(engine.snapshot(), nextOffset: sub.batch[first].offset)
                    snapshotAt = sub.batch[first].offset
                }
                needsBaseSnapshot = false
                if context.stage == .detect {
                    await detect(sub, engine: &engine, replayUntil: replayUntil)
                } else {
                    await process(sub, engine: &engine, replayUntil: replayUntil, suspect: &suspect)
                }
                if let last = sub.indices.last { processedUpTo = sub.batch[last].offset + 1 }
                state.withLock { $0.queued -= 1 }
                notifyIfDrained()
            case .snapshot:
                // Written once every record before it is finished (so it is never ahead of
                // what can be committed); serialised now, while the engine is at that point.
                if context.keepsSnapshots, let next = processedUpTo, next != snapshotAt {
                    holdSnapshot(engine.snapshot(), nextOffset: next)
                    snapshotAt = next
                }
            case .replaceModel(let model, let config):
                engine.replaceModel(model, config: config)
            case .idleCheck:
                await sendIdleHeartbeat(watermark: engine.repartitionClock.watermark)
            }
        }
        // Stopped: leave a snapshot of the final state for whoever reads on from here — but
        // only if every processed record is finished. Otherwise the state is ahead of what
        // can be committed, and the unfinished records will be read (and counted) again.
        if context.keepsSnapshots, let processed = processedUpTo,
            state.withLock({ $0.tracker.committable }) == processed
        {
            saveSnapshot(engine.snapshot(), nextOffset: processed)
        }
    }

    /// Writes snapshots to the changelog, one at a time, into a slot recovery does not need.
    /// A failed write is not retried: the next snapshot replaces it, and recovery uses an
    /// older one (or the local cache) meanwhile.
    private func changelogLoop() async {
        for await snapshot in changelogItems {
            guard let changelog = context.changelog else { continue }
            let slot = state.withLock { s in
                let committed = s.committed
                return s.slots.claim(nextOffset: snapshot.nextOffset, committed: committed)
            }
            let messages = changelog.messages(
                partition, slot: slot, nextOffset: snapshot.nextOffset, state: snapshot.bytes)
            let results = await context.producer.send(messages)
            if let failure = results.lazy.compactMap({ result -> KafkaError? in
                if case .failure(let error) = result { return error }
                return nil
            }).first {
                state.withLock { $0.slots.failed(slot) }
                context.metrics.changelogFailures.increment()
                context.logger.warning(
                    "\(partition): snapshot at offset \(snapshot.nextOffset) not written to \(changelog.topic): \(failure)"
                )
            } else {
                context.metrics.changelogSnapshots.increment()
                context.metrics.changelogBytes.increment(by: snapshot.bytes.count)
                if let store = context.stateStore, case .success(let manifest) = results.last {
                    // This host now knows the changelog of this partition up to here.
                    let checkpoint = ChangelogCheckpoint(
                        topic: changelog.topic, partition: manifest.partition, position: manifest.offset + 1,
                        slots: state.withLock { $0.slots.offsets })
                    do { try store.saveChangelogCheckpoint(partition, checkpoint) } catch {
                        context.logger.debug("\(partition): changelog checkpoint not written: \(error)")
                    }
                }
            }
        }
    }

    /// Publishes failed messages again when their backoff is over, in the order they failed.
    private func retryLoop() async {
        for await retry in retryItems {
            try? await Task.sleep(until: retry.due)
            await publish(retry.messages, range: retry.range, attempt: retry.attempt)
        }
    }

    /// Queues records; false if the worker no longer accepts work (partition revoked) or the
    /// records were fetched before this worker's assignment (for an earlier owner: the
    /// consumer reads them again from the committed offset for this one).
    func submit(_ sub: SubBatch) -> Bool {
        guard sub.batch.generation >= generation else {
            context.metrics.staleRecords.increment(by: sub.indices.count)
            context.logger.warning(
                "\(partition): \(sub.indices.count) record(s) from offset \(sub.batch.offset(at: sub.indices.first ?? 0)) fetched for an earlier assignment (generation \(sub.batch.generation), this one \(generation)); the new assignment reads them again"
            )
            return false
        }
        let last = sub.batch.offset(at: sub.indices.last ?? 0)
        let accepted = state.withLock { s -> Bool in
            guard s.accepting else { return false }
            s.queued += 1
            s.lastReceived = (last, ContinuousClock.now)
            s.idleSent = nil
            return true
        }
        if accepted { work.yield(.records(sub)) }
        return accepted
    }

    func replaceModel(_ model: DetectionModel?, config: DetectionConfig) {
        work.yield(.replaceModel(model, config))
    }

    func requestSnapshot() { work.yield(.snapshot) }

    /// Route stage: asks the worker to tell the detect stage if its partition is idle.
    func requestIdleCheck() { work.yield(.idleCheck) }

    /// Sends an idle heartbeat to every repartition partition when this input partition has
    /// been read to its end (per the last fetch's high watermark) and nothing arrived for a
    /// second: the detect stage then stops holding other partitions' events back for it.
    /// Repeated every 30 s while idle (a detect worker may start from an older position).
    /// Runs in the worker's turn, so it follows every record the worker sent before.
    private func sendIdleHeartbeat(watermark: Int64) async {
        guard let topics = context.repartition, topics.bySourcePartitions > 0, topics.byUserPartitions > 0,
            let (low, high) = context.consumer.fetchedWatermarks(partition)
        else { return }
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            guard s.queued == 0, s.unfinished == 0 else { return false }
            if let received = s.lastReceived, now - received.at < .seconds(1) { return false }
            if let sent = s.idleSent, now - sent < .seconds(30) { return false }
            let next = s.lastReceived.map { $0.offset + 1 } ?? s.committed ?? low
            guard next >= high else { return false }
            s.idleSent = now
            return true
        }
        guard due else { return }
        let bytes = RepartitionRecord.idleHeartbeat(
            stream: origin, partition: partition.partition, streams: topics.inputPartitions, watermark: watermark)
        var messages: [ProducerMessage] = []
        for (topic, count) in [(topics.bySource, topics.bySourcePartitions), (topics.byUser, topics.byUserPartitions)] {
            for destination in 0..<count {
                messages.append(ProducerMessage(topic: topic, partition: destination, value: bytes))
            }
        }
        context.metrics.idleHeartbeats.increment()
        // Nothing waits on these: a lost one is replaced 30 s later, and any record resets it.
        await context.producer.enqueue(messages) { _ in }
    }

    /// The offset last stored for commit.
    var storedOffset: Int64? { state.withLock { $0.stored } }

    /// Records that a commit including `offset` succeeded.
    func markCommitted(_ offset: Int64) {
        state.withLock { $0.committed = max($0.committed ?? .min, offset) }
    }

    /// Stops accepting work and waits until everything queued is processed and acknowledged
    /// (at most `timeout`). Returns the number of unfinished record ranges left.
    func drain(timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        state.withLock { $0.accepting = false }
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { [self] in
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = state.withLock { s -> Bool in
                        if s.queued == 0 && s.unfinished == 0 { return true }
                        s.drainWaiters.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            if !first { notifyAll() }  // let the waiter go; the timeout won
            return first
        }
        work.finish()
        if finished {
            // The worker ends once its final snapshot is written — to the changelog too, which
            // waits for the broker: bounded by the deadline (the local copy is written first,
            // and an unwritten changelog copy only means an older snapshot is restored).
            while stopped.current == nil, ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(10))
            }
        } else {
            retries.finish()
        }
        return state.withLock { $0.unfinished + $0.queued }
    }

    private func notifyIfDrained() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.queued == 0 && s.unfinished == 0 else { return [] }
            defer { s.drainWaiters.removeAll() }
            return s.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func notifyAll() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            defer { s.drainWaiters.removeAll() }
            return s.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Keeps a snapshot until its offset is committable, then writes it (see `finish`).
    private func holdSnapshot(_ bytes: [UInt8], nextOffset: Int64) {
        let ready = state.withLock { s -> Bool in
            if let committable = s.tracker.committable, committable >= nextOffset { return true }
            s.heldSnapshot = (nextOffset, bytes)
            return false
        }
        if ready { saveSnapshot(bytes, nextOffset: nextOffset) }
    }

    /// Writes a snapshot whose records are all finished: to the local cache now, and queued
    /// for the changelog.
    private func saveSnapshot(_ bytes: [UInt8], nextOffset: Int64) {
        if let store = context.stateStore {
            do {
                try store.save(
                    partition, nextOffset: nextOffset, state: bytes, protecting: state.withLock { $0.committed })
            } catch {
                context.logger.warning(
                    "could not save a state snapshot for \(partition): \(error.localizedDescription)")
            }
        }
        if context.changelog != nil { changelogWrites.yield((nextOffset, bytes)) }
    }

    // MARK: Processing

    #if DEBUG
        /// Tests only (debug builds): a record containing these bytes crashes the process, to
        /// prove that a poison record cannot stop a partition — every real crash found is fixed,
        /// so none is left to test with.
        private static let crashTrigger: [UInt8]? = ProcessInfo.processInfo.environment["VIGIL_TEST_CRASH_ON"].map {
            Array($0.utf8)
        }
    #endif

    /// The dead letter of a record that stopped the process twice while it was analysed.
    private func poisonLetter(_ record: ConsumerRecord, deaths: Int) -> ProducerMessage {
        var letter = StreamMessages.deadLetter(
            record, topic: context.settings.deadLetterTopic,
            errors: [
                RecordError(
                    index: 0, line: nil,
                    reason: "poison record: the process stopped \(deaths) times while analysing it; not analysed")
            ])
        letter.headers.append(KafkaHeader(name: StreamMessages.poisonHeader, string: String(deaths)))
        return letter
    }

    private func process(
        _ sub: SubBatch, engine: inout DetectionEngine, replayUntil: Int64,
        suspect: inout StateStore.ProcessingMarker?
    ) async {
        let started = DispatchTime.now().uptimeNanoseconds
        let settings = context.settings
        var messages: [ProducerMessage] = []
        var firstLive: Int64? = nil
        var lastLive: Int64 = -1
        var latestEvent: Int64 = .min
        var parsedEvents = 0
        var failedRecords = 0
        var replayed = 0
        let lateBefore = engine.statistics.lateEvents
        let batch = sub.batch
        var parsed = ParsedInput()
        var futureEvents = 0
        // Events dated past the skew are refused (dead-lettered with the reason): no clock can
        // log in the future, and one such event would make every later one late.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let latestTime = now.addingSaturated(Int64(settings.maxFutureSkewMs))
        var anomalies: [Anomaly] = []
        // The route stage sends events on instead of detecting (see ``StreamTopology``).
        var router = context.stage == .route ? context.repartition.map { Router($0, partition: partition) } : nil
        let store = context.stateStore
        let span = (first: batch.offset(at: sub.indices.first ?? 0), last: batch.offset(at: sub.indices.last ?? 0))
        let careful = store != nil && suspect.map { $0.first <= span.last && $0.last >= span.first } == true
        if let store, !careful {
            store.beginProcessing(partition, .init(first: span.first, last: span.last, deaths: 0))
        }
        for index in sub.indices {
            let offset = batch.offset(at: index)
            let live = offset >= replayUntil
            if live {
                if firstLive == nil { firstLive = offset }
                lastLive = offset
            } else {
                replayed += 1
            }
            if careful, let store {
                let single = suspect.map { $0.first == offset && $0.last == offset } == true
                let deaths = single ? suspect?.deaths ?? 0 : 0
                if single && deaths >= 2 {
                    context.logger.error(
                        "\(partition)@\(offset): the process stopped \(deaths) times analysing this record; sending it to the dead-letter topic unanalysed"
                    )
                    context.metrics.poisonRecords.increment()
                    if live {
                        failedRecords += 1
                        messages.append(poisonLetter(batch[index], deaths: deaths))
                    }
                    suspect = nil
                    continue
                }
                store.beginProcessing(partition, .init(first: offset, last: offset, deaths: deaths))
                if let s = suspect, offset >= s.last { suspect = nil }
            }
            #if DEBUG
                if let trigger = Self.crashTrigger,
                    batch.withValue(at: index, { $0.map { Array($0).contains(trigger) } ?? false })
                {
                    fatalError("VIGIL_TEST_CRASH_ON matched \(partition)@\(offset)")
                }
            #endif
            let timestamp = batch.timestamp(at: index)
            let options = ParseOptions(
                referenceTime: timestamp ?? (latestEvent == .min ? now : latestEvent), fallbackTime: timestamp,
                latestTime: latestTime, origin: ParseOptions.origin(partition: origin, offset: offset))
            parsed.removeAll()
            batch.withValue(at: index) { value in
                if let value {
                    LogParser.parseRecord(value, options: options, into: &parsed)
                } else {
                    parsed.records = 1
                    parsed.errors.append(
                        RecordError(index: 0, line: nil, reason: "null value (tombstone): nothing to analyse"))
                }
            }
            parsedEvents += parsed.events.count
            futureEvents += parsed.futureEvents
            anomalies.removeAll(keepingCapacity: true)
            // Through a buffer pointer, in place: a copy retains every string field of the event.
            if router != nil {
                parsed.events.withUnsafeMutableBufferPointer { events in
                    for i in events.indices {
                        if events[i].timestamp > latestEvent { latestEvent = events[i].timestamp }
                        let watermark = engine.resolve(&events[i])
                        // Replayed records rebuild the connections only: they were sent before.
                        if live {
                            router?.add(
                                events[i], offset: offset, index: UInt32(truncatingIfNeeded: i), watermark: watermark)
                        }
                    }
                }
            } else {
                parsed.events.withUnsafeMutableBufferPointer { events in
                    for i in events.indices {
                        if events[i].timestamp > latestEvent { latestEvent = events[i].timestamp }
                        anomalies.append(contentsOf: engine.process(&events[i]))
                    }
                }
            }
            if !live { continue }
            if !anomalies.isEmpty || !parsed.errors.isEmpty {
                // Only now is the record itself needed (for headers and dead letters).
                let record = batch[index]
                for anomaly in anomalies {
                    messages.append(StreamMessages.anomaly(anomaly, topic: settings.outputTopic, source: record))
                    context.metrics.anomaly(detector: anomaly.detector.rawValue, severity: anomaly.severity.rawValue)
                }
                if !parsed.errors.isEmpty {
                    failedRecords += 1
                    messages.append(
                        StreamMessages.deadLetter(record, topic: settings.deadLetterTopic, errors: parsed.errors))
                    context.logger.debug(
                        "record \(partition)@\(offset) to the dead-letter topic: \(parsed.errors.first.map(String.init(describing:)) ?? "")"
                    )
                }
            }
        }
        store?.endProcessing(partition)
        if var router {
            let heartbeat = state.withLock { s -> Bool in
                let due = s.lastHeartbeat.map { ContinuousClock.now - $0 >= .seconds(1) } ?? true
                if due { s.lastHeartbeat = .now }
                return due
            }
            let routed = router.finish(
                watermark: engine.repartitionClock.watermark, heartbeat: heartbeat, engine: engine)
            context.metrics.repartitioned.increment(by: router.events)
            context.metrics.repartitionBytes.increment(by: routed.reduce(0) { $0 + ($1.value?.count ?? 0) })
            messages.append(contentsOf: routed)
        }
        let metrics = context.metrics
        metrics.consumed.increment(by: sub.indices.count)
        metrics.parsed.increment(by: parsedEvents)
        if failedRecords > 0 { metrics.failed.increment(by: failedRecords) }
        if replayed > 0 { metrics.replayed.increment(by: replayed) }
        if futureEvents > 0 { metrics.future.increment(by: futureEvents) }
        let late = engine.statistics.lateEvents - lateBefore
        if late > 0 { metrics.late.increment(by: late) }
        metrics.batchDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))

        await publish(sub, messages, firstLive: firstLive, lastLive: lastLive, latestEvent: latestEvent)
    }

    /// The detect stage of a repartitioned stream: each record holds events the route stage
    /// sent (``RepartitionRecord``); the engine skips the ones it already processed (a replay
    /// of the route stage) and the anomalies of this topic's scope are published, their
    /// headers naming the input record the event came from.
    private func detect(_ sub: SubBatch, engine: inout DetectionEngine, replayUntil: Int64) async {
        let started = DispatchTime.now().uptimeNanoseconds
        let settings = context.settings
        let scope = context.repartition?.scope(of: partition.topic) ?? .source
        var messages: [ProducerMessage] = []
        var firstLive: Int64? = nil
        var lastLive: Int64 = -1
        var latestEvent: Int64 = .min
        var events = 0
        var failedRecords = 0
        var replayed = 0
        let lateBefore = engine.statistics.lateEvents
        let duplicatesBefore = engine.statistics.duplicates
        let malformedBefore = engine.statistics.malformed
        let batch = sub.batch
        var found: [(anomaly: Anomaly, origin: EventOrigin)] = []
        for index in sub.indices {
            let offset = batch.offset(at: index)
            let live = offset >= replayUntil
            if live {
                if firstLive == nil { firstLive = offset }
                lastLive = offset
            } else {
                replayed += 1
            }
            found.removeAll(keepingCapacity: true)
            let problem = batch.withValue(at: index) { value -> String? in
                guard let value else { return "null value (tombstone): not a repartition record" }
                let bytes = UnsafeRawBufferPointer(value)
                do {
                    let header = try RepartitionRecord.header(bytes)
                    try RepartitionRecord.forEachEvent(bytes, header) {
                        encoded, origin throws(EventCodec.DecodeError) in
                        events += 1
                        if origin.watermark > latestEvent { latestEvent = origin.watermark }
                        _ = try engine.receive(encoded: encoded, from: origin)
                    }
                    engine.advance(
                        stream: header.stream, streams: header.streams, watermark: header.watermark, idle: header.idle)
                    return nil
                } catch {
                    return String(describing: error)
                }
            }
            // Events held for event-time order are processed when their turn comes — perhaps
            // in a later record's turn: their anomalies go out (and are committed) with it.
            // A replay from a snapshot reproduces the same turns (the held events are in it).
            engine.release { anomaly, origin in
                if scope.keeps(anomaly) { found.append((anomaly, origin)) }
            }
            guard live else { continue }
            for (anomaly, origin) in found {
                messages.append(
                    StreamMessages.anomaly(
                        anomaly, topic: settings.outputTopic, sourceTopic: settings.inputTopic,
                        sourcePartition: origin.partition, sourceOffset: origin.offset))
                context.metrics.anomaly(detector: anomaly.detector.rawValue, severity: anomaly.severity.rawValue)
            }
            if let problem {
                failedRecords += 1
                messages.append(
                    StreamMessages.deadLetter(
                        batch[index], topic: settings.deadLetterTopic,
                        errors: [RecordError(index: 0, line: nil, reason: problem)]))
                context.logger.warning("record \(partition)@\(offset) to the dead-letter topic: \(problem)")
            }
        }
        context.metrics.reorderQueued(partition, engine.repartitionClock.queued)
        let metrics = context.metrics
        metrics.consumed.increment(by: sub.indices.count)
        metrics.parsed.increment(by: events)
        if failedRecords > 0 { metrics.failed.increment(by: failedRecords) }
        if replayed > 0 { metrics.replayed.increment(by: replayed) }
        let late = engine.statistics.lateEvents - lateBefore
        if late > 0 { metrics.late.increment(by: late) }
        let duplicates = engine.statistics.duplicates - duplicatesBefore
        if duplicates > 0 { metrics.repartitionDuplicates.increment(by: duplicates) }
        let malformed = engine.statistics.malformed - malformedBefore
        if malformed > 0 {
            metrics.failed.increment(by: malformed)
            context.logger.warning(
                "\(partition): \(malformed) held event(s) did not decode when their turn came; skipped")
        }
        metrics.batchDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        await publish(sub, messages, firstLive: firstLive, lastLive: lastLive, latestEvent: latestEvent)
    }

    /// Publishes what a batch produced; its live records are finished once all of it is
    /// acknowledged.
    private func publish(
        _ sub: SubBatch, _ messages: [ProducerMessage], firstLive: Int64?, lastLive: Int64, latestEvent: Int64
    ) async {
        let settings = context.settings
        guard let first = firstLive else {
            // Replay only: nothing to publish or commit.
            context.gate.release(events: sub.indices.count, bytes: sub.bytes)
            return
        }
        let registered = state.withLock { s -> Bool in
            guard s.tracker.start(first: first, last: lastLive) else { return false }
            s.unfinished += 1
            return true
        }
        guard registered else {
            // Cannot happen after the order check in processLoop; kept so that no path can
            // register a range that would let the commit pass unfinished records.
            context.logger.error("\(partition): records \(first)...\(lastLive) out of order; not published")
            context.gate.release(events: sub.indices.count, bytes: sub.bytes)
            return
        }
        let deadLetters = messages.filter { $0.topic == settings.deadLetterTopic }.count
        let range = FinishedRange(
            first: first, events: sub.indices.count, bytes: sub.bytes, deadLetters: deadLetters,
            latestEvent: latestEvent)
        // Enqueued from the worker itself, so one partition's messages keep their order (and a
        // full producer queue slows this partition down).
        await publish(messages, range: range, attempt: 0)
    }

    /// Produces `messages`; once all are acknowledged `range` is finished. Failed messages are
    /// retried with backoff (by ``retryLoop()``) — dropping them would lose anomalies, and not
    /// committing keeps them safe meanwhile.
    private func publish(_ messages: [ProducerMessage], range: FinishedRange, attempt: Int) async {
        if messages.isEmpty {
            finish(range)
            return
        }
        await context.producer.enqueue(messages) { [self] results in
            var failed: [ProducerMessage] = []
            var firstError: KafkaError? = nil
            var permanent: [(topic: String, error: KafkaError)] = []
            var deliveredTopics: Set<String> = []
            for (message, result) in zip(messages, results) {
                guard case .failure(let error) = result else {
                    deliveredTopics.insert(message.topic)
                    continue
                }
                if firstError == nil { firstError = error }
                if error.isPermanentDeliveryError
                    && !(error.code == .messageTooLarge
                        && message.topic == context.settings.deadLetterTopic
                        && !message.headers.contains(where: { $0.name == StreamMessages.truncatedHeader }))
                {
                    permanent.append((message.topic, error))
                }
                if error.code == .messageTooLarge && message.topic == context.settings.deadLetterTopic
                    && !message.headers.contains(where: { $0.name == StreamMessages.truncatedHeader })
                {
                    context.logger.error(
                        "dead letter for \(partition) from offset \(range.first) is too large for the producer or broker (\(message.value?.count ?? 0) bytes); sending it with its value cut to \(StreamMessages.truncatedValueBytes) bytes"
                    )
                    failed.append(StreamMessages.truncatedDeadLetter(message))
                } else {
                    failed.append(message)
                }
            }
            for topic in deliveredTopics { context.problems.delivered(topic: topic) }
            if failed.isEmpty {
                finish(range)
                return
            }
            for (topic, error) in permanent where context.problems.report(topic: topic, error) {
                context.metrics.permanentErrors.increment()
                context.logger.error(
                    "delivery to \(topic) refused permanently (\(error.code.name): \(error.message)); records from \(partition)@\(range.first) stay uncommitted (on_permanent_produce_error: \(context.settings.onPermanentError.rawValue))"
                )
            }
            if !permanent.isEmpty {
                if context.settings.onPermanentError == .exit {
                    context.stop("permanent delivery error: \(context.problems.firstProblem ?? "")")
                }
            }
            if firstError?.isClientClosing == true {
                // The producer is closing (shutdown past its deadline): retrying cannot
                // succeed. The range stays unfinished, so it is not committed and is read
                // again by whoever owns the partition next.
                context.logger.warning(
                    "\(failed.count) message(s) for \(partition) from offset \(range.first) not delivered before the producer closed; those records will be read again"
                )
                return
            }
            if context.stage == .route {
                // A retry later would let this partition's later events overtake these in the
                // repartition topics, and the detect stage skips events older than the newest
                // it has from a partition. The route producer waits for the broker without a
                // timeout, so only a refusal gets here: stop; the records stay uncommitted and
                // are read again after the restart.
                context.logger.error(
                    "\(failed.count) repartition message(s) for \(partition) from offset \(range.first) refused (\(firstError.map(String.init(describing:)) ?? "unknown")); stopping so they are not sent out of order"
                )
                context.stop("repartition delivery failed: \(firstError.map(String.init(describing:)) ?? "unknown")")
                return
            }
            context.metrics.produceRetries.increment(by: failed.count)
            let backoff = min(5_000, 100 << min(attempt, 6))
            context.logger.warning(
                "\(failed.count) message(s) for \(partition) not delivered (\(firstError.map(String.init(describing:)) ?? "unknown")); retrying in \(backoff) ms (attempt \(attempt + 1))"
            )
            retries.yield(
                Retry(
                    messages: failed, range: range, attempt: attempt + 1,
                    due: .now + .milliseconds(backoff)))
        }
    }

    private func finish(_ range: FinishedRange) {
        let (advanced, snapshot) = state.withLock { s -> (Int64?, (offset: Int64, bytes: [UInt8])?) in
            s.unfinished -= 1
            let advanced = s.tracker.finish(first: range.first)
            guard let advanced, let held = s.heldSnapshot, held.offset <= advanced else { return (advanced, nil) }
            s.heldSnapshot = nil
            return (advanced, held)
        }
        if let snapshot { saveSnapshot(snapshot.bytes, nextOffset: snapshot.offset) }
        if let advanced {
            let failures = context.consumer.store([TopicPartitionOffset(partition, offset: advanced)])
            if let error = failures[partition] {
                if error.code != .state {
                    context.logger.warning("could not store offset \(advanced) for \(partition): \(error)")
                }
            } else {
                state.withLock { $0.stored = max($0.stored ?? .min, advanced) }
            }
        }
        if range.deadLetters > 0 { context.metrics.deadLettered.increment(by: range.deadLetters) }
        if range.latestEvent != .min {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            if now >= range.latestEvent { context.metrics.endToEnd.recordMilliseconds(now - range.latestEvent) }
        }
        context.gate.release(events: range.events, bytes: range.bytes)
        notifyIfDrained()
    }
}

/// A range of records whose messages are being published, and what finishing it releases.
struct FinishedRange: Sendable {
    /// The range's first offset (its key in the offset tracker).
    var first: Int64
    var events: Int
    var bytes: Int
    var deadLetters: Int
    /// The latest event time in the range, for the end-to-end latency metric.
    var latestEvent: Int64
}
