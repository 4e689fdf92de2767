import Foundation
import Testing
import VigilAnalysis
import VigilDetection
import VigilKafka
import VigilKafkaTesting
import VigilSettings
import VigilSimulation
import VigilServers
import VigilTesting

/// `vigil stream` as a real process against the real local broker, its output read by an
/// independent client (Python confluent-kafka).
@Suite("vigil stream end to end", .serialized)
struct StreamProcessTests {
    /// Records that cannot be decoded. (A line of free text can: it is an event of kind
    /// unknown, dated by its Kafka record.)
    static let malformed: [[UInt8]] = [
        Array(#"{"timestamp":"2026-11-03T10:00:00Z","user":"x","#.utf8),
        Array(#"{"timestamp":"yesterday","user":"x"}"#.utf8),
        [0xFF, 0xFE, 0x00, 0x01, 0x02],
        Array(#"[1, 2, 3]"#.utf8),
        Array(#"{"timestamp":"2026-11-03T10:00:00Z","user":"x","latitude":500}"#.utf8),
    ]

    func generator(days: Int = 2, users: Int = 40, attacks: Int = 2) -> GeneratorOptions {
        var options = GeneratorOptions()
        options.users = users
        options.historyDays = 1
        options.attackDays = days
        options.attacksPerKind = attacks
        return options
    }

    @Test("generated logs in, the engine's anomalies out; malformed records to the dead-letter topic with headers")
    func endToEnd() async throws {
        let input = StreamHarness.input(partitions: 3, generator: generator(), malformed: Self.malformed)
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 3)
        let expected = StreamHarness.expected(input, topic: inTopic)
        #expect(expected.count > 20)
        try await StreamHarness.produce(input, topic: inTopic)
        let dir = StreamHarness.temporaryDirectory()
        let port = FreePort.next()
        let stream = try StreamHarness.StreamProcess(
            arguments: StreamHarness.streamArguments(
                input: inTopic, output: outTopic, dlq: dlq, group: group,
                stateDir: "\(dir)/state", metricsPort: port),
            logPath: "\(dir)/stream.log")
        let committed = try await StreamHarness.waitUntilCommitted(
            group: group, topic: inTopic, input: input, timeout: .seconds(120))
        #expect(committed, "stream did not commit everything; log:\n\(stream.log.suffix(3000))")

        // Health and metrics while running.
        let ready = await StreamHarness.httpGet(port: port, path: "/readyz")
        #expect(ready?.0 == 200 && ready?.1.contains("\"ready\"") == true, "readyz: \(String(describing: ready))")
        #expect(await StreamHarness.httpGet(port: port, path: "/healthz")?.0 == 200)
        // Statistics (and with them the lag gauges) arrive every 5 s.
        var metrics = ""
        for _ in 0..<40 {
            metrics = await StreamHarness.httpGet(port: port, path: "/metrics")?.1 ?? ""
            if metrics.contains("kafka_consumergroup_lag{") { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(metrics.contains("vigil_events_consumed_total \(input.records.count)"), "\(metrics.prefix(2000))")
        #expect(metrics.contains("vigil_dlq_records_total \(Self.malformed.count)"))
        #expect(metrics.contains("vigil_anomalies_total{"))
        #expect(metrics.contains("kafka_consumergroup_lag{"))

        stream.terminate()
        #expect(await stream.wait(timeout: .seconds(40)) == 0, "exit status; log:\n\(stream.log.suffix(2000))")
        #expect(stream.log.contains("clean shutdown"))

        let output = try StreamHarness.dump(outTopic, expect: expected.count)
        let ids = StreamHarness.anomalyIDs(output)
        let (missing, unexpected) = StreamHarness.difference(expected: expected, found: ids)
        #expect(missing.isEmpty, "\(missing.count) expected anomalies missing")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies the engine does not produce")
        #expect(ids.values.allSatisfy { $0.count == 1 }, "duplicates in a clean run")
        // Output records: keyed by entity, with the documented headers, pointing at their source.
        for record in output {
            #expect(record.key?.contains(":") == true)
            #expect(record.headers["vigil.schema_version"] == Anomaly.schemaVersion)
            #expect(record.headers["vigil.detector"] != nil)
            if let id = record.value.flatMap({
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            })?["id"] as? String,
                let source = expected[id]
            {
                #expect(record.headers["vigil.source.offset"] == String(source.offset))
                #expect(record.headers["vigil.source.partition"] == String(source.partition))
            }
        }

        let dead = try StreamHarness.dump(dlq, expect: Self.malformed.count)
        #expect(dead.count == Self.malformed.count)
        #expect(Set(dead.compactMap(\.value)).count == Self.malformed.count)
        for record in dead {
            #expect(record.headers["__connect.errors.topic"] == inTopic)
            #expect(record.headers["__connect.errors.partition"] != nil)
            #expect(record.headers["__connect.errors.offset"] != nil)
            #expect(record.headers["__connect.errors.exception.class.name"] == "vigil.RecordError")
            #expect(((record.headers["__connect.errors.exception.message"] ?? nil) ?? "").isEmpty == false)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "SIGHUP reloads the model mid-stream without dropping events; a corrupt model is refused and the one in use kept"
    )
    func modelReload() async throws {
        var options = generator(days: 2)
        options.historyDays = 3
        let input = StreamHarness.input(partitions: 2, generator: options)
        // The model is trained on the generated history, as `vigil train` would.
        var trainer = Trainer()
        for line in Generator.generate(options).history {
            let parsed = Array(line.utf8).withUnsafeBufferPointer {
                LogParser.parseRecord(
                    $0,
                    options: ParseOptions(
                        referenceTime: StreamHarness.Input.timestamp,
                        fallbackTime: StreamHarness.Input.timestamp))
            }
            for event in parsed.events { trainer.add(event) }
        }
        let model = trainer.finish()
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 2)
        let expected = StreamHarness.expected(input, topic: inTopic, model: model)
        // Not vacuous: the model changes what is found.
        #expect(Set(expected.keys) != Set(StreamHarness.expected(input, topic: inTopic).keys))

        let dir = StreamHarness.temporaryDirectory()
        let modelDir = "\(dir)/model"
        try ModelDirectory.save(model, to: modelDir, vigilVersion: "test")
        let halves = StreamHarness.waves(input, count: 2)
        try await StreamHarness.produce(halves[0], topic: inTopic)
        let port = FreePort.next()
        let stream = try StreamHarness.StreamProcess(
            arguments: StreamHarness.streamArguments(
                input: inTopic, output: outTopic, dlq: dlq, group: group,
                stateDir: "\(dir)/state", metricsPort: port, extra: ["--model", modelDir]),
            logPath: "\(dir)/stream.log")
        // Signals only once the stream runs (its handlers are installed by then).
        var ready = false
        for _ in 0..<300 where !ready && stream.isRunning {
            ready = await StreamHarness.httpGet(port: port, path: "/readyz")?.0 == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready, "stream not ready; log:\n\(stream.log.suffix(2000))")
        // The second half is produced while the reloads happen, so events are in flight.
        let producing = Task { try await StreamHarness.produce(halves[1], topic: inTopic, perSecond: 2_000) }
        func waitForLog(_ text: String) async -> Bool {
            for _ in 0..<100 {
                if stream.log.contains(text) { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: "\(modelDir)/model.bin"))
        kill(stream.pid, SIGHUP)
        #expect(await waitForLog("keeping the model in use"), "log:\n\(stream.log.suffix(2000))")
        try ModelDirectory.save(model, to: modelDir, vigilVersion: "test")
        kill(stream.pid, SIGHUP)
        #expect(await waitForLog("model reloaded"), "log:\n\(stream.log.suffix(2000))")
        try await producing.value

        let committed = try await StreamHarness.waitUntilCommitted(
            group: group, topic: inTopic, input: input, timeout: .seconds(120))
        #expect(committed, "stream did not commit everything; log:\n\(stream.log.suffix(3000))")
        let metrics = await StreamHarness.httpGet(port: port, path: "/metrics")?.1 ?? ""
        #expect(metrics.contains("vigil_model_reloads_total{result=\"failed\"} 1"), "\(metrics.prefix(3000))")
        #expect(metrics.contains("vigil_model_reloads_total{result=\"ok\"} 1"))
        #expect(metrics.contains("vigil_events_consumed_total \(input.records.count)"))
        stream.terminate()
        #expect(await stream.wait(timeout: .seconds(40)) == 0, "exit status; log:\n\(stream.log.suffix(2000))")

        let ids = StreamHarness.anomalyIDs(try StreamHarness.dump(outTopic, expect: expected.count))
        let (missing, unexpected) = StreamHarness.difference(expected: expected, found: ids)
        #expect(missing.isEmpty, "\(missing.count) expected anomalies missing")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies the engine does not produce with the model")
        #expect(ids.values.allSatisfy { $0.count == 1 }, "duplicates in a clean run")
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test("--print-config shows the merged configuration with secrets masked; bad settings fail clearly")
    func printConfig() async throws {
        let run = { (arguments: [String], environment: [String: String]) throws -> (Int32, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try StreamHarness.vigil())
            process.arguments = ["stream"] + arguments
            process.environment = environment
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let (status, text) = try run(
            ["--print-config", "--batch-size", "77", "--consumer-property", "sasl.password=hunter2"],
            ["VIGIL_GROUP_ID": "from-env", "VIGIL_BATCH_SIZE": "5", "MODEL_DIR": "/models"])
        #expect(status == 0)
        #expect(text.contains("group_id: from-env"))
        #expect(text.contains("batch_size: 77"))
        #expect(text.contains("model_dir: /models"))
        #expect(text.contains("sasl.password: \"****\""))
        #expect(!text.contains("hunter2"))
        let (bad, message) = try run(["--print-config", "--metrics-port", "99999"], [:])
        #expect(bad != 0)
        #expect(message.contains("--metrics-port"))
        let (badProperty, propertyMessage) = try run(
            ["--consumer-property", "no.such.property=1", "--metrics-port", "0"], [:])
        #expect(badProperty != 0)
        #expect(propertyMessage.contains("no.such.property"))
        let (badModel, modelMessage) = try run(["--model", "/nonexistent/model", "--metrics-port", "0"], [:])
        #expect(badModel != 0)
        #expect(modelMessage.contains("manifest.json"))
        // A topic that does not exist stops the stream at once, naming it (exit 1).
        let input = StreamHarness.unique("in")
        let dlq = StreamHarness.unique("dlq")
        try await StreamHarness.createTopics([input: 1, dlq: 1])
        let absent = StreamHarness.unique("absent")
        let (missing, missingMessage) = try run(
            StreamHarness.streamArguments(
                input: input, output: absent, dlq: dlq,
                group: StreamHarness.unique("g"), stateDir: "none", stateTopic: "none"), [:])
        #expect(missing == 1, "\(missingMessage.suffix(1500))")
        #expect(missingMessage.contains("\(absent) do not exist") && missingMessage.contains("vigil topics apply"))
        // So does a missing repartition topic.
        let output = StreamHarness.unique("out")
        try await StreamHarness.createTopics([output: 1])
        let (noRepartition, noRepartitionMessage) = try run(
            StreamHarness.streamArguments(
                input: input, output: output, dlq: dlq, group: StreamHarness.unique("g"), stateDir: "none",
                stateTopic: "none", extra: ["--topology", "repartitioned", "--by-user-topic", absent]), [:])
        #expect(noRepartition == 1, "\(noRepartitionMessage.suffix(1500))")
        #expect(noRepartitionMessage.contains(absent), "\(noRepartitionMessage.suffix(1500))")
        let (badTopology, topologyMessage) = try run(["--print-config", "--topology", "sideways"], [:])
        #expect(badTopology != 0)
        #expect(
            topologyMessage.contains("--topology") && topologyMessage.contains("repartitioned"), "\(topologyMessage)")
        // Every setting of the table is a flag of `vigil stream`.
        let (_, help) = try run(["--help"], [:])
        for setting in StreamSettings.table where setting.kind == .scalar {
            #expect(help.contains("--\(setting.flag)"), "vigil stream --help lacks --\(setting.flag)")
        }
    }
}

/// Crash safety and rebalancing with real processes.
@Suite("vigil stream under failure", .serialized)
struct StreamFailureTests {
    func bigInput() -> StreamHarness.Input {
        var options = GeneratorOptions()
        options.users = 200
        options.historyDays = 2
        options.attackDays = 8
        options.attacksPerKind = 5
        return StreamHarness.input(partitions: 4, generator: options)
    }

    @Test("kill -9 at random points and restart: nothing lost, duplicates only replays, commits never ahead of output")
    func crashSafety() async throws {
        let input = bigInput()
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 4)
        let expected = StreamHarness.expected(input, topic: inTopic)
        let dir = StreamHarness.temporaryDirectory()
        let arguments = StreamHarness.streamArguments(
            input: inTopic, output: outTopic, dlq: dlq, group: group,
            stateDir: "\(dir)/state",
            extra: [
                "--group-instance-id", "crash-test", "--batch-size", "200",
                "--snapshot-interval-ms", "200",
            ])
        var killsAt: [[Int32: Int64]] = []
        var keep = false
        var kills = 0
        var produced = 0
        for (round, wave) in StreamHarness.waves(input, count: 5).enumerated() {
            let stream = try StreamHarness.StreamProcess(arguments: arguments, logPath: "\(dir)/stream.log")
            let assignments = stream.log.components(separatedBy: "partitions assigned: \(inTopic)").count
            // Wait until this process owns the partitions, then feed it while it runs.
            for _ in 0..<80
            where stream.log.components(separatedBy: "partitions assigned: \(inTopic)").count == assignments {
                try await Task.sleep(for: .milliseconds(250))
            }
            let feeding = Task { try await StreamHarness.produce(wave, topic: inTopic, perSecond: 4_000) }
            produced += wave.records.count
            if round == 4 {  // the last run finishes everything
                try await feeding.value
                let done = try await StreamHarness.waitUntilCommitted(
                    group: group, topic: inTopic, input: input, timeout: .seconds(180))
                #expect(done, "not all committed (files kept in \(dir)); log:\n\(stream.log.suffix(3000))")
                if !done { keep = true }
                stream.terminate()
                #expect(await stream.wait(timeout: .seconds(40)) == 0)
                break
            }
            // Odd rounds first wait for this process's first commit, so that some restarts
            // restore a snapshot at a committed offset (a kill before any commit is the other
            // case, and random timing alone sometimes gave only that one).
            if round % 2 == 1 {
                let before = try await StreamHarness.committed(group: group, topic: inTopic, partitions: 4)
                for _ in 0..<100 {
                    let now = try await StreamHarness.committed(group: group, topic: inTopic, partitions: 4)
                    if now.contains(where: { $0.value > (before[$0.key] ?? -1001) }) { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            // Kill it at a random moment while records arrive and are processed.
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...max(300, wave.records.count / 4))))
            stream.kill9()
            _ = await stream.wait(timeout: .seconds(5))
            kills += 1
            try await feeding.value
            // Whatever is committed now must already be published.
            let committed = try await StreamHarness.committed(group: group, topic: inTopic, partitions: 4)
            killsAt.append(committed)
            let published = StreamHarness.anomalyIDs(try StreamHarness.dump(outTopic, idle: 2))
            let owed = expected.filter { committed[$0.value.partition, default: -1] > $0.value.offset }
            let missing = owed.keys.filter { published[$0] == nil }
            #expect(
                missing.isEmpty,
                "after kill \(kills): \(missing.count) anomalies of committed records are not published")
        }
        let output = StreamHarness.anomalyIDs(try StreamHarness.dump(outTopic, expect: expected.count))
        let (lost, unexpected) = StreamHarness.difference(expected: expected, found: output)
        let duplicates = output.values.reduce(0) { $0 + $1.count - 1 }
        #expect(lost.isEmpty, "\(lost.count) anomalies lost")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies the engine does not produce")
        // A duplicate must come from work that was not committed when a process was killed.
        for (id, offsets) in output where offsets.count > 1 {
            guard let source = expected[id] else { continue }
            let replayable = killsAt.contains { ($0[source.partition] ?? -1001) <= source.offset }
            #expect(
                replayable, "duplicate \(id) from \(source.partition)@\(source.offset) was committed before every kill")
        }
        let log = (try? String(contentsOfFile: "\(dir)/stream.log", encoding: .utf8)) ?? ""
        #expect(
            log.contains("from this host's checkpoint"),
            "no restart read the changelog from its checkpoint:\n\(log.split(separator: "\n").filter { $0.contains("changelog") }.joined(separator: "\n"))"
        )
        #expect(
            log.contains("restored detector state"),
            "no restart restored a snapshot:\n\(log.split(separator: "\n").filter { $0.contains("state") || $0.contains("snapshot") }.joined(separator: "\n"))"
        )
        print(
            "crash test: \(kills) kills, \(produced) records, \(expected.count) expected anomalies, lost \(lost.count), duplicates \(duplicates)"
        )
        if lost.isEmpty && unexpected.isEmpty && !keep {
            try? FileManager.default.removeItem(atPath: dir)
        } else {
            print("crash test files kept in \(dir)")
        }
    }

    @Test(
        "a record that crashes the process twice on its own goes to the dead-letter topic marked as poison; the partition goes on"
    )
    func poisonRecord() async throws {
        var options = GeneratorOptions()
        options.users = 30
        options.historyDays = 1
        options.attackDays = 1
        options.attacksPerKind = 1
        // Unterminated JSON: no event either way, so the expected anomalies are the engine's.
        let poison = Array(#"{"note": "VIGIL-POISON-RECORD""#.utf8)
        let input = StreamHarness.input(partitions: 1, generator: options, malformed: [poison])
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 1)
        let expected = StreamHarness.expected(input, topic: inTopic)
        try await StreamHarness.produce(input, topic: inTopic)
        let dir = StreamHarness.temporaryDirectory()
        let arguments = StreamHarness.streamArguments(
            input: inTopic, output: outTopic, dlq: dlq, group: group, stateDir: "\(dir)/state",
            extra: ["--group-instance-id", "poison-test"])
        // A debug-build hook crashes the process on this record: every real crash found is
        // fixed, so a deliberate one stands in for the next unknown one.
        var crashes = 0
        var finished = false
        for _ in 0..<5 where !finished {
            let stream = try StreamHarness.StreamProcess(
                arguments: arguments, logPath: "\(dir)/stream.log",
                environment: ["VIGIL_TEST_CRASH_ON": "VIGIL-POISON-RECORD"])
            while stream.process.isRunning, !finished {
                finished = try await StreamHarness.waitUntilCommitted(
                    group: group, topic: inTopic, input: input, timeout: .seconds(2))
            }
            if finished {
                stream.terminate()
                #expect(await stream.wait(timeout: .seconds(40)) == 0)
            } else {
                crashes += 1
            }
        }
        #expect(
            finished,
            "the partition never got past the poison record:\n\(String(decoding: FileManager.default.contents(atPath: "\(dir)/stream.log") ?? Data(), as: UTF8.self).suffix(3000))"
        )
        // The first death narrows it to its batch; then it is analysed alone, and two deaths
        // alone make it poison (two in all if it was alone in its batch, else three).
        #expect((2...3).contains(crashes), "crashes: \(crashes)")
        let letters = try StreamHarness.dump(dlq, expect: 1)
        let marked = letters.filter { ($0.headers["vigil.dlq.poison"] ?? nil) != nil }
        #expect(marked.count == 1)
        #expect(marked.first?.value == String(decoding: poison, as: UTF8.self))
        let output = StreamHarness.anomalyIDs(try StreamHarness.dump(outTopic, expect: expected.count))
        let (lost, unexpected) = StreamHarness.difference(expected: expected, found: output)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "two hosts with separate state directories: one is killed (-9), the other takes its partitions with their state from the changelog; a third joins; the anomalies are a single instance's"
    )
    func stateFollowsPartitions() async throws {
        let input = bigInput()
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 4)
        let expected = StreamHarness.expected(input, topic: inTopic)
        let dir = StreamHarness.temporaryDirectory()
        // Each "host" has its own state directory: only the changelog topic is shared.
        func start(_ host: String) throws -> StreamHarness.StreamProcess {
            try StreamHarness.StreamProcess(
                arguments: StreamHarness.streamArguments(
                    input: inTopic, output: outTopic, dlq: dlq, group: group, stateDir: "\(dir)/\(host)",
                    extra: ["--batch-size", "200", "--snapshot-interval-ms", "300"]),
                logPath: "\(dir)/\(host).log")
        }
        func waitForAssignment(_ process: StreamHarness.StreamProcess) async throws -> Bool {
            for _ in 0..<120 where !process.log.contains("partitions assigned: \(inTopic)") {
                try await Task.sleep(for: .milliseconds(500))
            }
            return process.log.contains("partitions assigned: \(inTopic)")
        }
        let parts = StreamHarness.waves(input, count: 3)
        let a = try start("a")
        defer { a.killIfRunning() }
        let b = try start("b")
        defer { b.killIfRunning() }
        #expect(try await waitForAssignment(a), "a got no partitions:\n\(a.log.suffix(2000))")
        #expect(try await waitForAssignment(b), "b got no partitions:\n\(b.log.suffix(2000))")
        try await StreamHarness.produce(parts[0], topic: inTopic)
        #expect(
            try await StreamHarness.waitUntilCommitted(
                group: group, topic: inTopic, input: parts[0], timeout: .seconds(120)),
            "the first part was never committed:\na:\n\(a.log.suffix(2000))\nb:\n\(b.log.suffix(2000))")
        // a dies with its state on its own disk; b's disk has none of a's partitions.
        let feeding = Task { try await StreamHarness.produce(parts[1], topic: inTopic, perSecond: 4_000) }
        try await Task.sleep(for: .milliseconds(700))
        a.kill9()
        _ = await a.wait(timeout: .seconds(5))
        let committedAtKill = try await StreamHarness.committed(group: group, topic: inTopic, partitions: 4)
        try await feeding.value
        var firstTwo = parts[0]
        firstTwo.records += parts[1].records
        #expect(
            try await StreamHarness.waitUntilCommitted(
                group: group, topic: inTopic, input: firstTwo, timeout: .seconds(180)),
            "b did not finish a's partitions:\n\(b.log.suffix(3000))")
        #expect(
            b.log.contains("from the changelog"),
            "b did not restore a's partitions from the changelog:\n\(b.log.split(separator: "\n").filter { $0.contains("state") || $0.contains("snapshot") }.joined(separator: "\n"))"
        )
        // A third host joins and takes some partitions over, again with state from the changelog.
        let c = try start("c")
        defer { c.killIfRunning() }
        #expect(try await waitForAssignment(c), "c got no partitions:\n\(c.log.suffix(2000))")
        try await StreamHarness.produce(parts[2], topic: inTopic)
        let done = try await StreamHarness.waitUntilCommitted(
            group: group, topic: inTopic, input: input, timeout: .seconds(180))
        #expect(done, "not all committed:\nb:\n\(b.log.suffix(2000))\nc:\n\(c.log.suffix(2000))")
        #expect(c.log.contains("from the changelog"), "c restored nothing from the changelog:\n\(c.log.suffix(2000))")
        // No partition with committed records started over with empty state.
        for (name, log) in [("b", b.log), ("c", c.log)] {
            let empty = log.split(separator: "\n").filter { $0.contains("no usable snapshot") }
            #expect(empty.isEmpty, "\(name) started partitions with empty state:\n\(empty.joined(separator: "\n"))")
        }
        b.terminate()
        c.terminate()
        #expect(await b.wait(timeout: .seconds(40)) == 0)
        #expect(await c.wait(timeout: .seconds(40)) == 0)
        let output = StreamHarness.anomalyIDs(try StreamHarness.dump(outTopic, expect: expected.count))
        let (lost, unexpected) = StreamHarness.difference(expected: expected, found: output)
        #expect(lost.isEmpty, "\(lost.count) of \(expected.count) anomalies lost")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies a single instance does not produce")
        // A duplicate can only come from records a had not committed when it was killed.
        var duplicates = 0
        for (id, offsets) in output where offsets.count > 1 {
            duplicates += offsets.count - 1
            guard let source = expected[id] else { continue }
            #expect(
                (committedAtKill[source.partition] ?? -1001) <= source.offset,
                "duplicate \(id) from \(source.partition)@\(source.offset), committed before the kill")
        }
        print(
            "state handover: \(expected.count) anomalies expected, lost \(lost.count), unexpected \(unexpected.count), duplicates \(duplicates); restores from the changelog: b \(b.log.components(separatedBy: "from the changelog").count - 1), c \(c.log.components(separatedBy: "from the changelog").count - 1)"
        )
        if lost.isEmpty && unexpected.isEmpty { try? FileManager.default.removeItem(atPath: dir) }
    }

    @Test("a second instance joins and leaves mid-stream: nothing lost, nothing extra")
    func rebalance() async throws {
        let input = bigInput()
        let (inTopic, outTopic, dlq, group) = try await StreamHarness.freshTopics(partitions: 4)
        let expected = StreamHarness.expected(input, topic: inTopic)
        let dir = StreamHarness.temporaryDirectory()
        let arguments = StreamHarness.streamArguments(
            input: inTopic, output: outTopic, dlq: dlq, group: group,
            stateDir: "\(dir)/state", extra: ["--batch-size", "200"])
        let parts = StreamHarness.waves(input, count: 3)
        try await StreamHarness.produce(parts[0], topic: inTopic)
        let a = try StreamHarness.StreamProcess(arguments: arguments, logPath: "\(dir)/a.log")
        // a has processed the first part before b joins (so there is state to hand over).
        let first = StreamHarness.ends(parts[0])
        let aStarted = try await StreamHarness.waitUntilCommitted(
            group: group, topic: inTopic, input: parts[0], timeout: .seconds(120))
        #expect(aStarted, "a never committed the first part: \(first)")
        let port = FreePort.next()
        let b = try StreamHarness.StreamProcess(
            arguments: StreamHarness.streamArguments(
                input: inTopic, output: outTopic, dlq: dlq, group: group, stateDir: "\(dir)/state", metricsPort: port,
                extra: ["--batch-size", "200"]),
            logPath: "\(dir)/b.log")
        // Cooperative rebalancing takes two rounds (revoke, then assign) of a few seconds each.
        for _ in 0..<120 where !b.log.contains("partitions assigned: \(inTopic)") && b.isRunning {
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(
            b.log.contains("partitions assigned: \(inTopic)"),
            "b never got partitions:\n\(b.log.suffix(2000))\na:\n\(a.log.suffix(3000))")
        // b continues from a's state (a left a snapshot on revoke; reading the changelog takes
        // a moment after the assignment is logged) …
        for _ in 0..<60 where !b.log.contains("restored detector state") && b.isRunning {
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(b.log.contains("restored detector state"), "b did not restore a's state:\n\(b.log.suffix(2000))")
        try await StreamHarness.produce(parts[1], topic: inTopic)
        // … and processes records (waited for, not slept for).
        var consumed = 0
        for _ in 0..<240 where consumed == 0 && b.isRunning {
            if let (_, body) = await StreamHarness.httpGet(port: port, path: "/metrics") {
                consumed =
                    body.split(separator: "\n").first { $0.hasPrefix("vigil_events_consumed_total") }
                    .flatMap { Int(Double($0.split(separator: " ").last ?? "") ?? 0) } ?? 0
            }
            if consumed == 0 { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(consumed > 0, "b was assigned partitions but processed no record")
        b.interrupt()  // SIGINT: a graceful leave, exit 0, like SIGTERM
        #expect(await b.wait(timeout: .seconds(40)) == 0)
        #expect(b.log.contains("clean shutdown"), "\(b.log.suffix(1500))")
        try await StreamHarness.produce(parts[2], topic: inTopic)
        let done = try await StreamHarness.waitUntilCommitted(
            group: group, topic: inTopic, input: input, timeout: .seconds(180))
        #expect(done, "not all committed; a:\n\(a.log.suffix(2000))")
        a.terminate()
        #expect(await a.wait(timeout: .seconds(40)) == 0)
        let output = StreamHarness.anomalyIDs(try StreamHarness.dump(outTopic, expect: expected.count))
        let (lost, unexpected) = StreamHarness.difference(expected: expected, found: output)
        #expect(lost.isEmpty, "\(lost.count) anomalies lost")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies the engine does not produce")
        #expect(output.values.allSatisfy { $0.count == 1 }, "duplicates although every revoke finished its work")
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test(
        "a delivery refused for good: /readyz 503 with the reason while /healthz stays 200; SIGTERM with work unfinished exits 2 at the deadline"
    )
    func probesAndDeadlineExit() async throws {
        // librdkafka's mock cluster runs in this test process, listening on loopback: the
        // stream process connects to it like to any broker, and the test injects the refusal.
        let cluster = try MockCluster(brokers: 1)
        for (topic, partitions) in [("in", 2), ("out", 2), ("dlq", 1), ("vigil.state", 2)] {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: 1)
        }
        var options = GeneratorOptions()
        options.users = 40
        options.historyDays = 1
        options.attackDays = 2
        let input = StreamHarness.input(partitions: 2, generator: options)
        try await StreamHarness.produce(input, topic: "in", bootstrap: cluster.bootstrapServers)
        cluster.pushRequestErrors(.produce, Array(repeating: .topicAuthorizationFailed, count: 100_000))
        let dir = StreamHarness.temporaryDirectory()
        let port = FreePort.next()
        let stream = try StreamHarness.StreamProcess(
            arguments: StreamHarness.streamArguments(
                input: "in", output: "out", dlq: "dlq", group: StreamHarness.unique("g"),
                stateDir: "\(dir)/state", stateTopic: "vigil.state", metricsPort: port,
                brokers: cluster.bootstrapServers,
                extra: ["--shutdown-timeout-ms", "2000"]),
            logPath: "\(dir)/stream.log")
        var ready: (Int, String)? = nil
        for _ in 0..<240 {
            ready = await StreamHarness.httpGet(port: port, path: "/readyz")
            if ready?.1.contains("delivery_problem") == true || !stream.isRunning { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(ready?.0 == 503, "readyz: \(String(describing: ready))\n\(stream.log.suffix(2000))")
        #expect(ready?.1.contains("TOPIC_AUTHORIZATION_FAILED") == true, "\(String(describing: ready))")
        #expect(await StreamHarness.httpGet(port: port, path: "/healthz")?.0 == 200)

        stream.terminate()
        let status = await stream.wait(timeout: .seconds(60))
        #expect(status == 2, "exit \(String(describing: status)):\n\(stream.log.suffix(2000))")
        #expect(stream.log.contains("shutdown deadline exceeded"), "\(stream.log.suffix(2000))")
        try? FileManager.default.removeItem(atPath: dir)
    }
}
