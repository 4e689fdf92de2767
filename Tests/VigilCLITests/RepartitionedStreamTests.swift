import Foundation
import Testing
import VigilDetection
import VigilKafka
import VigilTesting

/// `vigil stream --topology repartitioned` as a real process on the real local broker: input
/// produced the way Filebeat, rsyslog or Vector produce by default (null keys, any partition),
/// compared with `vigil analyze` on the same lines in one file. Output read by Python
/// confluent-kafka.
@Suite("vigil stream, repartitioned", .serialized)
struct RepartitionedStreamTests {
    /// "detector entity-kind:value" of anomalies in JSON form.
    static func keys(_ jsonLines: [String]) -> [String: Int] {
        var keys: [String: Int] = [:]
        for line in jsonLines {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let detector = object["detector"] as? String,
                let entity = object["entity"] as? [String: Any],
                let kind = entity["type"] as? String, let value = entity["value"] as? String
            else { continue }
            keys["\(detector) \(kind):\(value)", default: 0] += 1
        }
        return keys
    }

    /// A metric's value for one stage from a Prometheus text page (0 when absent).
    static func metric(_ page: String, _ name: String, stage: String) -> Double {
        let prefix = "\(name){stage=\"\(stage)\"} "
        for line in page.split(separator: "\n") where line.hasPrefix(prefix) {
            return Double(line.dropFirst(prefix.count)) ?? 0
        }
        return 0
    }

    @Test(
        "null keys over 6 partitions: the anomalies `vigil analyze` finds in one file, by detector and entity; offsets of both stages committed"
    )
    func unkeyedMatchesAnalyze() async throws {
        let lines = multiHostAuthLog()
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(dir)/auth.log", atomically: true, encoding: .utf8)
        let analyzed = try VigilCommand.run(["analyze", "\(dir)/auth.log", "--format", "ndjson"])
        #expect(analyzed.status == 0, "\(analyzed.errors)")
        let expected = Self.keys(analyzed.output.split(separator: "\n").map(String.init))
        // Not vacuous: the attacks spread over hosts are found in the file.
        for key in [
            "brute_force source_ip_user:root@203.0.113.7", "account_enumeration source_ip:203.0.113.50",
            "password_spraying source_ip:198.51.100.77", "credential_stuffing user:deploy",
            "success_after_failures user:user5",
        ] {
            #expect(expected[key] != nil, "analyze misses \(key): \(expected.keys.sorted())")
        }

        // Null keys, random partitions (seeded), each partition in the file's order.
        var rng = SeededRandom(seed: 21)
        var input = StreamHarness.Input(partitions: 6)
        for line in lines { input.records.append((Int32(rng.next(6)), Array(line.utf8))) }
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 6)
        let (bySource, byUser) = (StreamHarness.unique("by-source"), StreamHarness.unique("by-user"))
        try await StreamHarness.createTopics([bySource: 6, byUser: 6])
        try await StreamHarness.produce(input, topic: inTopic)

        let port = 20_000 + Int.random(in: 0..<20_000)
        let stream = try StreamHarness.StreamProcess(
            arguments: StreamHarness.streamArguments(
                input: inTopic, output: outTopic, dlq: dlq, group: group, stateDir: "\(dir)/state",
                metricsPort: port,
                extra: ["--topology", "repartitioned", "--by-source-topic", bySource, "--by-user-topic", byUser]),
            logPath: "\(dir)/stream.log")
        defer { stream.killIfRunning() }
        let committed = try await StreamHarness.waitUntilCommitted(
            group: group, topic: inTopic, input: input, timeout: .seconds(120))
        #expect(committed, "route stage did not commit the input; log:\n\(stream.log.suffix(3000))")
        // The detect stage is done when it has read every event the route stage sent.
        var page = ""
        var (sent, detected) = (0.0, -1.0)
        for _ in 0..<240 where sent != detected {
            try await Task.sleep(for: .milliseconds(250))
            page = await StreamHarness.httpGet(port: port, path: "/metrics")?.1 ?? ""
            sent = Self.metric(page, "vigil_repartition_events_total", stage: "route")
            detected = Self.metric(page, "vigil_events_parsed_total", stage: "detect")
        }
        #expect(sent > Double(lines.count), "an event with an account goes to both topics: \(sent)")
        #expect(sent == detected, "detect stage read \(detected) of \(sent) events; log:\n\(stream.log.suffix(3000))")
        #expect(Self.metric(page, "vigil_events_consumed_total", stage: "route") == Double(lines.count))
        #expect(Self.metric(page, "vigil_repartition_duplicates_total", stage: "detect") == 0)
        #expect(await StreamHarness.httpGet(port: port, path: "/readyz")?.0 == 200)
        stream.terminate()
        #expect(await stream.wait(timeout: .seconds(40)) == 0, "exit status; log:\n\(stream.log.suffix(2000))")

        let output = try StreamHarness.dump(outTopic, expect: expected.values.reduce(0, +))
        let found = Self.keys(output.compactMap(\.value))
        let missing = Set(expected.keys).subtracting(found.keys)
        #expect(missing.isEmpty, "missed: \(missing.sorted())")
        // Unkeyed, a connection's PAM line (naming the source by host name) and sshd's line
        // (naming its address) can land on different input partitions: nothing ties the name to
        // the address before routing, so the name is counted on its own (the README's Topology
        // section says so). Nothing else may differ.
        let extra = Set(found.keys).subtracting(expected.keys)
        #expect(extra.allSatisfy { $0.contains("scanner.example.net") }, "only repartitioned: \(extra.sorted())")
        let ids = StreamHarness.anomalyIDs(output)
        #expect(ids.values.allSatisfy { $0.count == 1 }, "duplicates in a clean run")
        // Every anomaly points at the input record it came from.
        for record in output {
            let partition = Int32((record.headers["vigil.source.partition"] ?? nil) ?? "") ?? -1
            #expect((0..<6).contains(partition), "source partition header: \(record.headers)")
        }
        // Both stages committed: the route stage the input, the detect stage both repartition topics.
        for topic in [bySource, byUser] {
            let offsets = try await StreamHarness.committed(group: group + ".detect", topic: topic, partitions: 6)
            #expect(offsets.values.contains { $0 > 0 }, "\(topic): \(offsets)")
        }
    }
}
