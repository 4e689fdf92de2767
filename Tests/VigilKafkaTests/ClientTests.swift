import Foundation
import Testing
import VigilKafkaTesting

@testable import VigilKafka

/// Configuration, admin, headers, keys, compression and flow control against the real broker.
@Suite("Kafka clients", .serialized)
struct ClientTests {
    @Test("librdkafka is at least 2.2 and built with zstd, lz4, ssl, sasl and zlib")
    func libraryVersion() {
        #expect(LibRdKafka.versionNumber >= 0x0202_0000, "librdkafka \(LibRdKafka.version)")
        let features = Set(LibRdKafka.builtinFeatures)
        for feature in ["zstd", "lz4", "ssl", "sasl", "gzip"] {
            #expect(features.contains(feature), "missing \(feature) in \(features.sorted())")
        }
    }

    @Test("an unknown property fails at construction with librdkafka's message naming it")
    func invalidProperty() {
        var config = ProducerConfiguration(bootstrapServers: TestBroker.address)
        config.properties["no.such.property"] = "1"
        #expect {
            _ = try KafkaProducer(configuration: config, observer: TestBroker.observer)
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.code == .invalidConfiguration && error.message.contains("no.such.property")
        }
    }

    @Test("an invalid value fails at construction naming property and value")
    func invalidValue() {
        var config = TestBroker.consumerConfig("g")
        config.properties["session.timeout.ms"] = "soon"
        #expect {
            _ = try KafkaConsumer(configuration: config, observer: TestBroker.observer)
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.message.contains("session.timeout.ms") && error.message.contains("soon")
        }
    }

    @Test("properties that would commit unfinished work are refused at construction, naming why")
    func managedProperties() {
        for name in ConsumerConfiguration.managedProperties.keys.sorted() {
            var config = TestBroker.consumerConfig("g")
            config.properties[name] = "true"
            #expect {
                _ = try KafkaConsumer(configuration: config, observer: TestBroker.observer)
            } throws: { error in
                guard let error = error as? KafkaError else { return false }
                return error.code == .invalidConfiguration && error.message.contains(name)
                    && error.message.contains("not configurable")
            }
        }
    }

    @Test("every assignment change advances the generation; batches carry the one they were delivered in")
    func assignmentGeneration() async throws {
        let topic = TestBroker.unique("generation")
        try await TestBroker.createTopic(topic, partitions: 1)
        let producer = try TestBroker.producer()
        for result in await producer.send((0..<20).map { ProducerMessage(topic: topic, value: Array("\($0)".utf8)) }) {
            _ = try result.get()
        }
        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig(TestBroker.unique("g")), observer: TestBroker.observer)
        let before = consumer.assignmentGeneration
        try consumer.assign([TopicPartitionOffset(topic, 0, offset: -2)])
        let first = consumer.assignmentGeneration
        #expect(first > before)
        #expect(consumer.isAssigned(TopicPartition(topic, 0)))
        let batch = await consumer.nextBatch(timeout: .seconds(30))
        #expect(batch?.generation == first)
        try consumer.assign([TopicPartitionOffset(topic, 0, offset: -2)])
        #expect(consumer.assignmentGeneration > first)
        // The batch from the first assignment is now recognisably older than the assignment.
        #expect((batch?.generation ?? .max) < consumer.assignmentGeneration)
        try await consumer.close()
        producer.close(timeout: .seconds(5))
    }

    @Test("admin creates, lists and describes topics; a second create reports TOPIC_ALREADY_EXISTS")
    func admin() async throws {
        let admin = try TestBroker.admin()
        let name = TestBroker.unique("admin")
        let spec = TopicSpecification(
            name: name, partitions: 3, replicationFactor: 1, configs: ["retention.ms": "3600000"])
        let created = try await admin.createTopics([spec], timeout: .seconds(10))
        #expect((try? created[name]?.get()) != nil)
        let again = try await admin.createTopics([spec], timeout: .seconds(10))
        #expect(throws: KafkaError.self) { try again[name]?.get() }
        if case .failure(let error)? = again[name] { #expect(error.code == .topicAlreadyExists) }
        #expect(try await admin.listTopics(timeout: .seconds(10)).contains(name))
        let described = try await admin.describeTopics([name], timeout: .seconds(10))
        #expect(described.first?.partitions.count == 3)
        #expect(described.first?.replicationFactor == 1)
    }

    @Test("admin deletes topics; deleting one that does not exist reports that topic's error, not the others'")
    func deleteTopics() async throws {
        let admin = try TestBroker.admin()
        let name = TestBroker.unique("doomed")
        try await TestBroker.createTopic(name, partitions: 2)
        #expect(try await admin.listTopics(timeout: .seconds(10)).contains(name))
        let missing = TestBroker.unique("never-created")
        let deleted = try await admin.deleteTopics([name, missing], timeout: .seconds(10))
        #expect((try? deleted[name]?.get()) != nil)
        #expect(throws: KafkaError.self) { try deleted[missing]?.get() }
        #expect(try await admin.listTopics(timeout: .seconds(10)).contains(name) == false)
    }

    @Test("keys and headers survive: null, empty and binary")
    func keysAndHeaders() async throws {
        let topic = TestBroker.unique("headers")
        try await TestBroker.createTopic(topic, partitions: 1)
        let binary = (0...255).map { UInt8($0) }
        let messages = [
            ProducerMessage(topic: topic, key: nil, value: Array("null key".utf8)),
            ProducerMessage(topic: topic, key: [], value: Array("empty key".utf8)),
            ProducerMessage(
                topic: topic, key: binary, value: Array("binary key".utf8),
                headers: [
                    KafkaHeader(name: "text", string: "héllo"),
                    KafkaHeader(name: "empty", value: []),
                    KafkaHeader(name: "null", value: nil),
                    KafkaHeader(name: "binary", value: binary),
                    KafkaHeader(name: "text", string: "repeated name"),
                ]),
            ProducerMessage(topic: topic, key: Array("k".utf8), value: nil),
            ProducerMessage(topic: topic, key: Array("k".utf8), value: []),
        ]
        let producer = try TestBroker.producer()
        for result in await producer.send(messages) { _ = try result.get() }
        producer.close(timeout: .seconds(5))

        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig(TestBroker.unique("g")), observer: TestBroker.observer)
        try consumer.subscribe([topic])
        let records = await collect(consumer, count: messages.count, timeout: .seconds(30))
        try await consumer.close()
        try #require(records.count == messages.count)
        for (record, message) in zip(records, messages) {
            #expect(record.key.map(Array.init) == message.key)
            #expect(record.value.map(Array.init) == message.value)
            #expect(record.headers == message.headers)
        }
    }

    @Test("compressed batches round-trip", arguments: [KafkaCompression.lz4, .zstd, .gzip, .snappy])
    func compression(codec: KafkaCompression) async throws {
        let topic = TestBroker.unique("codec-\(codec.rawValue)")
        try await TestBroker.createTopic(topic, partitions: 1)
        let producer = try TestBroker.producer { $0.compression = codec }
        // Compressible and incompressible payloads.
        let messages = (0..<2_000).map { i in
            ProducerMessage(
                topic: topic,
                value: i % 2 == 0
                    ? Array(String(repeating: "sshd failed password for root ", count: 10).utf8)
                    : (0..<200).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761 &+ i) >> 7) })
        }
        for result in await producer.send(messages) { _ = try result.get() }
        producer.close(timeout: .seconds(5))
        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig(TestBroker.unique("g")), observer: TestBroker.observer)
        try consumer.subscribe([topic])
        let records = await collect(consumer, count: messages.count, timeout: .seconds(30))
        try await consumer.close()
        #expect(records.map { $0.value.map(Array.init) } == messages.map(\.value))
    }

    @Test("a full local queue makes send wait instead of failing with _QUEUE_FULL")
    func producerBackpressure() async throws {
        let topic = TestBroker.unique("queuefull")
        try await TestBroker.createTopic(topic, partitions: 2)
        let producer = try TestBroker.producer { $0.maxQueuedMessages = 10 }
        let results = await producer.send((0..<5_000).map { ProducerMessage(topic: topic, value: Array("\($0)".utf8)) })
        let failures = results.compactMap { if case .failure(let e) = $0 { e } else { nil } }
        #expect(failures.isEmpty, "first failure: \(String(describing: failures.first))")
        producer.close(timeout: .seconds(5))
    }

    @Test("pause stops a partition's records until resume; none are lost")
    func pauseResume() async throws {
        let topic = TestBroker.unique("pause")
        try await TestBroker.createTopic(topic, partitions: 2)
        let producer = try TestBroker.producer()
        for result in await producer.send(
            (0..<200).map { ProducerMessage(topic: topic, partition: Int32($0 % 2), value: Array("\($0)".utf8)) })
        {
            _ = try result.get()
        }
        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig(TestBroker.unique("g")), observer: TestBroker.observer)
        try consumer.subscribe([topic])
        let first = await collect(consumer, count: 200, timeout: .seconds(30))
        #expect(first.count == 200)
        try consumer.pause([TopicPartition(topic, 1)])
        for result in await producer.send(
            (200..<400).map { ProducerMessage(topic: topic, partition: Int32($0 % 2), value: Array("\($0)".utf8)) })
        {
            _ = try result.get()
        }
        let whilePaused = await collect(consumer, count: 200, timeout: .seconds(4))
        #expect(whilePaused.count == 100)
        #expect(whilePaused.allSatisfy { $0.partition == 0 })
        try consumer.resume([TopicPartition(topic, 1)])
        let afterResume = await collect(consumer, count: 100, timeout: .seconds(30))
        #expect(afterResume.count == 100)
        #expect(afterResume.allSatisfy { $0.partition == 1 })
        #expect(
            Set((first + whilePaused + afterResume).map { String(decoding: $0.value ?? [], as: UTF8.self) }).count
                == 400)
        try await consumer.close()
        producer.close(timeout: .seconds(5))
    }

    @Test("statistics arrive as JSON with per-partition consumer lag; health reports the poll thread")
    func statisticsAndHealth() async throws {
        let topic = TestBroker.unique("stats")
        try await TestBroker.createTopic(topic, partitions: 1)
        let producer = try TestBroker.producer()
        _ = await producer.send((0..<10).map { ProducerMessage(topic: topic, value: Array("\($0)".utf8)) })
        producer.close(timeout: .seconds(5))
        let stats = Locked<[[UInt8]]>([])
        var config = TestBroker.consumerConfig(TestBroker.unique("g"))
        config.statisticsInterval = .milliseconds(200)
        let consumer = try KafkaConsumer(
            configuration: config,
            observer: KafkaClientObserver(
                logger: TestBroker.logger, onStatistics: { json in stats.withLock { $0.append(json) } }))
        try consumer.subscribe([topic])
        let records = await collect(consumer, count: 10, timeout: .seconds(30))
        #expect(records.count == 10)
        // Statistics taken after the assignment.
        let seenBefore = stats.value.count
        try await waitUntil(.seconds(5)) { stats.value.count >= seenBefore + 2 }
        let last = try #require(stats.value.last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(last)) as? [String: Any])
        let topics = try #require(object["topics"] as? [String: Any])
        let partitions = try #require((topics[topic] as? [String: Any])?["partitions"] as? [String: Any])
        #expect((partitions["0"] as? [String: Any])?["consumer_lag"] != nil)
        let health = consumer.health
        #expect(health.pollThreadRunning)
        #expect(health.millisecondsSinceLastPoll < 1_000)
        #expect(health.assignedPartitions == 1)
        try await consumer.close()
        #expect(!consumer.health.pollThreadRunning)
    }
}
