import Foundation
import Logging
import Metrics
import MetricsTestKit
import Testing
import VigilDetection
import VigilKafka
import VigilKafkaTesting
import VigilSimulation
import VigilTesting

@testable import VigilPipeline

/// The pipeline in-process against librdkafka's mock cluster, which can take brokers down and
/// inject request errors on demand (a real broker cannot).
@Suite("Stream under broker faults (mock cluster)", .serialized)
struct StreamFaultTests {
    func generator(users: Int = 40, days: Int = 2) -> GeneratorOptions {
        var options = GeneratorOptions()
        options.users = users
        options.historyDays = 1
        options.attackDays = days
        options.attacksPerKind = 2
        return options
    }

    func input(users: Int = 40, days: Int = 2) -> StreamHarness.Input {
        StreamHarness.input(partitions: 2, generator: generator(users: users, days: days))
    }

    /// Every topic a pipeline needs, with its partition count: input, output, dead letters and
    /// the state changelog.
    static let topics = [("in", 2), ("out", 2), ("dlq", 1), ("vigil.state", 2)]

    func settings(_ cluster: MockCluster, stateDir: String) -> StreamConfiguration {
        var s = StreamConfiguration()
        s.brokers = cluster.bootstrapServers
        s.groupID = StreamHarness.unique("g")
        s.inputTopic = "in"
        s.outputTopic = "out"
        s.deadLetterTopic = "dlq"
        s.stateDirectory = stateDir
        s.commitIntervalMs = 500
        s.snapshotIntervalMs = 200
        s.consumerProperties = ["session.timeout.ms": "6000"]
        // Fail fast on a dead broker, so the pipeline's own retries are exercised.
        s.producerProperties = ["message.timeout.ms": "3000"]
        return s
    }

    /// Two brokers: the input (and the group coordinator) on broker 1, the output topics on
    /// broker 2, so the output can be taken away alone.
    func splitCluster() throws -> MockCluster {
        let cluster = try MockCluster(brokers: 2)
        try cluster.createTopic("in", partitions: 2, replicationFactor: 1)
        try cluster.createTopic("out", partitions: 2, replicationFactor: 1)
        try cluster.createTopic("dlq", partitions: 1, replicationFactor: 1)
        try cluster.createTopic("vigil.state", partitions: 2, replicationFactor: 1)
        for p in Int32(0)..<2 {
            try cluster.setPartitionLeader("in", p, brokerID: 1)
            try cluster.setPartitionLeader("vigil.state", p, brokerID: 1)
            try cluster.setPartitionLeader("out", p, brokerID: 2)
        }
        try cluster.setPartitionLeader("dlq", 0, brokerID: 2)
        return cluster
    }

    /// Loads `data` into "in": what the engine expects from it, a state directory, and
    /// settings for a pipeline over it.
    func load(
        _ data: StreamHarness.Input, into cluster: MockCluster
    ) async throws
        -> (expected: [String: (partition: Int32, offset: Int64)], dir: String, settings: StreamConfiguration)
    {
        let expected = StreamHarness.expected(data, topic: "in")
        try await StreamHarness.produce(data, topic: "in", bootstrap: cluster.bootstrapServers)
        let dir = StreamHarness.temporaryDirectory()
        return (expected, dir, settings(cluster, stateDir: dir))
    }

    /// What "out" holds against `expected`.
    func outputDifference(
        _ cluster: MockCluster, _ expected: [String: (partition: Int32, offset: Int64)]
    ) async throws
        -> (missing: Set<String>, unexpected: Set<String>)
    {
        let output = try await StreamHarness.readAnomalyIDs(
            topic: "out", partitions: 2, bootstrap: cluster.bootstrapServers)
        return StreamHarness.difference(expected: expected, found: output)
    }

    /// The pipeline's metrics, recorded: a fault test must show that its fault happened.
    /// Bootstrapped once for the test process, shared with the other targets' tests.
    static let metrics: TestMetrics = {
        SharedMetrics.bootstrap()
        return SharedMetrics.recorded
    }()

    /// Per partition, the offset of the first record with an anomaly: with nothing published,
    /// no commit may pass it.
    func firstAnomalyOffsets(_ expected: [String: (partition: Int32, offset: Int64)]) -> [Int32: Int64] {
        expected.values.reduce(into: [Int32: Int64]()) { $0[$1.partition] = min($0[$1.partition] ?? .max, $1.offset) }
    }

    /// A counter's total so far in this process (0 before its first use).
    func counter(_ label: String) -> Int64 { (try? Self.metrics.expectCounter(label))?.totalValue ?? 0 }

    static var logger: Logger {
        var logger = Logger(label: "vigil.test.faults")
        logger.logLevel =
            ProcessInfo.processInfo.environment["VIGIL_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    @Test("brokers down and back, produce errors injected: every anomaly arrives, nothing is lost, retries happened")
    func brokerDownAndBack() async throws {
        // The output on broker 2 only: taking it away while records keep arriving makes
        // deliveries fail for certain; then every broker goes down for a while.
        let cluster = try splitCluster()
        let data = input()
        let waves = StreamHarness.waves(data, count: 2)
        let expected = StreamHarness.expected(data, topic: "in")
        try await StreamHarness.produce(waves[0], topic: "in", bootstrap: cluster.bootstrapServers)
        let dir = StreamHarness.temporaryDirectory()
        let settings = settings(cluster, stateDir: dir)
        try cluster.setGroupCoordinator(settings.groupID, brokerID: 1)
        let retriesBefore = counter("vigil_produce_retries_total")
        // Produce errors the producer retries itself, waiting for the first produce requests.
        cluster.pushRequestErrors(
            .produce, [.notLeaderForPartition, .requestTimedOut, .notEnoughReplicas, .notLeaderForPartition])
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await pipeline.runToCompletion() }
        #expect(await eventually(.seconds(60)) { pipeline.health.assignedPartitions == 2 })
        try cluster.setBrokerDown(2)
        let feeding = Task {
            try await StreamHarness.produce(
                waves[1], topic: "in", perSecond: 4_000, bootstrap: cluster.bootstrapServers)
        }
        // Down until the pipeline has had to retry (the message timeout is 3 s) — the event
        // itself, however slow the machine.
        let retried = await eventually(.seconds(90)) { counter("vigil_produce_retries_total") > retriesBefore }
        #expect(retried, "the output went down but no delivery was retried: the fault never took effect")
        try await feeding.value
        for id in Int32(1)...2 { try cluster.setBrokerDown(id) }
        try await Task.sleep(for: .seconds(2))
        for id in Int32(1)...2 { try cluster.setBrokerUp(id) }
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(120),
            bootstrap: cluster.bootstrapServers)
        #expect(done)
        pipeline.stop()
        let report = await running.value
        #expect(report.clean, "\(report)")
        let output = try await StreamHarness.readAnomalyIDs(
            topic: "out", partitions: 2, bootstrap: cluster.bootstrapServers)
        let (lost, unexpected) = StreamHarness.difference(expected: expected, found: output)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty)
        // A duplicate can only be a retried message the broker had in fact written (a timeout
        // racing the broker's answer): never more than the retries.
        let duplicates = output.values.reduce(0) { $0 + $1 - 1 }
        #expect(Int64(duplicates) <= counter("vigil_produce_retries_total") - retriesBefore, "\(duplicates) duplicates")
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test("output broker unavailable: intake stops at the in-flight cap, memory stays flat, nothing is lost")
    func outputUnavailable() async throws {
        let cluster = try splitCluster()
        let data = input(users: 150, days: 6)
        let (expected, dir, loaded) = try await load(data, into: cluster)
        var settings = loaded
        settings.maxInFlightEvents = 2_000
        settings.batchSize = 200
        try cluster.setGroupCoordinator(settings.groupID, brokerID: 1)
        try cluster.setBrokerDown(2)  // the output is unreachable from the start
        // The baseline is taken before intake starts, so growth up to the cap counts.
        let baseline = StreamHarness.rssMiB()
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await pipeline.runToCompletion() }
        var peakInFlight = 0
        var peakRSS = baseline
        // Wait for intake to reach the cap (the event itself), then watch for a while longer.
        let capped = await eventually(.seconds(60)) {
            peakInFlight = max(peakInFlight, pipeline.health.inFlightEvents)
            return peakInFlight >= settings.maxInFlightEvents - settings.batchSize
        }
        #expect(capped, "intake never reached the in-flight cap (peak \(peakInFlight))")
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(250))
            peakInFlight = max(peakInFlight, pipeline.health.inFlightEvents)
            peakRSS = max(peakRSS, StreamHarness.rssMiB())
        }
        // Bounded: never more than the cap plus one batch in flight, and memory flat.
        #expect(peakInFlight > 0)
        #expect(peakInFlight <= settings.maxInFlightEvents + settings.batchSize, "in flight \(peakInFlight)")
        #expect(peakRSS - baseline < 100, "RSS grew from \(baseline) to \(peakRSS) MiB while the output was down")
        // Nothing published, so no partition's commit may pass its first record with an
        // anomaly (records before it have nothing to publish and may be committed).
        let committed = try await StreamHarness.committed(
            group: settings.groupID, topic: "in", partitions: 2, bootstrap: cluster.bootstrapServers)
        let firstWithAnomaly = firstAnomalyOffsets(expected)
        #expect(firstWithAnomaly.count == 2)
        for (partition, first) in firstWithAnomaly {
            #expect(committed[partition, default: -1] <= first, "partition \(partition) committed past \(first)")
        }
        try cluster.setBrokerUp(2)
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(180),
            bootstrap: cluster.bootstrapServers)
        #expect(done)
        pipeline.stop()
        let report = await running.value
        #expect(report.clean, "\(report)")
        let (lost, _) = try await outputDifference(cluster, expected)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        print(
            "output-unavailable test: \(data.records.count) records, peak in flight \(peakInFlight) (cap \(settings.maxInFlightEvents)), RSS \(Int(baseline)) → \(Int(peakRSS)) MiB, \(expected.count) anomalies, lost \(lost.count)"
        )
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test("shutdown with the output down: returns at the deadline saying what was left; a restart publishes everything")
    func shutdownDeadline() async throws {
        let cluster = try splitCluster()
        let data = input(users: 60, days: 3)
        let (expected, dir, loaded) = try await load(data, into: cluster)
        var settings = loaded
        settings.shutdownTimeoutMs = 2_000
        try cluster.setGroupCoordinator(settings.groupID, brokerID: 1)
        try cluster.setBrokerDown(2)
        let first = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await first.runToCompletion() }
        for _ in 0..<100 where first.health.inFlightEvents == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(first.health.inFlightEvents > 0)
        let stopping = ContinuousClock.now
        first.stop(reason: "test")
        let report = await running.value
        let took = ContinuousClock.now - stopping
        #expect(!report.clean)
        #expect(report.unfinished > 0 || report.unflushed > 0, "\(report)")
        #expect(report.description.hasPrefix("shutdown deadline exceeded"), "\(report)")
        // The deadline holds (with slack for closing the clients).
        #expect(took < .seconds(10), "shutdown took \(took)")

        // What was left is read again by the next run once the output is back.
        try cluster.setBrokerUp(2)
        let second = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let again = Task { await second.runToCompletion() }
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(120),
            bootstrap: cluster.bootstrapServers)
        #expect(done)
        second.stop()
        let secondReport = await again.value
        #expect(secondReport.clean, "\(secondReport)")
        let (lost, unexpected) = try await outputDifference(cluster, expected)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "a dead letter too large for the producer goes out cut, with a header saying so; the partition does not stall")
    func oversizedDeadLetter() async throws {
        let cluster = try MockCluster(brokers: 1)
        for (topic, partitions) in Self.topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        }
        let huge = Array("{\"user\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 200_000)  // unterminated JSON
        let data = StreamHarness.input(partitions: 2, generator: generator(), malformed: [huge])
        let (expected, dir, loaded) = try await load(data, into: cluster)
        var settings = loaded
        settings.producerProperties["message.max.bytes"] = "100000"
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await pipeline.runToCompletion() }
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(60),
            bootstrap: cluster.bootstrapServers)
        #expect(done, "the partition with the oversized record stalled")
        pipeline.stop()
        #expect((await running.value).clean)

        let consumer = try KafkaConsumer(
            configuration: ConsumerConfiguration(
                bootstrapServers: cluster.bootstrapServers, groupID: StreamHarness.unique("r")),
            observer: KafkaClientObserver(logger: Self.logger))
        try consumer.assign([TopicPartitionOffset("dlq", 0, offset: -2)])
        var dead: [ConsumerRecord] = []
        while let batch = await consumer.nextBatch(timeout: .seconds(3)) { dead += Array(batch) }
        try? await consumer.close(timeout: .seconds(2))
        #expect(dead.count == 1)
        if let letter = dead.first {
            #expect(letter.value.map(Array.init) == Array(huge.prefix(16 * 1024)))
            #expect(letter.headers.first { $0.name == "vigil.dlq.truncated_from" }?.stringValue == String(huge.count))
            #expect(letter.headers.first { $0.name == "__connect.errors.topic" }?.stringValue == "in")
            #expect(letter.headers.contains { $0.name == "__connect.errors.offset" })
        }
        let (lost, _) = try await outputDifference(cluster, expected)
        #expect(lost.isEmpty)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Waits (up to `timeout`) until `condition` holds; the condition is the event itself, so
    /// a slow machine only makes the wait longer.
    func eventually(_ timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    @Test("a delivery refused for good fails readiness with the reason, commits nothing past it, and recovers")
    func permanentErrorRetried() async throws {
        let cluster = try MockCluster(brokers: 1)
        for (topic, partitions) in Self.topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        }
        let data = input()
        let (expected, dir, settings) = try await load(data, into: cluster)
        // Every produce request is refused until the errors run out (an ACL fixed later).
        cluster.pushRequestErrors(.produce, Array(repeating: .topicAuthorizationFailed, count: 8))
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await pipeline.runToCompletion() }
        let refused = await eventually(.seconds(60)) { pipeline.health.deliveryProblem != nil }
        #expect(refused, "the refusal never showed in the health")
        let health = pipeline.health
        #expect(!health.ready)
        #expect(health.deliveryProblem?.contains("TOPIC_AUTHORIZATION_FAILED") == true, "\(health)")
        // The errors run out: deliveries succeed, readiness returns, everything is committed.
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(120),
            bootstrap: cluster.bootstrapServers)
        #expect(done)
        #expect(pipeline.health.deliveryProblem == nil)
        #expect(pipeline.health.ready)
        pipeline.stop()
        let report = await running.value
        #expect(report.clean, "\(report)")
        let (lost, unexpected) = try await outputDifference(cluster, expected)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test("with on_permanent_produce_error=exit the stream stops, reports the error and commits nothing unfinished")
    func permanentErrorExits() async throws {
        let cluster = try MockCluster(brokers: 1)
        for (topic, partitions) in Self.topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        }
        let data = input()
        let (_, dir, loaded) = try await load(data, into: cluster)
        var settings = loaded
        settings.onPermanentError = .exit
        settings.shutdownTimeoutMs = 3_000
        cluster.pushRequestErrors(.produce, Array(repeating: .topicAuthorizationFailed, count: 10_000))
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let report = await pipeline.runToCompletion()
        #expect(!report.clean)
        #expect(report.permanentError?.contains("TOPIC_AUTHORIZATION_FAILED") == true, "\(report)")
        #expect(report.description.contains("permanent delivery error"))
        // No anomaly was delivered, so no record with an anomaly may be committed: every
        // partition's commit stays at or before its first record with anomalies.
        let committed = try await StreamHarness.committed(
            group: settings.groupID, topic: "in", partitions: 2, bootstrap: cluster.bootstrapServers)
        let firstWithAnomaly = firstAnomalyOffsets(StreamHarness.expected(data, topic: "in"))
        for (partition, first) in firstWithAnomaly {
            #expect(committed[partition, default: -1] <= first, "partition \(partition) committed past \(first)")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A gauge's last recorded value (nil before its first).
    func gauge(_ label: String) -> Int64? { (try? Self.metrics.expectGauge(label))?.lastValue.map { Int64($0) } }

    @Test(
        "the group coordinator gone past the session timeout: the assignment is lost, commits fail meanwhile, and after rejoining nothing is lost"
    )
    func lostAssignment() async throws {
        // Input and output on broker 1, the group's coordinator alone on broker 2.
        let cluster = try MockCluster(brokers: 2)
        for (topic, partitions) in Self.topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
            for p in 0..<Int32(partitions) { try cluster.setPartitionLeader(topic, p, brokerID: 1) }
        }
        let data = input(users: 80, days: 3)
        let waves = StreamHarness.waves(data, count: 2)
        let expected = StreamHarness.expected(data, topic: "in")
        try await StreamHarness.produce(waves[0], topic: "in", bootstrap: cluster.bootstrapServers)
        let dir = StreamHarness.temporaryDirectory()
        let settings = settings(cluster, stateDir: dir)
        try cluster.setGroupCoordinator(settings.groupID, brokerID: 2)
        let (lostBefore, failuresBefore, rebalancesBefore) = (
            counter("vigil_partitions_lost_total"), counter("vigil_commit_failures_total"),
            counter("vigil_rebalances_total")
        )
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await pipeline.runToCompletion() }
        #expect(await eventually(.seconds(60)) { pipeline.health.assignedPartitions == 2 })

        // The coordinator goes away while the second half of the input arrives.
        try cluster.setBrokerDown(2)
        try await StreamHarness.produce(waves[1], topic: "in", bootstrap: cluster.bootstrapServers)
        let lost = await eventually(.seconds(60)) { counter("vigil_partitions_lost_total") > lostBefore }
        #expect(lost, "the assignment was never lost")
        // A commit's failure is reported when librdkafka gives up on it, which under load can
        // come after the loss is seen: waited for, still before the coordinator returns.
        let commitFailed = await eventually(.seconds(30)) {
            counter("vigil_commit_failures_total") > failuresBefore
        }
        #expect(commitFailed, "no commit failed while the coordinator was away")
        #expect(!pipeline.health.ready)

        try cluster.setBrokerUp(2)
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(120),
            bootstrap: cluster.bootstrapServers)
        #expect(done)
        // Assigned, lost (a revoke), assigned again.
        #expect(counter("vigil_rebalances_total") >= rebalancesBefore + 3)
        pipeline.stop()
        #expect((await running.value).clean)
        let (missing, unexpected) = try await outputDifference(cluster, expected)
        #expect(missing.isEmpty, "\(missing.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "max_inflight_bytes binds when it is the smaller cap: intake stops at it, the gauges show it, nothing is lost")
    func bytesCapBinds() async throws {
        let cluster = try splitCluster()
        let data = input(users: 80, days: 3)
        let (expected, dir, loaded) = try await load(data, into: cluster)
        var settings = loaded
        settings.batchSize = 50
        settings.maxInFlightEvents = 1_000_000
        settings.maxInFlightBytes = 100_000
        try cluster.setGroupCoordinator(settings.groupID, brokerID: 1)
        try cluster.setBrokerDown(2)
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await pipeline.runToCompletion() }
        // Nothing can be published: intake fills up to the byte cap, then waits.
        let full = await eventually(.seconds(60)) { pipeline.health.inFlightBytes > settings.maxInFlightBytes / 2 }
        #expect(full)
        var peakBytes = 0
        var peakEvents = 0
        for _ in 0..<30 {  // three seconds of samples, the gauges recorded meanwhile
            let health = pipeline.health
            peakBytes = max(peakBytes, health.inFlightBytes)
            peakEvents = max(peakEvents, health.inFlightEvents)
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(peakBytes <= settings.maxInFlightBytes, "\(peakBytes) bytes in flight")
        #expect(peakEvents < data.records.count, "everything was read: no cap held")
        #expect((gauge("vigil_inflight_bytes") ?? 0) > 0)
        #expect((gauge("vigil_inflight_events") ?? 0) > 0)
        #expect((gauge("vigil_assigned_partitions") ?? 0) == 2)

        try cluster.setBrokerUp(2)
        let done = try await StreamHarness.waitUntilCommitted(
            group: settings.groupID, topic: "in", input: data, timeout: .seconds(120),
            bootstrap: cluster.bootstrapServers)
        #expect(done)
        pipeline.stop()
        #expect((await running.value).clean)
        let (missing, unexpected) = try await outputDifference(cluster, expected)
        #expect(missing.isEmpty, "\(missing.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "a restart from an older snapshot replays up to the committed offset, counted and publishing nothing twice; late events are counted"
    )
    func replayAndLate() async throws {
        let cluster = try MockCluster(brokers: 1)
        for (topic, partitions) in Self.topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        }
        var data = input()
        // The partition's earliest record once more at its end: far behind its watermark.
        let earliest = try #require(data.records.first { $0.partition == 0 })
        data.records.append(earliest)
        let (expected, dir, loaded) = try await load(data, into: cluster)
        var settings = loaded
        settings.snapshotIntervalMs = 3_600_000  // only the first record's and the final snapshot
        // The local cache alone: the changelog would hold the final snapshot this test removes.
        settings.stateTopic = nil
        let lateBefore = counter("vigil_events_late_total")
        let first = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let running = Task { await first.runToCompletion() }
        #expect(
            try await StreamHarness.waitUntilCommitted(
                group: settings.groupID, topic: "in", input: data, timeout: .seconds(60),
                bootstrap: cluster.bootstrapServers))
        first.stop()
        #expect((await running.value).clean)
        #expect(counter("vigil_events_late_total") > lateBefore, "the late event was not counted")
        let published = try await StreamHarness.readAnomalyIDs(
            topic: "out", partitions: 2, bootstrap: cluster.bootstrapServers)

        // As after a kill -9 before the final snapshots were written: only the oldest remain.
        let group = "\(dir)/\(settings.groupID)"
        for partition in try FileManager.default.contentsOfDirectory(atPath: group) {
            let snapshots = try FileManager.default.contentsOfDirectory(atPath: "\(group)/\(partition)")
                .compactMap { $0.hasSuffix(".snapshot") ? Int64($0.dropLast(9)) : nil }.sorted()
            for offset in snapshots.dropFirst() {
                try FileManager.default.removeItem(atPath: "\(group)/\(partition)/\(offset).snapshot")
            }
            #expect(snapshots.first == 0, "\(partition): \(snapshots)")
        }
        let replayedBefore = counter("vigil_events_replayed_total")
        let second = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let again = Task { await second.runToCompletion() }
        let replayed = await eventually(.seconds(60)) {
            counter("vigil_events_replayed_total") - replayedBefore == Int64(data.records.count)
        }
        #expect(
            replayed, "replayed \(counter("vigil_events_replayed_total") - replayedBefore) of \(data.records.count)")
        second.stop()
        #expect((await again.value).clean)
        let after = try await StreamHarness.readAnomalyIDs(
            topic: "out", partitions: 2, bootstrap: cluster.bootstrapServers)
        #expect(after == published, "the replay published again")
        #expect(Set(after.keys) == Set(expected.keys))
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "a missing input, output, dead-letter or state topic stops the stream at start, naming each; nothing is consumed",
        arguments: [["in"], ["dlq"], ["vigil.state"], ["in", "out", "dlq"]])
    func missingTopics(_ missing: [String]) async throws {
        let cluster = try MockCluster(brokers: 1)
        for (topic, partitions) in Self.topics where !missing.contains(topic) {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        }
        let dir = StreamHarness.temporaryDirectory()
        let settings = settings(cluster, stateDir: dir)
        let pipeline = try StreamPipeline(configuration: settings, model: nil, logger: Self.logger)
        let report = await pipeline.runToCompletion()
        #expect(!report.clean)
        let error = try #require(report.startError, "\(report)")
        #expect(error.hasPrefix("topic(s) \(missing.joined(separator: ", ")) do not exist"), "\(error)")
        #expect(error.contains("vigil topics apply"))
        #expect(pipeline.health.assignedPartitions == 0)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
