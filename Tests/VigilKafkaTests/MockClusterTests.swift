import Foundation
import Synchronization
import Testing
import VigilKafkaTesting

@testable import VigilKafka

/// Failure handling against librdkafka's in-process mock cluster: a real broker cannot be taken
/// down or made to return chosen errors on demand, the mock can.
@Suite("Mock cluster")
struct MockClusterTests {
    @Test("produce and consume through the mock cluster")
    func produceConsume() async throws {
        let cluster = try MockCluster(brokers: 3)
        try cluster.createTopic("events", partitions: 3)
        let producer = try TestBroker.producer(cluster.bootstrapServers)
        let messages = (0..<1_000).map {
            ProducerMessage(topic: "events", key: Array("k\($0)".utf8), value: Array("v\($0)".utf8))
        }
        let results = await producer.send(messages)
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        producer.close(timeout: .seconds(5))

        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig("g", bootstrap: cluster.bootstrapServers),
            observer: TestBroker.observer)
        try consumer.subscribe(["events"])
        let records = await collect(consumer, count: 1_000, timeout: .seconds(30))
        try await consumer.close()
        #expect(
            Set(records.map { String(decoding: $0.value ?? [], as: UTF8.self) }) == Set((0..<1_000).map { "v\($0)" }))
    }

    @Test("all brokers down: delivery fails with _MSG_TIMED_OUT within the message timeout")
    func brokerDownTypedError() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let producer = try TestBroker.producer(cluster.bootstrapServers) { $0.messageTimeout = .seconds(2) }
        // Connected and working first.
        _ = try await producer.send(ProducerMessage(topic: "events", value: Array("before".utf8)))
        try cluster.setBrokerDown(1)
        let start = ContinuousClock.now
        do {
            _ = try await producer.send(ProducerMessage(topic: "events", value: Array("during".utf8)))
            Issue.record("send succeeded with the only broker down")
        } catch {
            #expect(error.code == .messageTimedOut)
            #expect(error.isRetriable)
        }
        let elapsed = ContinuousClock.now - start
        // Bounded, not timed: librdkafka scans for timed-out messages about once a second, and a
        // loaded CI machine adds more; a hang would be minutes, not seconds.
        #expect(elapsed < .seconds(15), "typed error took \(elapsed)")
        producer.close(timeout: .seconds(1))
    }

    @Test("broker down then back: the producer delivers once it returns")
    func brokerDownAndBack() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let producer = try TestBroker.producer(cluster.bootstrapServers) { $0.messageTimeout = .seconds(20) }
        _ = try await producer.send(ProducerMessage(topic: "events", value: Array("warm".utf8)))
        try cluster.setBrokerDown(1)
        async let delivery = producer.send(ProducerMessage(topic: "events", value: Array("held".utf8)))
        try await Task.sleep(for: .seconds(1))
        try cluster.setBrokerUp(1)
        let report = try await delivery
        #expect(report.offset == 1)
        producer.close(timeout: .seconds(5))
    }

    @Test("injected produce errors are retried: each message is delivered exactly once")
    func injectedErrorsRetried() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let producer = try TestBroker.producer(cluster.bootstrapServers)
        _ = try await producer.send(ProducerMessage(topic: "events", value: Array("warm".utf8)))
        cluster.pushRequestErrors(.produce, [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas])
        let messages = (0..<10).map { ProducerMessage(topic: "events", value: Array("m\($0)".utf8)) }
        let results = await producer.send(messages)
        let offsets = try results.map { try $0.get().offset }
        #expect(offsets == Array(1...10))
        producer.close(timeout: .seconds(5))

        // Idempotence: the retries did not write duplicates.
        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig("check", bootstrap: cluster.bootstrapServers),
            observer: TestBroker.observer)
        try consumer.subscribe(["events"])
        let records = await collect(consumer, count: 11, timeout: .seconds(20))
        try await consumer.close()
        #expect(records.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["warm"] + (0..<10).map { "m\($0)" })
    }

    @Test("a commit rejected by the broker surfaces as a typed error")
    func commitErrorTyped() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let producer = try TestBroker.producer(cluster.bootstrapServers)
        _ = await producer.send((0..<10).map { ProducerMessage(topic: "events", value: Array("m\($0)".utf8)) })
        producer.close(timeout: .seconds(5))

        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig("g", bootstrap: cluster.bootstrapServers),
            observer: TestBroker.observer)
        try consumer.subscribe(["events"])
        let records = await collect(consumer, count: 10, timeout: .seconds(20))
        #expect(records.count == 10)
        consumer.store(nextOffsets(records))
        // Non-retriable for commits, so it reaches the caller instead of being retried away.
        cluster.pushRequestErrors(.offsetCommit, [.topicAuthorizationFailed])
        do {
            try await consumer.commit(timeout: .seconds(5))
            Issue.record("commit succeeded despite the injected error")
        } catch {
            #expect(error.code == .topicAuthorizationFailed)
        }
        // The next commit goes through.
        try await consumer.commit(timeout: .seconds(5))
        let committed = try await consumer.committed([TopicPartition("events", 0)], timeout: .seconds(5))
        #expect(committed.first?.offset == 10)
        try await consumer.close()
    }

    @Test("close() against a dead cluster returns within its timeout")
    func closeBounded() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let producer = try TestBroker.producer(cluster.bootstrapServers)
        _ = await producer.send((0..<10).map { ProducerMessage(topic: "events", value: Array("m\($0)".utf8)) })
        producer.close(timeout: .seconds(5))
        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig("g", bootstrap: cluster.bootstrapServers),
            observer: TestBroker.observer)
        try consumer.subscribe(["events"])
        let records = await collect(consumer, count: 10, timeout: .seconds(20), store: true)
        #expect(records.count == 10)
        try cluster.setBrokerDown(1)
        let start = ContinuousClock.now
        do { try await consumer.close(timeout: .seconds(2)) } catch { #expect(error.code == .timedOut) }
        let elapsed = ContinuousClock.now - start
        // The 2 s deadline plus slack for a loaded machine; without the deadline close would
        // wait for the broker indefinitely.
        #expect(elapsed < .seconds(6), "close took \(elapsed)")
    }

    @Test("a fatal error is surfaced to the observer and fails later sends")
    func fatalErrorSurfaced() async throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("events", partitions: 1)
        let seen = Locked<[KafkaError]>([])
        var config = ProducerConfiguration(bootstrapServers: cluster.bootstrapServers)
        config.linger = .milliseconds(1)
        let producer = try KafkaProducer(
            configuration: config,
            observer: KafkaClientObserver(
                logger: TestBroker.logger, onError: { error in seen.withLock { $0.append(error) } }))
        _ = try await producer.send(ProducerMessage(topic: "events", value: Array("ok".utf8)))
        producer.triggerFatalErrorForTesting("test")
        // The error callback runs on librdkafka's thread; give it a moment.
        for _ in 0..<50 where seen.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        let fatal = seen.withLock { $0.first }
        #expect(fatal?.isFatal == true)
        #expect(fatal?.message.contains("test") == true)
        do {
            _ = try await producer.send(ProducerMessage(topic: "events", value: Array("after".utf8)))
            Issue.record("send succeeded after a fatal error")
        } catch {
            #expect(error.isFatal)
        }
        producer.close(timeout: .seconds(1))
    }
}
