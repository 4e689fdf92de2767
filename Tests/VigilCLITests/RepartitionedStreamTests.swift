import Foundation
import Testing
import VigilDetection
import VigilKafka
import VigilSimulation
import VigilServers
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
        "null keys over 6 partitions: the anomalies `vigil analyze` finds in one file, by detector and entity; offsets of both stages committed — both stages in one process, or each in its own",
        arguments: ["all", "separate"])
    func unkeyedMatchesAnalyze(stages: String) async throws {
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
        let topics = try await Topics.fresh(partitions: 6)
        try await StreamHarness.produce(input, topic: topics.input)

        // One process (`stages: all`), or the route and detect stages as two deployments.
        let ports = (FreePort.next(), FreePort.next())
        let processes =
            try stages == "all"
            ? [
                StreamHarness.StreamProcess(
                    arguments: topics.arguments(stateDir: "\(dir)/state", metricsPort: ports.0),
                    logPath: "\(dir)/stream.log")
            ]
            : [
                StreamHarness.StreamProcess(
                    arguments: topics.arguments(
                        stateDir: "\(dir)/route", metricsPort: ports.0, extra: ["--stages", "route"]),
                    logPath: "\(dir)/route.log"),
                StreamHarness.StreamProcess(
                    arguments: topics.arguments(
                        stateDir: "\(dir)/detect", metricsPort: ports.1, extra: ["--stages", "detect"]),
                    logPath: "\(dir)/detect.log"),
            ]
        defer { for process in processes { process.killIfRunning() } }
        let (route, detect) = try await Self.waitUntilDone(
            processes, topics: topics, input: input, ports: stages == "all" ? (ports.0, ports.0) : ports)
        let sent = Self.metric(route, "vigil_repartition_events_total", stage: "route")
        #expect(sent > Double(lines.count), "an event with an account goes to both topics: \(sent)")
        #expect(Self.metric(route, "vigil_events_consumed_total", stage: "route") == Double(lines.count))
        #expect(Self.metric(detect, "vigil_repartition_duplicates_total", stage: "detect") == 0)
        if stages == "separate" {
            #expect(!route.contains("stage=\"detect\"") && !detect.contains("stage=\"route\""), "one stage each")
        }
        for (process, port) in zip(processes, [ports.0, ports.1]) {
            #expect(await StreamHarness.httpGet(port: port, path: "/readyz")?.0 == 200)
            process.terminate()
            #expect(await process.wait(timeout: .seconds(40)) == 0, "exit status; log:\n\(process.log.suffix(2000))")
        }

        let output = try StreamHarness.dump(topics.output, expect: expected.values.reduce(0, +))
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
        for topic in [topics.bySource, topics.byUser] {
            let offsets = try await StreamHarness.committed(
                group: topics.group + ".detect", topic: topic, partitions: 6)
            #expect(offsets.values.contains { $0 > 0 }, "\(topic): \(offsets)")
        }
    }

    /// Anomalies by what they are and where they came from — detector, entity and the input
    /// record (partition, offset) — with how often each occurs: ids also hash the input topic's
    /// name, which differs between two runs.
    static func positions(_ records: [StreamHarness.DumpedRecord]) -> [String: Int] {
        var found: [String: Int] = [:]
        for record in records {
            guard let value = record.value, let key = keys([value]).keys.first else { continue }
            let partition = (record.headers["vigil.source.partition"] ?? nil) ?? "?"
            let offset = (record.headers["vigil.source.offset"] ?? nil) ?? "?"
            found["\(key) \(partition)@\(offset)", default: 0] += 1
        }
        return found
    }

    /// Fresh input, output, dead-letter and repartition topics and a group for one run.
    struct Topics {
        var input: String, output: String, dlq: String, group: String, bySource: String, byUser: String

        static func fresh(partitions: Int) async throws -> Topics {
            let (input, output, dlq, group) = try await StreamHarness.freshTopics(partitions: partitions)
            let (bySource, byUser) = (StreamHarness.unique("by-source"), StreamHarness.unique("by-user"))
            try await StreamHarness.createTopics([bySource: partitions, byUser: partitions])
            return Topics(input: input, output: output, dlq: dlq, group: group, bySource: bySource, byUser: byUser)
        }

        func arguments(stateDir: String, metricsPort: Int = 0, extra: [String] = []) -> [String] {
            StreamHarness.streamArguments(
                input: input, output: output, dlq: dlq, group: group, stateDir: stateDir, metricsPort: metricsPort,
                extra: ["--topology", "repartitioned", "--by-source-topic", bySource, "--by-user-topic", byUser] + extra
            )
        }
    }

    /// Waits until the route stage has committed every input record and the detect stage has
    /// read every event the route stage sent (both stages' metrics pages: `ports`, the same
    /// port when one process runs both); returns the last pages (route, detect).
    static func waitUntilDone(
        _ processes: [StreamHarness.StreamProcess], topics: Topics, input: StreamHarness.Input, ports: (Int, Int)
    ) async throws -> (route: String, detect: String) {
        let logs = { processes.map { $0.log.suffix(2500) }.joined(separator: "\n---\n") }
        let committed = try await StreamHarness.waitUntilCommitted(
            group: topics.group, topic: topics.input, input: input, timeout: .seconds(180))
        #expect(committed, "route stage did not commit the input; logs:\n\(logs())")
        var pages = ("", "")
        // Done when the detect stage has read everything sent and holds nothing back (the
        // route stage's idle heartbeats release the last events once the input is read).
        var (sent, detected, held) = (0.0, -1.0, 0.0)
        for _ in 0..<480 where sent != detected || held > 0 {
            try await Task.sleep(for: .milliseconds(250))
            pages.0 = await StreamHarness.httpGet(port: ports.0, path: "/metrics")?.1 ?? ""
            pages.1 =
                ports.1 == ports.0 ? pages.0 : await StreamHarness.httpGet(port: ports.1, path: "/metrics")?.1 ?? ""
            sent = metric(pages.0, "vigil_repartition_events_total", stage: "route")
            detected = metric(pages.1, "vigil_events_parsed_total", stage: "detect")
            held = metric(pages.1, "vigil_repartition_held_events", stage: "detect")
        }
        #expect(held == 0, "the detect stage still holds \(held) events; logs:\n\(logs())")
        #expect(sent == detected, "detect stage read \(detected) of \(sent) events; logs:\n\(logs())")
        return pages
    }

    /// The generated scenario of the failure tests, produced the way shippers do by default:
    /// no key, so each record lands on any partition (seeded).
    static func unkeyedInput(partitions: Int) -> StreamHarness.Input {
        var options = GeneratorOptions()
        options.users = 200
        options.historyDays = 2
        options.attackDays = 8
        options.attacksPerKind = 5
        var input = StreamHarness.input(partitions: partitions, generator: options)
        var rng = SeededRandom(seed: 33)
        for k in input.records.indices { input.records[k].partition = Int32(rng.next(UInt64(partitions))) }
        return input
    }

    @Test(
        "repartitioned, two hosts with separate state directories: one is killed (-9) mid-stream, the other takes its partitions of both stages, a third joins; the anomalies are a single instance's"
    )
    func handover() async throws {
        let input = Self.unkeyedInput(partitions: 4)
        let dir = StreamHarness.temporaryDirectory()

        // The reference: one instance reads everything.
        let reference = try await Topics.fresh(partitions: 4)
        try await StreamHarness.produce(input, topic: reference.input)
        let port = FreePort.next()
        let single = try StreamHarness.StreamProcess(
            arguments: reference.arguments(stateDir: "\(dir)/reference", metricsPort: port),
            logPath: "\(dir)/reference.log")
        defer { single.killIfRunning() }
        _ = try await Self.waitUntilDone([single], topics: reference, input: input, ports: (port, port))
        single.terminate()
        #expect(await single.wait(timeout: .seconds(40)) == 0, "\(single.log.suffix(2000))")
        let expected = Self.positions(try StreamHarness.dump(reference.output, idle: 2))
        #expect(expected.count > 50, "the scenario's attacks are found: \(expected.count)")
        #expect(expected.values.allSatisfy { $0 == 1 }, "duplicates in a clean run")

        // Two "hosts", each with its own state directory: only the changelog is shared.
        let topics = try await Topics.fresh(partitions: 4)
        func start(_ host: String) throws -> StreamHarness.StreamProcess {
            try StreamHarness.StreamProcess(
                arguments: topics.arguments(
                    stateDir: "\(dir)/\(host)", extra: ["--batch-size", "200", "--snapshot-interval-ms", "300"]),
                logPath: "\(dir)/\(host).log")
        }
        func assigned(_ process: StreamHarness.StreamProcess) async throws -> Bool {
            for _ in 0..<120 where !process.log.contains("partitions assigned: \(topics.input)") {
                try await Task.sleep(for: .milliseconds(500))
            }
            return process.log.contains("partitions assigned: \(topics.input)")
        }
        let a = try start("a")
        defer { a.killIfRunning() }
        let b = try start("b")
        defer { b.killIfRunning() }
        #expect(try await assigned(a), "a got no partitions:\n\(a.log.suffix(2000))")
        #expect(try await assigned(b), "b got no partitions:\n\(b.log.suffix(2000))")
        // Paced, so every input partition keeps receiving (none goes idle) while a dies and c joins.
        let feeding = Task { try await StreamHarness.produce(input, topic: topics.input, perSecond: 800) }
        try await Task.sleep(for: .seconds(3))
        a.kill9()
        _ = await a.wait(timeout: .seconds(5))
        // b takes a's partitions once the group notices (the session timeout), state from the changelog.
        let assignments = { b.log.components(separatedBy: "partitions assigned: \(topics.input)").count - 1 }
        for _ in 0..<60 where assignments() < 2 { try await Task.sleep(for: .milliseconds(500)) }
        #expect(assignments() >= 2, "b never took a's partitions:\n\(b.log.suffix(2000))")
        let c = try start("c")
        defer { c.killIfRunning() }
        #expect(try await assigned(c), "c got no partitions:\n\(c.log.suffix(2000))")
        try await feeding.value
        #expect(
            try await StreamHarness.waitUntilCommitted(
                group: topics.group, topic: topics.input, input: input, timeout: .seconds(180)),
            "the input was never committed:\nb:\n\(b.log.suffix(2000))\nc:\n\(c.log.suffix(2000))")
        // The detect stage is done once every anomaly is out (or nothing more comes).
        var output: [String: Int] = [:]
        for _ in 0..<30 where !Set(expected.keys).isSubset(of: output.keys) {
            output = Self.positions(try StreamHarness.dump(topics.output, expect: expected.count, idle: 2))
        }
        for (name, process) in [("b", b), ("c", c)] {
            #expect(
                process.log.contains("from the changelog"),
                "\(name): no partition was restored from the changelog:\n\(process.log.split(separator: "\n").filter { $0.contains("state") || $0.contains("snapshot") }.joined(separator: "\n"))"
            )
        }
        b.terminate()
        c.terminate()
        #expect(await b.wait(timeout: .seconds(40)) == 0, "\(b.log.suffix(2000))")
        #expect(await c.wait(timeout: .seconds(40)) == 0, "\(c.log.suffix(2000))")
        output = Self.positions(try StreamHarness.dump(topics.output, expect: expected.count, idle: 2))
        let lost = Set(expected.keys).subtracting(output.keys)
        let unexpected = Set(output.keys).subtracting(expected.keys)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies a single instance does not produce")
        let duplicates = output.values.reduce(0) { $0 + $1 - 1 }
        print(
            "repartitioned handover: \(expected.count) anomalies expected, lost \(lost.count), unexpected \(unexpected.count), duplicates \(duplicates) (replays of a's uncommitted work)"
        )
        if lost.isEmpty && unexpected.isEmpty {
            try? FileManager.default.removeItem(atPath: dir)
        } else {
            print("repartitioned handover: files kept in \(dir)")
        }
    }
}
