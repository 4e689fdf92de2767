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
}
