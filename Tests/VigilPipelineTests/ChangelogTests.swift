import Foundation
import Logging
import Testing
import VigilKafka
import VigilKafkaTesting
import VigilTesting

@testable import VigilDetection
@testable import VigilPipeline

/// The state changelog's record layout, read back the way a restore reads it — in log order,
/// before and after compaction — and, against the real broker, a large state written and
/// restored.
@Suite("State changelog", .serialized)
struct ChangelogTests {
    static let tp = TopicPartition("raw-logs", 4)

    /// Feeds records to a restore's per-partition contents, in the given order.
    static func contents(
        _ messages: [ProducerMessage], changelog: StateChangelog, limit: Int64 = .max
    ) -> StateChangelog.Contents {
        var contents = StateChangelog.Contents(limit: limit)
        for message in messages {
            guard let key = message.key, let value = message.value,
                let (prefix, slot, record) = StateChangelog.decode(key: key[...], value: value[...])
            else { continue }
            #expect(prefix == changelog.keyPrefix(tp))
            contents.add(record, slot: slot)
        }
        return contents
    }

    static func state(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 * 31) ^ seed }
    }

    @Test("a snapshot cut into chunks reads back whole; each input partition maps to one changelog partition")
    func chunksRoundTrip() {
        var changelog = StateChangelog(topic: "vigil.state", group: "g/1", partitions: 3)
        changelog.chunkBytes = 1000
        let state = Self.state(4_500, seed: 7)
        let messages = changelog.messages(Self.tp, slot: 1, nextOffset: 900, state: state)
        #expect(messages.count == 6, "5 chunks and a manifest")
        #expect(Set(messages.map(\.partition)) == [1], "partition 4 of the input → 4 mod 3")
        #expect(messages.allSatisfy { ($0.value?.count ?? 0) <= 1_020 })
        let contents = Self.contents(messages, changelog: changelog)
        #expect(contents.snapshots[1]?.offset == 900)
        #expect(contents.snapshots[1]?.bytes == state)
        #expect(contents.newest(atOrBefore: 899) == nil, "a snapshot after the committed offset is not used")
        #expect(contents.newest(atOrBefore: 900)?.bytes == state)
        // An empty state is one empty chunk and its manifest.
        let empty = Self.contents(changelog.messages(Self.tp, slot: 0, nextOffset: 5, state: []), changelog: changelog)
        #expect(empty.snapshots[0]?.bytes == [])
    }

    @Test("a missing chunk, a damaged byte or a slot half overwritten is never restored; the other slots are")
    func damagedSnapshotsAreSkipped() {
        var changelog = StateChangelog(topic: "vigil.state", group: "g", partitions: 1)
        changelog.chunkBytes = 100
        let old = changelog.messages(Self.tp, slot: 0, nextOffset: 100, state: Self.state(350, seed: 1))
        let other = changelog.messages(Self.tp, slot: 1, nextOffset: 200, state: Self.state(350, seed: 2))
        let new = changelog.messages(Self.tp, slot: 0, nextOffset: 300, state: Self.state(350, seed: 3))

        var missing = new
        missing.remove(at: 2)
        #expect(Self.contents(missing, changelog: changelog).snapshots[0] == nil)

        var damaged = new
        damaged[1].value?[30] ^= 0xFF
        #expect(Self.contents(damaged, changelog: changelog).snapshots[0] == nil, "the checksum catches it")

        // The process died after two of the new chunks of slot 0, before its manifest. Read
        // uncompacted, slot 0's old snapshot is whole before them; after compaction the old
        // manifest comes first and its chunks 0 and 1 are the new ones: unusable, and slot 1
        // is what recovery uses.
        // Committed at 150: slot 1's snapshot is ahead of it.
        let uncompacted = Self.contents(old + other + Array(new.prefix(2)), changelog: changelog, limit: 150)
        #expect(uncompacted.newest(atOrBefore: 150)?.offset == 100)
        #expect(uncompacted.snapshots.count == 1, "only the snapshot a restore can use is held")
        #expect(uncompacted.written == [0: 300, 1: 200], "the slots are known to be written")
        let compacted = Array(old[2...]) + other + Array(new.prefix(2))
        let afterCompaction = Self.contents(compacted, changelog: changelog)
        #expect(afterCompaction.snapshots[0] == nil)
        #expect(afterCompaction.newest(atOrBefore: 10_000)?.offset == 200)

        // Not ours: another group's key, a tombstone, a foreign value.
        #expect(StateChangelog.decode(key: Array("x".utf8)[...], value: [][...]) == nil)
        #expect(
            StateChangelog.decode(key: Array("vigil.state/v1/g/t/0/0/manifest".utf8)[...], value: [1, 2][...]) == nil)
    }

    @Test("the writer fills empty slots, then the oldest — never the newest one at or before the commit")
    func slotChoice() {
        var slots = ChangelogSlots(slots: 3)
        #expect(slots.claim(nextOffset: 10, committed: nil) == 0)
        #expect(slots.claim(nextOffset: 20, committed: 10) == 1)
        #expect(slots.claim(nextOffset: 30, committed: 10) == 2)
        // Commits stalled at 10: the snapshot at 10 is what recovery needs, so 20 and 30 go.
        #expect(slots.claim(nextOffset: 40, committed: 10) == 1)
        #expect(slots.claim(nextOffset: 50, committed: 10) == 2)
        #expect(slots.claim(nextOffset: 60, committed: 10) == 1)
        #expect(slots.offsets == [10, 60, 50])
        // Commits caught up: the oldest goes first again.
        #expect(slots.claim(nextOffset: 70, committed: 65) == 0)
        slots.failed(2)
        #expect(slots.claim(nextOffset: 80, committed: 75) == 2, "a failed slot is reused first")
        // What a restore found written is respected.
        var restored = ChangelogSlots(slots: 3, written: [0: 500, 2: 700])
        #expect(restored.claim(nextOffset: 800, committed: 700) == 1)
        #expect(restored.claim(nextOffset: 900, committed: 700) == 0)
    }

    @Test("a checkpoint reads back; a damaged one is refused")
    func checkpointText() {
        let checkpoint = ChangelogCheckpoint(topic: "vigil.state", partition: 2, position: 1_234, slots: [10, nil, 30])
        #expect(ChangelogCheckpoint(text: checkpoint.text) == checkpoint)
        #expect(checkpoint.written == [0: 10, 2: 30])
        for damaged in [
            "", "vigil-changelog-checkpoint v1\nt\n2\n-", "vigil-changelog-checkpoint v2\nt\n2 5\n1 2 3\n",
            "vigil-changelog-checkpoint v1\nt\n2 5\n1 x 3\n", "vigil-changelog-checkpoint v1\nt\n2 -5\n1 2 3\n",
        ] {
            #expect(ChangelogCheckpoint(text: damaged) == nil, "\(damaged)")
        }
    }

    @Test(
        "read from a checkpoint: only the records after it are read, and a newer snapshot another host wrote there is found"
    )
    func readFromCheckpoint() async throws {
        let topic = StreamHarness.unique("state-cp")
        try await StreamHarness.createTopics([topic: 2], configs: ["cleanup.policy": "compact"])
        var changelog = StateChangelog(topic: topic, group: StreamHarness.unique("g"), partitions: 2)
        changelog.chunkBytes = 1_000
        let producer = try KafkaProducer(
            configuration: ProducerConfiguration(bootstrapServers: StreamHarness.brokers),
            observer: KafkaClientObserver(logger: StreamHarness.logger))
        defer { _ = producer.close(timeout: .seconds(10)) }
        func write(slot: Int, offset: Int64, seed: UInt8) async throws -> DeliveryReport {
            let results = await producer.send(
                changelog.messages(Self.tp, slot: slot, nextOffset: offset, state: Self.state(2_500, seed: seed)))
            return try #require(try results.last?.get())
        }
        _ = try await write(slot: 0, offset: 100, seed: 1)
        let ours = try await write(slot: 1, offset: 200, seed: 2)  // this host's last write
        let theirs = try await write(slot: 2, offset: 300, seed: 3)  // another host's, later
        #expect(ours.partition == changelog.changelogPartition(Self.tp))
        let consumer = ConsumerConfiguration(bootstrapServers: StreamHarness.brokers, groupID: "restore")
        let tail = try await changelog.read(
            [Self.tp], from: [ours.partition: ours.offset + 1], configuration: consumer, timeout: .seconds(60),
            logger: StreamHarness.logger)
        #expect(tail.complete)
        #expect(tail.records == 4, "the 3 chunks and the manifest written after the checkpoint")
        #expect(tail.contents[Self.tp]?.newest(atOrBefore: 1_000)?.offset == 300)
        #expect(tail.contents[Self.tp]?.newest(atOrBefore: 299) == nil, "older ones are the local cache's to give")
        #expect(theirs.offset + 1 == ours.offset + 5)
        // From the beginning, committed at 299: the newest snapshot at or before it is slot 1's.
        let whole = try await changelog.read(
            [Self.tp], limits: [Self.tp: 299], configuration: consumer, timeout: .seconds(60),
            logger: StreamHarness.logger)
        #expect(whole.records == 12)
        #expect(whole.contents[Self.tp]?.newest(atOrBefore: 299)?.offset == 200)
        #expect(whole.contents[Self.tp]?.snapshots.count == 1, "only that one is held")
        // A checkpoint past the end (the topic was recreated) reads everything.
        let past = try await changelog.read(
            [Self.tp], from: [ours.partition: 1_000_000], configuration: consumer, timeout: .seconds(60),
            logger: StreamHarness.logger)
        #expect(past.records == 12)
    }

    @Test("1M distinct entities: written to the real broker's changelog and restored exactly; time and memory reported")
    func largeStateRestore() async throws {
        var config = DetectionConfig.default
        config.maxEntities = 1_100_000
        var engine = DetectionEngine(config: config)
        // The state 1M failures from distinct sources leave, made directly (1M events through
        // the engine take minutes in a debug build): each source's failure times, its
        // (source, user) pair's and the users it tried.
        let start = UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 12, minute: 0, second: 0)
        for i in 0..<1_000_000 {
            let time = start + Int64(i)
            var failures = TimeWindow()
            failures.add(time, cap: 64)
            let source = StableHash.combine(0x5EED, UInt64(i))
            engine.state.sourceFailures.restore(source, time: time, value: failures)
            engine.state.pairFailures.restore(
                StableHash.combine(source, UInt64(i % 5_000)), time: time, value: failures)
            var users = DistinctWindow()
            users.add(UInt64(i % 5_000), name: "user\(i % 5_000)", at: time, cap: 64)
            engine.state.sourceUsers.restore(source, time: time, value: users)
        }
        engine.state.watermark = start + 1_000_000
        let state = engine.snapshot()
        let topic = StreamHarness.unique("state-big")
        try await StreamHarness.createTopics([topic: 1], configs: ["cleanup.policy": "compact"])
        let changelog = StateChangelog(topic: topic, group: StreamHarness.unique("g"), partitions: 1)
        let producer = try KafkaProducer(
            configuration: ProducerConfiguration(bootstrapServers: StreamHarness.brokers),
            observer: KafkaClientObserver(logger: StreamHarness.logger))
        let written = ContinuousClock.now
        let results = await producer.send(changelog.messages(Self.tp, slot: 0, nextOffset: 1_000_000, state: state))
        let writeTime = ContinuousClock.now - written
        #expect(results.allSatisfy { if case .success = $0 { true } else { false } })
        _ = producer.close(timeout: .seconds(10))

        let before = StreamHarness.rssMiB()
        let outcome = try await changelog.read(
            [Self.tp],
            configuration: ConsumerConfiguration(bootstrapServers: StreamHarness.brokers, groupID: "restore"),
            timeout: .seconds(120), logger: StreamHarness.logger)
        let peak = StreamHarness.peakRSSMiB()
        #expect(outcome.complete)
        let found = try #require(outcome.contents[Self.tp]?.newest(atOrBefore: 1_000_000))
        #expect(found.offset == 1_000_000)
        #expect(found.bytes == state)
        var restored = DetectionEngine(config: config)
        let restoring = ContinuousClock.now
        try restored.restore(found.bytes)
        let decodeTime = ContinuousClock.now - restoring
        #expect(restored.snapshot() == state, "the restored engine is the one that was written")
        print(
            "changelog restore, 1M distinct sources: \(state.count / 1_048_576) MiB in \(outcome.records) records; written in \(writeTime), read in \(outcome.duration), decoded in \(decodeTime); RSS \(Int(before)) MiB before the read, peak \(Int(peak)) MiB"
        )
    }
}
