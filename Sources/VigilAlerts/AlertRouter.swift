import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import VigilKafka

/// Where `vigil alert` reads anomalies and where it puts the ones a sink gave up on.
public struct AlertRouterConfiguration: Sendable, Equatable {
    public var brokers = "127.0.0.1:9092"
    public var groupID = "vigil-alerts"
    public var inputTopic = "security-anomalies"
    /// Anomalies a sink gave up on, with the sink and the reason in headers.
    public var undeliveredTopic = "security-anomalies.undelivered"
    public var commitInterval: Duration = .seconds(1)
    /// Most anomalies read and not yet finished by every sink; intake waits beyond it.
    public var maxInFlight = 10_000
    public var consumerProperties: [String: String] = [:]
    public var producerProperties: [String: String] = [:]
    /// How long a shutdown waits for deliveries in progress.
    public var shutdownTimeout: Duration = .seconds(20)

    public init() {}
}

/// `vigil alert`: consumes the anomaly topic in its own consumer group, hands each anomaly to
/// every sink's ``SinkRunner``, and stores its offset only when every sink has delivered it or
/// given up on it — and a given-up anomaly is in the undelivered topic (acknowledged) first.
/// So a slow or dead sink never slows detection (another group), and a restart re-sends nothing
/// that was finished and loses nothing that was not (at-least-once: a crash re-sends only what
/// was not yet finished everywhere; ids stay the same, so receivers can drop the repeat).
public final class AlertRouter: Service {
    public let configuration: AlertRouterConfiguration
    let sinks: [any AlertSink]
    let policy: DeliveryPolicy
    let logger: Logger
    let producer: KafkaProducer
    private let subscribed = Atomic<Bool>(false)

    /// Whether the router has subscribed and is routing (its readiness).
    public var isRouting: Bool { subscribed.load(ordering: .acquiring) }

    public init(
        configuration: AlertRouterConfiguration, sinks: [any AlertSink], policy: DeliveryPolicy = DeliveryPolicy(),
        producer: KafkaProducer, logger: Logger
    ) {
        self.configuration = configuration
        self.sinks = sinks
        self.policy = policy
        self.producer = producer
        self.logger = logger
    }

    /// A producer for the undelivered topic (and the Kafka sinks).
    public static func makeProducer(
        _ configuration: AlertRouterConfiguration, logger: Logger
    ) throws(KafkaError)
        -> KafkaProducer
    {
        var producerConfiguration = ProducerConfiguration(bootstrapServers: configuration.brokers)
        producerConfiguration.clientID = "vigil-alerts"
        producerConfiguration.properties = configuration.producerProperties
        return try KafkaProducer(configuration: producerConfiguration, observer: KafkaClientObserver(logger: logger))
    }

    public func run() async throws {
        var consumerConfiguration = ConsumerConfiguration(
            bootstrapServers: configuration.brokers, groupID: configuration.groupID)
        consumerConfiguration.clientID = "vigil-alerts"
        consumerConfiguration.properties = configuration.consumerProperties
        consumerConfiguration.maxBatchSize = 500
        let consumer = try KafkaConsumer(
            configuration: consumerConfiguration, observer: KafkaClientObserver(logger: logger))
        try consumer.subscribe([configuration.inputTopic])
        subscribed.store(true, ordering: .releasing)
        defer { subscribed.store(false, ordering: .releasing) }
        let runners = sinks.map { SinkRunner(sink: $0, policy: policy) }
        let progress = RouterProgress()
        let undelivered = Counter(label: "vigil_alerts_undelivered_total")
        logger.info(
            "routing \(configuration.inputTopic) to \(sinks.map(\.name).joined(separator: ", ")); undelivered to \(configuration.undeliveredTopic)"
        )
        try await withThrowingDiscardingTaskGroup { group in
            for runner in runners { group.addTask { await runner.run() } }
            group.addTask { [self] in await commitLoop(consumer, progress) }
            // Polled, so a graceful shutdown stops intake between batches; then what is in
            // flight is finished and committed before the consumer leaves the group.
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                guard let batch = await consumer.nextBatch(timeout: .milliseconds(200)) else { continue }
                for record in batch {
                    while progress.inFlight >= configuration.maxInFlight {
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    await route(
                        record, runners: runners, consumer: consumer, progress: progress, undelivered: undelivered)
                }
            }
            let left = await withTaskGroup(of: Int.self) { drains in
                for runner in runners {
                    drains.addTask { [configuration] in await runner.drain(timeout: configuration.shutdownTimeout) }
                }
                return await drains.reduce(0, +)
            }
            for runner in runners { await runner.stop() }
            if left > 0 {
                logger.warning("\(left) deliveries unfinished at shutdown; they are sent again after a restart")
            }
            // Dead letters in progress finish (they are awaited before their offsets are stored).
            for _ in 0..<100 where progress.inFlight > 0 { try? await Task.sleep(for: .milliseconds(50)) }
            do { try await consumer.commit(timeout: .seconds(5)) } catch {
                logger.warning("final commit failed: \(error)")
            }
            progress.stop()
            group.cancelAll()
        }
        try? await consumer.close(timeout: .seconds(10))
        _ = producer.close(timeout: .seconds(10))
    }

    /// Hands one record to every sink; its offset is stored once all are finished with it.
    private func route(
        _ record: ConsumerRecord, runners: [SinkRunner], consumer: KafkaConsumer, progress: RouterProgress,
        undelivered: Counter
    ) async {
        let tp = record.topicPartition
        let bytes = record.value.map(Array.init) ?? []
        progress.begin(tp, record.offset)
        let finishRecord: @Sendable () -> Void = {
            if let next = progress.finish(tp, record.offset) {
                let failures = consumer.store([TopicPartitionOffset(tp, offset: next)])
                _ = failures  // a partition revoked meanwhile: its next owner reads these again
            }
        }
        var alert: Alert
        do { alert = try Alert(json: bytes) } catch {
            logger.warning(
                "\(tp)@\(record.offset): not an anomaly (\(error)); sent to \(configuration.undeliveredTopic)")
            await deadLetter(
                record, bytes: bytes, sink: "router", reason: "\(error)", attempts: 0, undelivered: undelivered)
            finishRecord()
            return
        }
        alert.key = record.key.map(Array.init)
        alert.headers = record.headers
        let remaining = Countdown(runners.count)
        if runners.isEmpty { finishRecord() }
        for runner in runners {
            let sinkName = runner.sink.name
            await runner.submit(alert) { [self] result in
                if case .gaveUp(let reason, let attempts) = result {
                    Task {
                        await deadLetter(
                            record, bytes: bytes, sink: sinkName, reason: reason, attempts: attempts,
                            undelivered: undelivered)
                        if remaining.tick() { finishRecord() }
                    }
                } else if remaining.tick() {
                    finishRecord()
                }
            }
        }
    }

    /// Puts an anomaly a sink gave up on in the undelivered topic, retrying until the broker
    /// has it (its offset must not be committed before).
    private func deadLetter(
        _ record: ConsumerRecord, bytes: [UInt8], sink: String, reason: String, attempts: Int, undelivered: Counter
    ) async {
        let message = ProducerMessage(
            topic: configuration.undeliveredTopic, key: record.key.map(Array.init), value: bytes,
            headers: record.headers + [
                KafkaHeader(name: "vigil.alert.sink", string: sink),
                KafkaHeader(name: "vigil.alert.reason", string: String(reason.prefix(1_000))),
                KafkaHeader(name: "vigil.alert.attempts", string: String(attempts)),
                KafkaHeader(
                    name: "vigil.alert.source", string: "\(record.topic)[\(record.partition)]@\(record.offset)"),
            ])
        var delay = Duration.milliseconds(200)
        while true {
            do {
                _ = try await producer.send(message)
                undelivered.increment()
                return
            } catch {
                logger.warning(
                    "could not put \(record.topic)[\(record.partition)]@\(record.offset) in \(configuration.undeliveredTopic): \(error); retrying"
                )
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }

    private func commitLoop(_ consumer: KafkaConsumer, _ progress: RouterProgress) async {
        while !progress.stopped {
            try? await Task.sleep(for: configuration.commitInterval)
            do { try await consumer.commit(timeout: .seconds(5)) } catch {
                logger.warning("offset commit failed: \(error)")
            }
        }
    }
}

/// Per partition, the offsets handed to the sinks and not yet finished by all of them: the
/// offset to store is the first unfinished one (everything before it is done).
final class RouterProgress: Sendable {
    private struct State {
        var pending: [TopicPartition: [Int64: Bool]] = [:]
        var inFlight = 0
        var stopped = false
    }

    private let state = Mutex<State>(State())

    var inFlight: Int { state.withLock { $0.inFlight } }
    var stopped: Bool { state.withLock { $0.stopped } }
    func stop() { state.withLock { $0.stopped = true } }

    func begin(_ tp: TopicPartition, _ offset: Int64) {
        state.withLock { s in
            s.pending[tp, default: [:]][offset] = false
            s.inFlight += 1
        }
    }

    /// Marks `offset` finished; the next offset to store when the finished prefix grew.
    func finish(_ tp: TopicPartition, _ offset: Int64) -> Int64? {
        state.withLock { s -> Int64? in
            guard var offsets = s.pending[tp], offsets[offset] == false else { return nil }
            s.inFlight -= 1
            offsets[offset] = true
            let first = offsets.keys.min() ?? offset
            guard first == offset else {
                s.pending[tp] = offsets
                return nil
            }
            var next = offset
            for key in offsets.keys.sorted() {
                guard offsets[key] == true else { break }
                offsets[key] = nil
                next = key + 1
            }
            s.pending[tp] = offsets
            return next
        }
    }
}

/// Counts down the sinks still working on one anomaly.
final class Countdown: Sendable {
    private let left: Mutex<Int>
    init(_ count: Int) { left = Mutex(count) }
    /// True for the call that reaches zero.
    func tick() -> Bool {
        left.withLock {
            $0 -= 1
            return $0 == 0
        }
    }
}
