import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VigilDetection
import VigilKafka

/// Why the stream did not start (a missing topic, a failed subscription).
public struct StreamStartError: Error, CustomStringConvertible {
    public var description: String
}

/// How a shutdown went.
public struct ShutdownReport: Sendable, CustomStringConvertible {
    /// Everything in flight was finished, flushed and committed before the deadline.
    public var clean: Bool
    /// Record ranges still unfinished at the deadline (their offsets were not committed, so
    /// they will be read again).
    public var unfinished: Int
    /// Messages librdkafka still held unacknowledged.
    public var unflushed: Int
    public var commitError: String?
    public var closeError: String?
    /// Why the stream did not start (a missing topic, a failed subscription); nil if it ran.
    public var startError: String?
    /// The permanent delivery error that stopped the stream (``PermanentErrorPolicy/exit``).
    public var permanentError: String?

    public var description: String {
        if let startError { return "did not start: \(startError)" }
        if let permanentError {
            return
                "stopped on a permanent delivery error (\(permanentError)); \(unfinished) record range(s) left uncommitted"
        }
        if clean { return "clean shutdown: everything finished, flushed and committed" }
        var parts: [String] = []
        if unfinished > 0 { parts.append("\(unfinished) unfinished record range(s) will be read again") }
        if unflushed > 0 { parts.append("\(unflushed) message(s) not acknowledged by the broker") }
        if let commitError { parts.append("final commit failed: \(commitError)") }
        if let closeError { parts.append("leaving the group failed: \(closeError)") }
        return "shutdown deadline exceeded: " + parts.joined(separator: "; ")
    }
}

/// Liveness and readiness of the stream.
public struct StreamHealth: Sendable {
    /// The consumer's poll thread runs and polled recently.
    public var live: Bool
    /// Joined the group with at least one partition assigned, and no delivery is refused
    /// permanently.
    public var ready: Bool
    /// Why deliveries are refused for good, if they are (readiness fails while they are).
    public var deliveryProblem: String?
    public var assignedPartitions: Int
    /// Records and bytes read but not finished (bounded by the in-flight caps).
    public var inFlightEvents: Int
    public var inFlightBytes: Int
    public var millisecondsSinceLastPoll: UInt64

    /// The health of a process running several stages: live if every stage is, ready if
    /// some partition is assigned and no stage has deliveries refused for good.
    public static func combined(_ stages: [StreamHealth]) -> StreamHealth {
        guard var total = stages.first else {
            return StreamHealth(
                live: false, ready: false, deliveryProblem: nil, assignedPartitions: 0, inFlightEvents: 0,
                inFlightBytes: 0, millisecondsSinceLastPoll: 0)
        }
        for health in stages.dropFirst() {
            total.live = total.live && health.live
            total.deliveryProblem = total.deliveryProblem ?? health.deliveryProblem
            total.assignedPartitions += health.assignedPartitions
            total.inFlightEvents += health.inFlightEvents
            total.inFlightBytes += health.inFlightBytes
            total.millisecondsSinceLastPoll = max(total.millisecondsSinceLastPoll, health.millisecondsSinceLastPoll)
        }
        total.ready = total.assignedPartitions > 0 && total.deliveryProblem == nil
        return total
    }
}

/// `vigil stream`: consume raw log records, detect, publish anomalies, and commit a record's
/// offset only once every anomaly derived from it is acknowledged by the broker.
///
/// consumer batches → per-partition workers (parse, detect; in offset order) → producer
/// (anomalies, dead letters) → delivery reports → contiguous offsets stored → periodic commit.
/// Memory is bounded by the in-flight caps: at the cap, intake stops reading batches, the
/// consumer's buffer fills and librdkafka stops fetching.
///
/// A `Service`: ``run()`` runs until a graceful shutdown (SIGTERM/SIGINT through the service
/// group), ``stop(reason:)`` or a fatal Kafka error, then shuts down within
/// `shutdownTimeoutMs` and leaves the outcome in ``report``. Everything it runs — intake, the
/// commit, snapshot and gauge loops, one worker per assigned partition — is a child task of
/// ``run()``.
public final class StreamPipeline: Service, Sendable {
    public let configuration: StreamConfiguration
    private let registry: PartitionRegistry
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let gate: InFlightGate
    private let metrics: StreamMetrics
    private let logger: Logger
    private let stopRequested = Promise<String>()
    private let finalReport = Promise<ShutdownReport>()
    private let problems = DeliveryProblems()

    /// Creates the Kafka clients (failing on invalid properties) without joining the group yet.
    /// The stage this pipeline runs (see ``StreamTopology``).
    public let stage: StreamStage

    public init(
        configuration: StreamConfiguration, stage: StreamStage = .single, detection: DetectionConfig = .default,
        model: DetectionModel?, logger: Logger
    ) throws {
        let configuration = configuration.forStage(stage)
        self.configuration = configuration
        self.stage = stage
        var logger = logger
        if stage != .single { logger[metadataKey: "stage"] = "\(stage.rawValue)" }
        self.logger = logger
        let metrics = StreamMetrics(group: configuration.groupID, stage: stage == .single ? nil : stage.rawValue)
        self.metrics = metrics
        gate = InFlightGate(maxEvents: configuration.maxInFlightEvents, maxBytes: configuration.maxInFlightBytes)
        registry = PartitionRegistry(detection: detection, model: model, logger: logger, metrics: metrics)
        let stop = stopRequested
        let observer = KafkaClientObserver(
            logger: logger,
            onError: { error in
                if error.isFatal { stop.fulfill("fatal Kafka error: \(error)") }
            }, onStatistics: { metrics.statistics($0) })
        consumer = try KafkaConsumer(
            configuration: configuration.consumerConfiguration, observer: observer, listener: registry)
        var producerConfiguration = configuration.producerConfiguration
        // The route stage's messages must arrive in order (see PartitionWorker.publish): its
        // producer waits for the broker as long as it takes instead of failing them.
        if stage == .route {
            producerConfiguration.messageTimeout = .zero
            // Repartition records are read once, within a day, by the detect stage: compressing
            // them cost ~10% of the route stage's CPU (measured; LZ4 on 95 MB of events) for
            // bytes the broker drops a day later. A `producer:` setting still overrides it.
            producerConfiguration.compression = .none
        }
        producer = try KafkaProducer(configuration: producerConfiguration, observer: observer)
        let store = configuration.stateDirectory.map { directory in
            var store = StateStore(directory: directory, group: configuration.groupID)
            // Keep enough snapshots that one is at or before the committed offset, which trails
            // the newest snapshot by up to a commit interval or two.
            store.keep = max(3, 2 * configuration.commitIntervalMs / max(1, configuration.snapshotIntervalMs) + 2)
            return store
        }
        registry.context = PartitionContext(
            settings: configuration, detection: detection, producer: producer,
            consumer: consumer, gate: gate, metrics: metrics, stateStore: store,
            logger: logger, problems: problems, stop: { stop.fulfill($0) }, stage: stage,
            repartition: stage == .single
                ? nil : RepartitionTopics(bySource: configuration.bySourceTopic, byUser: configuration.byUserTopic))
    }

    /// The topics this stage reads.
    private var inputTopics: [String] {
        stage == .detect ? [configuration.bySourceTopic, configuration.byUserTopic] : [configuration.inputTopic]
    }

    /// Asks for a graceful shutdown.
    public func stop(reason: String = "stop requested") { stopRequested.fulfill(reason) }

    /// How the last run ended; nil while it runs.
    public var report: ShutdownReport? { finalReport.current }

    public var health: StreamHealth {
        let consumerHealth = consumer.health
        let assigned = registry.count
        let problem = problems.summary
        return StreamHealth(
            live: consumerHealth.pollThreadRunning && consumerHealth.millisecondsSinceLastPoll < 15_000,
            ready: assigned > 0 && problem == nil, deliveryProblem: problem, assignedPartitions: assigned,
            inFlightEvents: gate.events, inFlightBytes: gate.bytes,
            millisecondsSinceLastPoll: consumerHealth.millisecondsSinceLastPoll)
    }

    /// Swaps the model in every partition's engine, keeping their state; partitions assigned
    /// later start with it too.
    public func replaceModel(_ model: DetectionModel?) { registry.replaceModel(model) }

    /// Loads a model with `load` and swaps it in (see ``replaceModel(_:)``). If loading throws,
    /// the model in use stays and the error is rethrown. Either way the outcome is counted in
    /// `vigil_model_reloads_total{result="ok"|"failed"}`.
    public func reloadModel(_ load: () throws -> DetectionModel) throws {
        let model: DetectionModel
        do {
            model = try load()
        } catch {
            metrics.modelReloadFailed.increment()
            throw error
        }
        registry.replaceModel(model)
        metrics.modelReloaded.increment()
    }

    /// Runs until a graceful shutdown, ``stop(reason:)`` or a fatal error; then shuts down
    /// within the configured deadline and records the outcome in ``report``. Throws
    /// ``StreamStartError`` when the stream could not start (missing topics, subscription).
    public func run() async throws {
        let report = await runToCompletion()
        if let startError = report.startError { throw StreamStartError(description: startError) }
    }

    /// Runs like ``run()`` and returns how it ended, start errors included (for a caller
    /// outside a service group).
    public func runToCompletion() async -> ShutdownReport {
        let report = await withGracefulShutdownHandler {
            await self.runUntilStopped()
        } onGracefulShutdown: {
            self.stop(reason: "graceful shutdown requested")
        }
        finalReport.fulfill(report)
        return report
    }

    private func runUntilStopped() async -> ShutdownReport {
        if let problem = await missingTopics() {
            logger.critical("\(problem)")
            return await shutdown(reason: "missing topics", startError: problem)
        }
        let topics = inputTopics.joined(separator: ", ")
        do {
            try consumer.subscribe(inputTopics)
        } catch {
            logger.critical("cannot subscribe to \(topics): \(error)")
            return await shutdown(reason: "subscribe failed", startError: "cannot subscribe to \(topics): \(error)")
        }
        let outputs =
            stage == .route
            ? "\(configuration.bySourceTopic) + \(configuration.byUserTopic) (route stage)"
            : "\(configuration.outputTopic)\(stage == .detect ? " (detect stage)" : "")"
        logger.info(
            "vigil stream: \(topics) → \(outputs) (dead letters: \(configuration.deadLetterTopic)), group \(configuration.groupID), state \(configuration.stateTopic.map { "in \($0)" } ?? "local only")"
        )
        return await withTaskGroup(of: Void.self) { workers in
            // The partition workers outlive intake: they finish in-flight work during shutdown.
            workers.addTask { await self.registry.runWorkers() }
            let reason = await withTaskGroup(of: String?.self) { loops in
                loops.addTask {
                    await self.intakeLoop()
                    // Cancelled: the service group stopped (another service failed), not Kafka.
                    return Task.isCancelled ? "cancelled" : "the consumer stopped delivering records"
                }
                loops.addTask {
                    await self.commitLoop()
                    return nil
                }
                loops.addTask {
                    await self.snapshotLoop()
                    return nil
                }
                loops.addTask {
                    await self.gaugeLoop()
                    return nil
                }
                loops.addTask {
                    await self.idleLoop()
                    return nil
                }
                loops.addTask { await self.stopRequested.value }
                var reason: String? = nil
                while reason == nil, let next = await loops.next() { reason = next }
                let stopping = reason ?? "stopped"
                // Every child must be able to end: the stop waiter, and intake held at the gate.
                stopRequested.fulfill(stopping)
                gate.close()
                loops.cancelAll()
                return stopping
            }
            let report = await shutdown(reason: reason)
            registry.finishWorkers()
            // A worker still running here is past the deadline: its records are read again.
            workers.cancelAll()
            return report
        }
    }

    /// Commits the stored offsets every `commitIntervalMs`, synchronously (off the cooperative
    /// pool) so success is known: it tells the workers which snapshots recovery still needs.
    ///
    /// Every few commits the broker's committed offsets are checked against the stored ones:
    /// librdkafka leaves a stored position out of a commit, with no error, when it compares
    /// below the committed one (leader epochs first; librdkafka issues #4384, #4882, seen with
    /// Tansu after a rebalance). Such a partition is committed explicitly.
    private func commitLoop() async {
        let interval = Duration.milliseconds(configuration.commitIntervalMs)
        let timeout = Duration.milliseconds(max(1_000, configuration.commitIntervalMs))
        var cycle = 0
        while (try? await Task.sleep(for: interval)) != nil {
            let stored = registry.storedOffsets()
            do {
                try await consumer.commit(timeout: timeout)
                registry.markCommitted(stored)
            } catch {
                metrics.commitFailures.increment()
                logger.warning("offset commit failed: \(error); retrying in \(configuration.commitIntervalMs) ms")
                continue
            }
            cycle += 1
            if cycle % 6 == 0 { await repairSkippedCommits(stored, timeout: timeout) }
        }
    }

    /// Commits explicitly the stored offsets the broker does not have after a successful commit.
    private func repairSkippedCommits(_ stored: [TopicPartition: Int64], timeout: Duration) async {
        let assigned = stored.filter { consumer.isAssigned($0.key) }
        guard !assigned.isEmpty else { return }
        let committed: [TopicPartitionOffset]
        do { committed = try await consumer.committed(assigned.keys.sorted(), timeout: timeout) } catch {
            logger.debug("could not read the committed offsets to check them: \(error)")
            return
        }
        let broker = Dictionary(committed.map { ($0.topicPartition, $0.offset) }, uniquingKeysWith: max)
        let behind = assigned.filter { (broker[$0.key] ?? -1) < $0.value }
        guard !behind.isEmpty else { return }
        let list = behind.sorted { $0.key < $1.key }
        logger.warning(
            "librdkafka left stored offsets out of the commit: \(list.map { "\($0.key) stored \($0.value), committed \(broker[$0.key] ?? -1)" }.joined(separator: "; ")); committing them explicitly"
        )
        do {
            try await consumer.commit(list.map { TopicPartitionOffset($0.key, offset: $0.value) }, timeout: timeout)
            metrics.commitsRepaired.increment(by: list.count)
            registry.markCommitted(behind)
        } catch {
            metrics.commitFailures.increment()
            logger.warning("explicit commit failed: \(error)")
        }
    }

    private func snapshotLoop() async {
        while (try? await Task.sleep(for: .milliseconds(configuration.snapshotIntervalMs))) != nil {
            registry.requestSnapshots()
        }
    }

    /// Route stage: every second each worker checks whether its partition went idle (see
    /// ``PartitionWorker/requestIdleCheck()``).
    private func idleLoop() async {
        guard stage == .route else { return }
        while (try? await Task.sleep(for: .seconds(1))) != nil {
            registry.requestIdleChecks()
        }
    }

    private func gaugeLoop() async {
        var watch = StallWatch()
        var tick = 0
        repeat {
            metrics.inFlight.record(gate.events)
            metrics.inFlightBytes.record(gate.bytes)
            metrics.assigned.record(registry.count)
            tick += 1
            if tick % 10 == 0 {
                for warning in watch.check(registry.progress(), metrics: metrics) { logger.warning("\(warning)") }
            }
        } while (try? await Task.sleep(for: .seconds(1))) != nil
    }

    private func intakeLoop() async {
        for await batch in consumer.batches {
            if stopRequested.current != nil || Task.isCancelled { break }
            await gate.acquire(events: batch.count, bytes: batch.byteCount)
            if stopRequested.current != nil || Task.isCancelled {
                gate.release(events: batch.count, bytes: batch.byteCount)
                break
            }
            await waitForWorkers(of: batch)
            dispatch(batch)
        }
    }

    /// Waits until every assigned partition of `batch` has its worker. The consumer's wait for
    /// the assignment listener is bounded; a listener still restoring a snapshot past it has
    /// not created the worker yet, and dropping the partition's records meanwhile would let
    /// that worker commit past them. Intake waits instead (the gate bounds what is held).
    private func waitForWorkers(of batch: ConsumerBatch) async {
        var warned = false
        for tp in batch.partitions {
            while registry.worker(tp) == nil, consumer.isAssigned(tp), stopRequested.current == nil,
                !Task.isCancelled
            {
                if !warned {
                    logger.warning("\(tp): assigned but its worker is not ready (restoring state); intake waits")
                    warned = true
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// Splits a batch by partition and hands each slice to its worker.
    private func dispatch(_ batch: ConsumerBatch) {
        // Records of a partition come in runs; no record is materialised here.
        var slices: [TopicPartition: (indices: [Int], bytes: Int)] = [:]
        var runStart = 0
        func flush(_ end: Int) {
            guard end > runStart else { return }
            let tp = TopicPartition(batch.topic(at: runStart), batch.partition(at: runStart))
            var bytes = 0
            for index in runStart..<end { bytes += batch.byteCount(at: index) }
            slices[tp, default: ([], 0)].indices.append(contentsOf: runStart..<end)
            slices[tp, default: ([], 0)].bytes += bytes
            runStart = end
        }
        for index in batch.indices where index > runStart && !batch.samePartition(index, runStart) { flush(index) }
        flush(batch.count)
        var accounted = 0
        for (tp, slice) in slices {
            accounted += slice.bytes
            let sub = SubBatch(batch: batch, indices: slice.indices, bytes: slice.bytes)
            if registry.worker(tp)?.submit(sub) != true {
                // Revoked while in flight: its next owner reads these records again.
                gate.release(events: slice.indices.count, bytes: slice.bytes)
            }
        }
        // The batch's byte count is what the gate was charged; release any part not handed out.
        if batch.byteCount > accounted { gate.release(events: 0, bytes: batch.byteCount - accounted) }
    }

    /// The input, output, dead-letter and state topics the cluster does not have — nil when all exist
    /// or the cluster cannot be asked yet (then librdkafka's own retries take over). Without
    /// this check a missing output topic would only show as produce retries, minutes later.
    /// The same answer gives the state topic's partition count, which turns the changelog on.
    /// Checks that the topics this stage uses exist (nil: they do, or they could not be
    /// checked — then the stream starts anyway, except a route stage, which must know the
    /// repartition topics' partition counts). Also turns the changelog on with its partition
    /// count, and gives the route stage its routing table.
    private func missingTopics() async -> String? {
        let repartition = [configuration.bySourceTopic, configuration.byUserTopic]
        let stageTopics: [String] =
            switch stage {
            case .single: [configuration.inputTopic, configuration.outputTopic, configuration.deadLetterTopic]
            case .route: [configuration.inputTopic, configuration.deadLetterTopic] + repartition
            case .detect: repartition + [configuration.outputTopic, configuration.deadLetterTopic]
            }
        let wanted = stageTopics + (configuration.stateTopic.map { [$0] } ?? [])
        do {
            let described = try await producer.describeTopics(wanted, timeout: .seconds(10))
            let found = Set(described.map(\.name))
            if let topic = configuration.stateTopic, let state = described.first(where: { $0.name == topic }) {
                registry.useChangelog(
                    StateChangelog(
                        topic: topic, group: configuration.groupID, partitions: Int32(state.partitions.count)))
            }
            func partitions(_ topic: String) -> Int { described.first { $0.name == topic }?.partitions.count ?? 0 }
            if stage == .route {
                registry.useRepartition(
                    RepartitionTopics(
                        bySource: configuration.bySourceTopic, byUser: configuration.byUserTopic,
                        bySourcePartitions: Int32(partitions(configuration.bySourceTopic)),
                        byUserPartitions: Int32(partitions(configuration.byUserTopic)),
                        inputPartitions: partitions(configuration.inputTopic)))
            }
            let missing = wanted.filter { !found.contains($0) }
            return missing.isEmpty
                ? nil
                : "topic(s) \(missing.joined(separator: ", ")) do not exist; create them first (vigil topics apply --file topics.yml)"
        } catch {
            if stage == .route {
                return
                    "could not describe \(wanted.joined(separator: ", ")) (\(error)): the route stage needs the repartition topics' partition counts"
            }
            logger.warning(
                "could not check that the topics exist (\(error)); starting anyway\(configuration.stateTopic.map { ", with snapshots kept locally only (the partition count of \($0) is unknown)" } ?? "")"
            )
            return nil
        }
    }

    private func shutdown(reason: String, startError: String? = nil) async -> ShutdownReport {
        let deadline = ContinuousClock.now + .milliseconds(configuration.shutdownTimeoutMs)
        func remaining() -> Duration { max(.milliseconds(100), deadline - .now) }
        logger.notice("shutting down (\(reason)); deadline \(configuration.shutdownTimeoutMs) ms")
        gate.close()
        var report = ShutdownReport(clean: true, unfinished: 0, unflushed: 0, startError: startError)
        // Finish what is in flight: processed, published, acknowledged, offsets stored.
        report.unfinished = await registry.drainAll(timeout: remaining())
        do { try producer.flush(timeout: remaining()) } catch { report.unflushed = producer.outstanding }
        do { try await consumer.commit(timeout: remaining()) } catch {
            // A lost assignment (say, after the brokers were unreachable for longer than the
            // session) must not be committed: its next owner resumes from the last commit.
            if error.code == .assignmentLost {
                logger.warning(
                    "final commit skipped: the group assignment was lost; the next owner reads from the last commit")
            } else if error.code != .state {
                report.commitError = "\(error)"
            }
        }
        do { try await consumer.close(timeout: remaining()) } catch { report.closeError = "\(error)" }
        report.unflushed = max(report.unflushed, producer.close(timeout: remaining()))
        if configuration.onPermanentError == .exit { report.permanentError = problems.firstProblem }
        report.clean =
            report.startError == nil && report.permanentError == nil && report.unfinished == 0 && report.unflushed == 0
            && report.commitError == nil && report.closeError == nil && ContinuousClock.now <= deadline
        if report.clean { logger.notice("\(report)") } else { logger.error("\(report)") }
        return report
    }
}

/// The assigned partitions and their workers; the consumer's rebalance listener.
final class PartitionRegistry: ConsumerRebalanceListener {
    private struct State {
        var workers: [TopicPartition: PartitionWorker] = [:]
        var model: DetectionModel?
        var context: PartitionContext?
    }
    private let state: Mutex<State>
    private let detection: DetectionConfig
    private let logger: Logger
    private let metrics: StreamMetrics
    /// Workers to start: ``runWorkers()`` runs each as a child task.
    private let started: AsyncStream<PartitionWorker>
    private let starting: AsyncStream<PartitionWorker>.Continuation

    init(detection: DetectionConfig, model: DetectionModel?, logger: Logger, metrics: StreamMetrics) {
        self.detection = detection
        self.logger = logger
        self.metrics = metrics
        state = Mutex(State(model: model))
        (started, starting) = AsyncStream<PartitionWorker>.makeStream()
    }

    /// Runs every worker created for an assigned partition, until ``finishWorkers()`` (or
    /// cancellation).
    func runWorkers() async {
        await withDiscardingTaskGroup { group in
            for await worker in started {
                group.addTask { await worker.run() }
            }
        }
    }

    /// No more workers will be created (shutdown).
    func finishWorkers() { starting.finish() }

    /// Set once, after the clients exist and before subscribing (no callback can run earlier).
    var context: PartitionContext? {
        get { state.withLock { $0.context } }
        set { state.withLock { $0.context = newValue } }
    }

    /// Snapshots also go to (and are restored from) `changelog`; set before subscribing.
    func useChangelog(_ changelog: StateChangelog) { state.withLock { $0.context?.changelog = changelog } }

    /// The route stage's routing table; set before subscribing.
    func useRepartition(_ topics: RepartitionTopics) { state.withLock { $0.context?.repartition = topics } }

    /// The detection configuration of `tp`'s engine: in the detect stage, with the other
    /// scope's rule-only detectors off.
    private func detection(for tp: TopicPartition, _ context: PartitionContext?) -> DetectionConfig {
        guard context?.stage == .detect, let scope = context?.repartition?.scope(of: tp.topic) else {
            return detection
        }
        return scope.configuration(detection)
    }

    var count: Int { state.withLock { $0.workers.count } }

    func worker(_ tp: TopicPartition) -> PartitionWorker? { state.withLock { $0.workers[tp] } }

    func requestSnapshots() {
        for worker in state.withLock({ Array($0.workers.values) }) { worker.requestSnapshot() }
    }

    func requestIdleChecks() {
        for worker in state.withLock({ Array($0.workers.values) }) { worker.requestIdleCheck() }
    }

    func replaceModel(_ model: DetectionModel?) {
        let (workers, context) = state.withLock { s -> ([PartitionWorker], PartitionContext?) in
            s.model = model
            return (Array(s.workers.values), s.context)
        }
        for worker in workers { worker.replaceModel(model, config: detection(for: worker.partition, context)) }
    }

    func partitionsAssigned(_ partitions: [TopicPartitionOffset]) async -> [TopicPartition: Int64] {
        metrics.rebalances.increment()
        guard let context else { return [:] }
        let generation = context.consumer.assignmentGeneration
        // This host's changelog checkpoints (read once): where a restore may start reading, and
        // what the slots hold if the read fails.
        var checkpoints: [TopicPartition: ChangelogCheckpoint] = [:]
        if let changelog = context.changelog, let store = context.stateStore {
            for assigned in partitions {
                let tp = assigned.topicPartition
                if let checkpoint = store.changelogCheckpoint(tp), checkpoint.topic == changelog.topic,
                    checkpoint.partition == changelog.changelogPartition(tp)
                {
                    checkpoints[tp] = checkpoint
                }
            }
        }
        let fromChangelog = await readChangelog(partitions, checkpoints: checkpoints, context: context)
        var overrides: [TopicPartition: Int64] = [:]
        for assigned in partitions {
            let tp = assigned.topicPartition
            // Read per partition: a model reloaded while earlier partitions restore is used
            // by the later ones, and replaceModel reaches the earlier ones (they are in
            // `workers` before the next model is read).
            let model = state.withLock { $0.model }
            let detection = detection(for: tp, context)
            var engine = DetectionEngine(config: detection, model: model)
            var replayUntil = Int64.min
            var restored = false
            // Restore the newest snapshot at or before the committed offset — the local cache's
            // if it is as new as the changelog's, else the changelog's — then replay the
            // records between it and the committed offset silently: the state is then exactly
            // what it was, on whichever machine it was made.
            let candidates = restoreCandidates(tp, committed: assigned.offset, context: context, fromChangelog)
            for candidate in candidates {
                do {
                    try engine.restore(candidate.bytes)
                    overrides[tp] = candidate.offset
                    replayUntil = assigned.offset
                    restored = true
                    (candidate.local ? metrics.restoredLocal : metrics.restoredChangelog).increment()
                    logger.info(
                        "\(tp): restored detector state at offset \(candidate.offset) from \(candidate.local ? "the local cache" : "the changelog") (\(candidate.bytes.count) bytes); replaying up to committed offset \(assigned.offset)"
                    )
                    break
                } catch {
                    logger.warning(
                        "\(tp): snapshot at \(candidate.offset) from \(candidate.local ? "the local cache" : "the changelog") unusable (\(error))"
                    )
                    engine = DetectionEngine(config: detection, model: model)
                }
            }
            if !restored {
                metrics.restoredNone.increment()
                if assigned.offset >= 0 {
                    logger.info(
                        "\(tp): no usable snapshot; starting with empty state at committed offset \(assigned.offset)")
                } else {
                    logger.info("\(tp): nothing committed yet; starting with empty state")
                }
            }
            let worker = PartitionWorker(
                partition: tp, engine: engine, replayUntil: replayUntil, restored: restored,
                committed: assigned.offset >= 0 ? assigned.offset : nil, generation: generation,
                interrupted: context.stateStore?.interruptedProcessing(tp),
                changelogSlots: context.changelog.map { changelog in
                    // What the slots hold: as read, else (the read failed) as this host last
                    // left them, so the slot recovery needs is not overwritten blindly.
                    ChangelogSlots(
                        slots: changelog.slots,
                        written: fromChangelog?.contents[tp]?.written ?? checkpoints[tp]?.written ?? [:])
                }, context: context)
            // Registered under the same lock that replaceModel reads the workers with: a model
            // set after `model` was read above reaches this worker too (its queue applies it).
            let current = state.withLock { s -> DetectionModel? in
                s.workers[tp] = worker
                return s.model
            }
            if current !== model { worker.replaceModel(current, config: detection) }
            starting.yield(worker)
        }
        return overrides
    }

    /// A snapshot restore could start from.
    private struct RestoreCandidate {
        var offset: Int64
        var bytes: [UInt8]
        var local: Bool
    }

    /// The snapshots at or before `committed`, best first: the newer of the local cache's and
    /// the changelog's (the local one when they are equally new), then the other.
    private func restoreCandidates(
        _ tp: TopicPartition, committed: Int64, context: PartitionContext, _ changelog: StateChangelog.ReadOutcome?
    ) -> [RestoreCandidate] {
        guard committed >= 0 else { return [] }
        var candidates: [RestoreCandidate] = []
        if let (offset, bytes) = context.stateStore?.latest(tp, atOrBefore: committed, logger: logger) {
            candidates.append(RestoreCandidate(offset: offset, bytes: bytes, local: true))
        }
        if let (offset, bytes) = changelog?.contents[tp]?.newest(atOrBefore: committed) {
            candidates.append(RestoreCandidate(offset: offset, bytes: bytes, local: false))
        }
        return candidates.sorted { $0.offset > $1.offset || ($0.offset == $1.offset && $0.local) }
    }

    /// Reads what the changelog holds for the assigned partitions that have a committed
    /// offset (the others start empty), in one pass; nil without a changelog or on failure
    /// (then the local cache is all there is, and the log says so).
    private func readChangelog(
        _ partitions: [TopicPartitionOffset], checkpoints: [TopicPartition: ChangelogCheckpoint],
        context: PartitionContext
    ) async -> StateChangelog.ReadOutcome? {
        guard let changelog = context.changelog else { return nil }
        let wanted = partitions.filter { $0.offset >= 0 }.map(\.topicPartition)
        guard !wanted.isEmpty else { return nil }
        // A changelog partition is read from this host's checkpoints when every wanted
        // partition in it has one (what came before is known), else from the beginning.
        var starts: [Int32: Int64] = [:]
        for (source, members) in Dictionary(grouping: wanted, by: changelog.changelogPartition) {
            let positions = members.compactMap { checkpoints[$0]?.position }
            if positions.count == members.count, let start = positions.min() { starts[source] = start }
        }
        do {
            var outcome = try await changelog.read(
                wanted, limits: Dictionary(partitions.map { ($0.topicPartition, $0.offset) }, uniquingKeysWith: max),
                from: starts, configuration: context.settings.consumerConfiguration,
                timeout: .milliseconds(context.settings.restoreTimeoutMs), logger: logger)
            // What the checkpoints say the slots held, unless the tail read saw them written since.
            for (tp, checkpoint) in checkpoints where starts[changelog.changelogPartition(tp)] != nil {
                outcome.contents[tp]?.written.merge(checkpoint.written) { tail, _ in tail }
            }
            metrics.restoreDuration.record(duration: outcome.duration)
            metrics.restoreBytes.increment(by: outcome.bytes)
            let found = outcome.contents.values.reduce(0) { $0 + $1.snapshots.count }
            let message =
                "read \(changelog.topic) for \(wanted.count) partition(s) (\(starts.isEmpty ? "from the beginning" : "from this host's checkpoint in \(starts.count) of \(Set(wanted.map(changelog.changelogPartition)).count) changelog partition(s)")): \(outcome.records) record(s), \(outcome.bytes) bytes, \(found) complete snapshot(s) in \(outcome.duration)"
            if outcome.complete {
                logger.info("\(message)")
            } else {
                logger.warning(
                    "\(message); stopped at the restore deadline (\(context.settings.restoreTimeoutMs) ms) before the end — newer snapshots may be missed"
                )
            }
            return outcome
        } catch {
            logger.error("could not read \(changelog.topic) to restore state: \(error); using the local cache only")
            return nil
        }
    }

    func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) async {
        metrics.rebalances.increment()
        if lost { metrics.partitionsLost.increment(by: partitions.count) }
        let workers = state.withLock { s in partitions.compactMap { s.workers.removeValue(forKey: $0) } }
        // Finish in-flight work so its offsets are stored before the consumer commits; a lost
        // partition is not committed, but finishing still publishes what was detected.
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask { [logger] in
                    let left = await worker.drain(timeout: .seconds(20))
                    if left > 0 {
                        logger.warning(
                            "\(worker.partition): \(left) record range(s) unfinished at revoke; they will be read again"
                        )
                    }
                }
            }
        }
    }

    /// Drains every worker (shutdown); returns the unfinished record ranges left.
    /// Each worker's progress, for the stall watch.
    func progress() -> [TopicPartition: PartitionWorker.Progress] {
        let workers = state.withLock { Array($0.workers.values) }
        return Dictionary(workers.map { ($0.partition, $0.progress) }, uniquingKeysWith: { a, _ in a })
    }

    /// Each partition's offset last stored for commit.
    func storedOffsets() -> [TopicPartition: Int64] {
        let workers = state.withLock { Array($0.workers.values) }
        var offsets: [TopicPartition: Int64] = [:]
        for worker in workers { if let offset = worker.storedOffset { offsets[worker.partition] = offset } }
        return offsets
    }

    /// Tells the workers that a commit of `offsets` succeeded.
    func markCommitted(_ offsets: [TopicPartition: Int64]) {
        for (tp, offset) in offsets { worker(tp)?.markCommitted(offset) }
    }

    func drainAll(timeout: Duration) async -> Int {
        let workers = state.withLock { s -> [PartitionWorker] in
            defer { s.workers.removeAll() }
            return Array(s.workers.values)
        }
        return await withTaskGroup(of: Int.self) { group in
            for worker in workers { group.addTask { await worker.drain(timeout: timeout) } }
            var left = 0
            for await n in group { left += n }
            return left
        }
    }
}

/// Notices partitions that stop making progress: work in hand (queued or unpublished) while
/// the stored offset has not moved for a minute. Says so once per stall, with what the
/// consumer reports for the partition, so a stall in the field can be told apart (records not
/// fetched, deliveries not acknowledged) without a debugger.
struct StallWatch {
    private var last: [TopicPartition: (stored: Int64?, since: ContinuousClock.Instant, reported: Bool)] = [:]
    var threshold: Duration = .seconds(60)

    mutating func check(
        _ progress: [TopicPartition: PartitionWorker.Progress], metrics: StreamMetrics,
        now: ContinuousClock.Instant = .now
    ) -> [String] {
        var warnings: [String] = []
        last = last.filter { progress[$0.key] != nil }
        for (tp, p) in progress.sorted(by: { $0.key < $1.key }) {
            guard let previous = last[tp], previous.stored == p.stored else {
                last[tp] = (p.stored, now, false)
                continue
            }
            let busy = p.queued > 0 || p.unfinished > 0
            let fetchState = metrics.fetchState(topic: tp.topic, partition: tp.partition)
            guard busy || fetchState?.contains("lag 0,") == false, !previous.reported, now - previous.since >= threshold
            else { continue }
            last[tp] = (previous.stored, previous.since, true)
            let received =
                p.lastReceived.map { offset in
                    "last record received at offset \(offset) \(p.sinceLastReceived.map { "\($0.components.seconds) s" } ?? "?") ago"
                } ?? "no record received yet"
            warnings.append(
                "\(tp): no progress for \((now - previous.since).components.seconds) s at stored offset \(p.stored.map(String.init) ?? "none") (\(p.queued) batch(es) queued, \(p.unfinished) range(s) published and not yet acknowledged; \(received); librdkafka: \(fetchState ?? "no statistics yet"))"
            )
        }
        return warnings
    }
}
