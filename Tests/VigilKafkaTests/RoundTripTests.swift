import Foundation
import Testing
import VigilKafka
import VigilKafkaTesting

/// Produce and consume through the real local broker (Tansu, started by `make test`).
@Suite("Broker round trip", .serialized)
struct RoundTripTests {
    @Test("100k messages round-trip byte-identical, in order per partition")
    func hundredThousandRoundTrip() async throws {
        let topic = TestBroker.unique("roundtrip")
        try await TestBroker.createTopic(topic, partitions: 4)
        let producer = try TestBroker.producer()
        let total = 100_000
        // Deterministic, varied payloads: different lengths and every byte value.
        func payload(_ i: Int) -> [UInt8] {
            let length = 20 + (i * 7919) % 300
            return (0..<length).map { UInt8(truncatingIfNeeded: i &* 31 &+ $0 &* 131) }
        }
        var failures = 0
        for chunk in stride(from: 0, to: total, by: 5_000) {
            let messages = (chunk..<min(chunk + 5_000, total)).map { i in
                ProducerMessage(topic: topic, key: Array("k\(i)".utf8), value: payload(i))
            }
            let results = await producer.send(messages)
            failures += results.filter { if case .failure = $0 { true } else { false } }.count
        }
        #expect(failures == 0)
        #expect(producer.close(timeout: .seconds(10)) == 0)

        let consumer = try KafkaConsumer(
            configuration: TestBroker.consumerConfig(TestBroker.unique("g")),
            observer: TestBroker.observer)
        try consumer.subscribe([topic])
        let records = await collect(consumer, count: total, timeout: .seconds(60))
        try await consumer.close()
        #expect(records.count == total)

        var seen = Set<Int>()
        var lastOffset: [Int32: Int64] = [:]
        var mismatches = 0
        for record in records {
            let key = String(decoding: record.key ?? [], as: UTF8.self)
            guard let i = Int(key.dropFirst()) else {
                Issue.record("bad key \(key)")
                continue
            }
            seen.insert(i)
            if Array(record.value ?? []) != payload(i) { mismatches += 1 }
            if let last = lastOffset[record.partition] { #expect(record.offset > last) }
            lastOffset[record.partition] = record.offset
        }
        #expect(mismatches == 0)
        #expect(seen.count == total)
    }

    @Test("without a linger, records already queued come in batches up to the batch size, each once and in order")
    func batchesGrowWithoutLinger() async throws {
        let topic = TestBroker.unique("nolinger")
        try await TestBroker.createTopic(topic, partitions: 1)
        let producer = try TestBroker.producer()
        let total = 5_000
        let results = await producer.send(
            (0..<total).map { ProducerMessage(topic: topic, value: Array("record \($0)".utf8)) })
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        #expect(producer.close(timeout: .seconds(10)) == 0)

        var config = TestBroker.consumerConfig(TestBroker.unique("g"))
        #expect(config.batchLinger == .zero)  // the default: hand over what is queued
        config.maxBatchSize = 1_000
        let consumer = try KafkaConsumer(configuration: config, observer: TestBroker.observer)
        try consumer.subscribe([topic])
        var sizes: [Int] = []
        var values: [String] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while values.count < total, ContinuousClock.now < deadline {
            guard let batch = await consumer.nextBatch(timeout: deadline - .now) else { break }
            sizes.append(batch.count)
            for record in batch { values.append(String(decoding: record.value ?? [], as: UTF8.self)) }
        }
        try await consumer.close()
        // Every record once, in offset order, across the wait-for-one-then-take-the-rest split.
        #expect(values == (0..<total).map { "record \($0)" })
        #expect(sizes.allSatisfy { $0 <= 1_000 })
        // The records were on the broker before the consumer started, so a fetch brings many at
        // once: batches are not handed over one record at a time.
        #expect(sizes.max() == 1_000, "batch sizes \(sizes)")
    }
}
