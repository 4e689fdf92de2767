import Foundation
import Synchronization
import Testing
import VigilKafka
import VigilKafkaTesting

/// Consumer groups against the real local broker: commits, restarts and rebalances.
@Suite("Consumer groups", .serialized)
struct GroupTests {
    private func produce(_ topic: String, _ range: Range<Int>) async throws {
        let producer = try TestBroker.producer()
        let results = await producer.send(
            range.map { ProducerMessage(topic: topic, key: Array("k\($0)".utf8), value: Array("\($0)".utf8)) })
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        producer.close(timeout: .seconds(10))
    }

    private func number(_ record: ConsumerRecord) -> Int {
        Int(String(decoding: record.value ?? [], as: UTF8.self)) ?? -1
    }

    @Test("a group commits, restarts and resumes with no gap and no re-read")
    func commitRestartResume() async throws {
        let topic = TestBroker.unique("resume")
        let group = TestBroker.unique("g")
        try await TestBroker.createTopic(topic, partitions: 3)
        try await produce(topic, 0..<3_000)

        // First run: process exactly 1,200 records (a batch may hold more than we process).
        let first = try KafkaConsumer(configuration: TestBroker.consumerConfig(group), observer: TestBroker.observer)
        try first.subscribe([topic])
        let received = await collect(first, count: 1_200, timeout: .seconds(30))
        let processed = Array(received.prefix(1_200))
        first.store(nextOffsets(processed))
        try await first.commit(timeout: .seconds(10))
        try await first.close()

        try await produce(topic, 3_000..<4_000)

        // Second run, same group: starts exactly after what was processed.
        let second = try KafkaConsumer(configuration: TestBroker.consumerConfig(group), observer: TestBroker.observer)
        try second.subscribe([topic])
        let rest = await collect(second, count: 4_000 - 1_200, timeout: .seconds(30), store: true)
        try await second.close()

        let firstSet = Set(processed.map(number))
        let secondSet = Set(rest.map(number))
        #expect(firstSet.count == 1_200)
        #expect(firstSet.isDisjoint(with: secondSet), "re-read \(firstSet.intersection(secondSet).count) records")
        #expect(firstSet.union(secondSet).count == 4_000, "gap of \(4_000 - firstSet.union(secondSet).count) records")
        #expect(rest.count == 2_800)
    }

    @Test(
        "two members split partitions; a leave and a join lose nothing",
        arguments: [AssignmentStrategy.range, .cooperativeSticky], [false, true])
    func rebalanceLosesNothing(strategy: AssignmentStrategy, stalls: Bool) async throws {
        let topic = TestBroker.unique("rebalance")
        let group = TestBroker.unique("g")
        try await TestBroker.createTopic(topic, partitions: 4)
        let total = 20_000
        try await produce(topic, 0..<total / 2)

        let processed = Locked<[Int: Int]>([:])  // number → times processed
        let assignments = Locked<[String: Set<Int32>]>([:])
        var config = TestBroker.consumerConfig(group)
        config.assignmentStrategy = strategy
        config.maxBatchSize = 200

        // Each member processes a batch, then stores its offsets: revoke then commits them.
        func member(_ name: String) throws -> (KafkaConsumer, Task<Void, Never>) {
            let listener = AssignmentRecorder(name: name, assignments: assignments)
            let consumer = try KafkaConsumer(configuration: config, observer: TestBroker.observer, listener: listener)
            try consumer.subscribe([topic])
            let task = Task {
                var batches = 0
                for await batch in consumer.batches {
                    processed.withLock { for record in batch { $0[number(record), default: 0] += 1 } }
                    consumer.store(nextOffsets(batch))
                    batches += 1
                    // Keep some work in flight; with `stalls`, stop long enough that the
                    // consumer pauses fetching, across rebalances.
                    let pause: Duration = stalls && batches % 15 == 0 ? .milliseconds(1_300) : .milliseconds(5)
                    try? await Task.sleep(for: pause)
                }
            }
            return (consumer, task)
        }

        let (a, aTask) = try member("a")
        try await waitUntil(.seconds(30)) { processed.withLock { $0.count } > 1_000 }
        let (b, bTask) = try member("b")
        try await waitUntil(.seconds(30)) { assignments.withLock { !($0["b"] ?? []).isEmpty } }
        // Both members own partitions, and together all four, without overlap.
        let split = assignments.withLock { $0 }
        #expect(!(split["a"] ?? []).isEmpty && !(split["b"] ?? []).isEmpty)
        #expect((split["a"] ?? []).isDisjoint(with: split["b"] ?? []))
        #expect((split["a"] ?? []).union(split["b"] ?? []) == [0, 1, 2, 3])

        try await produce(topic, total / 2..<total)
        try await waitUntil(.seconds(30)) { processed.withLock { $0.count } > total * 3 / 4 }
        // a leaves mid-stream: b takes over everything.
        try await a.close()
        await aTask.value
        try await waitUntil(.seconds(60)) { processed.withLock { $0.count } == total }
        try await b.close()
        await bTask.value

        let counts = processed.withLock { $0 }
        let lost = Set(0..<total).subtracting(counts.keys)
        #expect(lost.isEmpty, "lost \(lost.count) records, for example \(lost.sorted().prefix(5))")
        let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
        // At-least-once: duplicates only from batches in flight at a revoke, never the bulk.
        #expect(duplicates < total / 10, "\(duplicates) duplicates")
    }
}

/// Records each member's current assignment.
struct AssignmentRecorder: ConsumerRebalanceListener {
    let name: String
    let assignments: Locked<[String: Set<Int32>]>

    func partitionsAssigned(_ partitions: [TopicPartitionOffset]) async -> [TopicPartition: Int64] {
        assignments.withLock { $0[name, default: []].formUnion(partitions.map(\.topicPartition.partition)) }
        return [:]
    }

    func partitionsRevoked(_ partitions: [TopicPartition], lost: Bool) async {
        assignments.withLock { $0[name, default: []].subtract(partitions.map(\.partition)) }
    }
}

/// Polls `condition` until true; fails the test after `timeout`.
func waitUntil(_ timeout: Duration, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}
