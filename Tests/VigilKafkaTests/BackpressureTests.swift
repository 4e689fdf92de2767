import Foundation
import Testing
import VigilKafka
import VigilKafkaTesting

/// The consumer pauses fetching when the application falls behind and resumes without gaps.
@Suite("Consumer backpressure", .serialized)
struct BackpressureTests {
    @Test("a slow reader with a tiny buffer still gets every record exactly once, in order")
    func slowReaderNoGaps() async throws {
        let topic = TestBroker.unique("slow")
        try await TestBroker.createTopic(topic, partitions: 2)
        let producer = try TestBroker.producer()
        let total = 20_000
        let results = await producer.send((0..<total).map { ProducerMessage(topic: topic, value: Array("\($0)".utf8)) })
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        producer.close(timeout: .seconds(10))

        var config = TestBroker.consumerConfig(TestBroker.unique("g"))
        config.maxBatchSize = 100
        config.maxBufferedBatches = 1
        if let debug = ProcessInfo.processInfo.environment["VIGIL_TEST_RDKAFKA_DEBUG"] {
            config.properties["debug"] = debug
        }
        let consumer = try KafkaConsumer(configuration: config, observer: TestBroker.observer)
        try consumer.subscribe([topic])
        var records: [ConsumerRecord] = []
        let deadline = ContinuousClock.now + .seconds(90)
        while records.count < total, ContinuousClock.now < deadline {
            guard let batch = await nextBatch(consumer, timeout: .seconds(10)) else { break }
            records.append(contentsOf: batch)
            try await Task.sleep(for: .milliseconds(3))  // slower than the fetcher
        }
        try await consumer.close()
        var next: [Int32: Int64] = [:]
        var gaps = 0
        var repeats = 0
        for record in records {
            let expected = next[record.partition] ?? 0
            if record.offset > expected { gaps += 1 }
            if record.offset < expected { repeats += 1 }
            next[record.partition] = record.offset + 1
        }
        #expect(gaps == 0)
        #expect(repeats == 0)
        #expect(records.count == total)
    }
}
