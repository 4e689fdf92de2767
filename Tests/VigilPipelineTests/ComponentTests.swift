import Foundation
import Logging
import Testing
import VigilDetection
import VigilKafka
import VigilKafkaTesting

@testable import VigilPipeline

@Suite("Offset tracking")
struct OffsetTrackerTests {
    @Test("the committable offset follows the finished prefix, whatever order ranges finish in")
    func outOfOrder() {
        var tracker = OffsetTracker()
        _ = tracker.start(first: 0, last: 9)
        _ = tracker.start(first: 10, last: 19)
        _ = tracker.start(first: 25, last: 30)  // a gap (compaction, transaction markers)
        #expect(tracker.finish(first: 10) == nil)
        #expect(tracker.committable == nil)
        #expect(tracker.finish(first: 25) == nil)
        #expect(tracker.finish(first: 0) == 31)
        #expect(tracker.committable == 31)
        #expect(tracker.unfinished == 0)
        #expect(tracker.finish(first: 999) == nil)  // unknown range: ignored
    }

    @Test("a range at or before one already started is refused: the commit can never pass unfinished records")
    func refusesOutOfOrderRanges() {
        var tracker = OffsetTracker()
        let started = [
            tracker.start(first: 0, last: 9), tracker.start(first: 10, last: 19),
            // A stale batch re-fetched for a new assignment: offsets 5...14 again.
            tracker.start(first: 5, last: 14), tracker.start(first: 19, last: 25), tracker.start(first: 30, last: 29),
        ]
        #expect(started == [true, true, false, false, false])
        #expect(tracker.unfinished == 2)
        #expect(tracker.finish(first: 10) == nil)
        #expect(tracker.committable == nil)  // 0...9 is not finished
        #expect(tracker.finish(first: 0) == 20)
    }

    @Test("long runs stay compact")
    func compaction() {
        var tracker = OffsetTracker()
        for i in 0..<10_000 { _ = tracker.start(first: Int64(i * 10), last: Int64(i * 10 + 9)) }
        for i in 0..<10_000 { _ = tracker.finish(first: Int64(i * 10)) }
        #expect(tracker.committable == 100_000)
        #expect(tracker.unfinished == 0)
    }
}

@Suite("In-flight gate")
struct InFlightGateTests {
    @Test("acquire waits at the cap and resumes on release; an oversized batch alone is admitted")
    func bounded() async throws {
        let gate = InFlightGate(maxEvents: 10, maxBytes: 1_000)
        await gate.acquire(events: 8, bytes: 100)
        let admitted = Locked(false)
        let waiter = Task {
            await gate.acquire(events: 5, bytes: 100)
            admitted.set(true)
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!admitted.value)
        gate.release(events: 8, bytes: 100)
        await waiter.value
        #expect(admitted.value)
        #expect(gate.events == 5)
        gate.release(events: 5, bytes: 100)
        await gate.acquire(events: 50, bytes: 5_000)  // larger than the cap, nothing in flight
        #expect(gate.events == 50)
    }
}

@Suite("State snapshots on disk")
struct StateStoreTests {
    @Test("the newest valid snapshot at or before the committed offset is chosen; damaged ones are skipped")
    func latest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = StateStore(directory: dir, group: "g")
        store.keep = 3
        let tp = TopicPartition("raw-logs", 2)
        let logger = Logger(label: "test")
        try store.save(tp, nextOffset: 100, state: Array("a".utf8))
        try store.save(tp, nextOffset: 200, state: Array("bb".utf8))
        try store.save(tp, nextOffset: 300, state: Array("ccc".utf8))
        try store.save(tp, nextOffset: 400, state: Array("dddd".utf8))
        #expect(store.offsets(tp) == [200, 300, 400])  // only the newest three are kept
        #expect(store.latest(tp, atOrBefore: 350, logger: logger).map { $0.0 } == 300)
        #expect(store.latest(tp, atOrBefore: 400, logger: logger)?.1 == Array("dddd".utf8))
        #expect(store.latest(tp, atOrBefore: 150, logger: logger) == nil)
        // Damage the 300 snapshot: the 200 one is used instead.
        let path = "\(dir)/g/raw-logs-2/300.snapshot"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[data.count - 1] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: path))
        #expect(store.latest(tp, atOrBefore: 350, logger: logger).map { $0.0 } == 200)
    }

    @Test("pruning keeps the snapshot recovery from the committed offset needs, however far commits lag")
    func protectsCommitted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = StateStore(directory: dir, group: "g")
        store.keep = 2
        let tp = TopicPartition("raw-logs", 0)
        // Commits stuck at 150 while snapshots move on.
        for offset in stride(from: Int64(100), through: 600, by: 100) {
            try store.save(tp, nextOffset: offset, state: Array("s\(offset)".utf8), protecting: 150)
        }
        #expect(store.offsets(tp) == [100, 500, 600])
        #expect(store.latest(tp, atOrBefore: 150, logger: Logger(label: "test")).map { $0.0 } == 100)
        // Once the commit moves on, the old one goes.
        try store.save(tp, nextOffset: 700, state: Array("s700".utf8), protecting: 650)
        #expect(store.offsets(tp) == [600, 700])
    }
}

@Suite("Stream messages")
struct StreamMessageTests {
    static func record() -> ConsumerRecord {
        ConsumerRecord(
            topic: "raw-logs", partition: 3, offset: 41, timestamp: 1_000, key: ArraySlice(Array("k".utf8)),
            value: ArraySlice(Array("not a log".utf8)), headers: [KafkaHeader(name: "origin", string: "x")])
    }

    @Test("dead letters keep key, value and headers and add Kafka Connect's error headers")
    func deadLetter() {
        let message = StreamMessages.deadLetter(
            Self.record(), topic: "raw-logs.dlq",
            errors: [RecordError(index: 0, line: 1, reason: "no timestamp")])
        #expect(message.topic == "raw-logs.dlq")
        #expect(message.key == Array("k".utf8))
        #expect(message.value == Array("not a log".utf8))
        let headers = Dictionary(
            message.headers.map { ($0.name, $0.stringValue ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(headers["origin"] == "x")
        #expect(headers["__connect.errors.topic"] == "raw-logs")
        #expect(headers["__connect.errors.partition"] == "3")
        #expect(headers["__connect.errors.offset"] == "41")
        #expect(headers["__connect.errors.exception.class.name"] == "vigil.RecordError")
        #expect(headers["__connect.errors.exception.message"] == "line 1: no timestamp")
    }

    @Test("anomalies are keyed by entity and carry schema, detector, severity and source headers")
    func anomaly() {
        var engine = DetectionEngine()
        var found: [Anomaly] = []
        for i in 0..<8 {
            var e = LogEvent(
                timestamp: 1_000_000 + Int64(i), kind: .authFailure, outcome: .failure, user: "bob",
                sourceIP: "10.0.0.1")
            e.isAttempt = true
            found += engine.process(e)
        }
        // The eighth failure's per-account alert (the fifth gave the medium per-source one).
        let high = found.filter { $0.severity == .high }
        let message = StreamMessages.anomaly(high[0], topic: "security-anomalies", source: Self.record())
        #expect(message.key == Array("source_ip_user:bob@10.0.0.1".utf8))
        let headers = Dictionary(
            message.headers.map { ($0.name, $0.stringValue ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(headers["vigil.schema_version"] == Anomaly.schemaVersion)
        #expect(headers["vigil.detector"] == "brute_force")
        #expect(headers["vigil.severity"] == "high")
        #expect(headers["vigil.source.offset"] == "41")
        #expect(message.value == AnomalyJSON.encode(high[0]))
    }
}
