import Foundation
import Testing
import VigilAnalysis
import VigilDetection
import VigilKafka
import VigilServers
import VigilSimulation
import VigilTesting

/// The commands other than `stream`, run as a user would run them.
@Suite("vigil commands")
struct CommandTests {
    func directory() -> String { StreamHarness.temporaryDirectory() }

    @Test("generate, train and analyze: the command prints what the analysis library finds, in its text form")
    func analyzeIsTheLibrary() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let generated = try VigilCommand.run([
            "generate", "--output", "\(dir)/demo", "--users", "12", "--history-days", "2",
            "--attack-days", "1", "--attacks-per-kind", "1",
        ])
        #expect(generated.status == 0, "\(generated.errors)")
        let trained = try VigilCommand.run([
            "train", "--input", "\(dir)/demo/history.ndjson", "--output", "\(dir)/model", "--quiet",
        ])
        #expect(trained.status == 0, "\(trained.errors)")
        #expect(trained.output.contains("model written to \(dir)/model/"))
        let analyzed = try VigilCommand.run(["analyze", "\(dir)/demo/test.ndjson", "--model", "\(dir)/model"])
        #expect(analyzed.status == 0, "\(analyzed.errors)")

        let model = try ModelDirectory.load("\(dir)/model")
        let (anomalies, summary) = Analyzer(model: model, modelName: "\(dir)/model").analyze([
            .file("\(dir)/demo/test.ndjson")
        ])
        #expect(!anomalies.isEmpty)
        let expected = anomalies.map(AnomalyText.line).joined(separator: "\n") + "\n\n" + summary.text
        // The duration is the only thing allowed to differ between runs; the text has none.
        #expect(analyzed.output == expected)

        let json = try VigilCommand.run([
            "analyze", "\(dir)/demo/test.ndjson", "--model", "\(dir)/model", "--format", "json",
        ])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect((document["anomalies"] as? [Any])?.count == anomalies.count)
        #expect(((document["summary"] as? [String: Any])?["events"] as? Int) == summary.events)

        let ndjson = try VigilCommand.run([
            "analyze", "\(dir)/demo/test.ndjson", "--model", "\(dir)/model", "--format", "ndjson",
        ])
        #expect(ndjson.output.split(separator: "\n").count == anomalies.count)
        #expect(ndjson.errors.contains("anomalies: \(anomalies.count)"))
    }

    @Test("analyze reads directories and gzip; a missing or unreadable input is named, exit 1")
    func analyzeInputs() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = (0..<9).map {
            "Nov 25 09:00:0\($0) web1 sshd[\($0)]: Failed password for deploy from 203.0.113.9 port \(4000 + $0) ssh2"
        }
        try FileManager.default.createDirectory(atPath: "\(dir)/logs", withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: "\(dir)/logs/auth.log", atomically: true, encoding: .utf8)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", "\(dir)/logs/auth.log"]
        try gzip.run()
        gzip.waitUntilExit()
        let both = try VigilCommand.run(["analyze", "\(dir)/logs", "--reference-time", "2026-11-26T00:00:00Z"])
        #expect(both.status == 0, "\(both.errors)")
        #expect(both.output.contains("\(dir)/logs/auth.log: 9 records, 9 events, 0 unreadable"))
        #expect(both.output.contains("\(dir)/logs/auth.log.gz: 9 records, 9 events, 0 unreadable"))
        #expect(both.output.contains("brute_force"))

        let missing = try VigilCommand.run(["analyze", "\(dir)/nope.log"])
        #expect(missing.status == 1)
        #expect(missing.errors.contains("\(dir)/nope.log: No such file or directory"), "\(missing.errors)")
        let asFile = try VigilCommand.run([
            "analyze", "\(dir)/logs/auth.log", "\(dir)/logs/auth.log.gz", "--format", "ndjson",
        ])
        #expect(asFile.status == 0)
        try Data([0x1F, 0x8B, 0x08, 0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: "\(dir)/broken.gz"))
        let broken = try VigilCommand.run(["analyze", "\(dir)/broken.gz"])
        #expect(broken.status == 1)
        #expect(broken.errors.contains("\(dir)/broken.gz: gzip"), "\(broken.errors)")
    }

    @Test("produce sends a file's records; consume --summary prints them in the shared one-line form")
    func produceAndConsume() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let topic = StreamHarness.unique("anomalies")
        try await StreamHarness.createTopics([topic: 1])
        let anomalies = Analyzer(model: GeneratedFixture.model).analyze([
            .records(GeneratedFixture.data.test.map { Array($0.utf8) }, name: "test")
        ]).anomalies
        let file = "\(dir)/anomalies.ndjson"
        try (anomalies.map { String(decoding: AnomalyJSON.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let produced = try VigilCommand.run([
            "produce", file, "--topic", topic, "--key", "none", "--brokers", StreamHarness.brokers,
        ])
        #expect(produced.status == 0, "\(produced.errors)")
        #expect(produced.output.contains("sent \(anomalies.count) records to \(topic)"))
        let consumed = try VigilCommand.run([
            "consume", "--topic", topic, "--summary", "--limit", String(anomalies.count),
            "--brokers", StreamHarness.brokers,
        ])
        #expect(consumed.status == 0, "\(consumed.errors)")
        #expect(consumed.output == anomalies.map(AnomalyText.line).joined(separator: "\n") + "\n")
    }

    @Test("topics apply --check reports what is missing (exit 1), apply creates it, a second run matches; list shows it")
    func topicsCommand() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (input, output) = (StreamHarness.unique("raw"), StreamHarness.unique("out"))
        let file = "\(dir)/topics.yml"
        try """
            topics:
              - name: \(input)
                role: input
                partitions: 3
                replication_factor: 1
              - name: \(output)
                role: output
                partitions: 2
                replication_factor: 1
                configs:
                  retention.ms: "86400000"
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let brokers = ["--brokers", StreamHarness.brokers]
        let check = try VigilCommand.run(["topics", "apply", "--file", file, "--check"] + brokers)
        #expect(check.status == 1, "\(check.output)\(check.errors)")
        #expect(check.output.contains("\(input)  missing") || check.output.contains("\(input)   missing"), "\(check.output)")
        let apply = try VigilCommand.run(["topics", "apply", "--file", file] + brokers)
        #expect(apply.status == 0, "\(apply.output)\(apply.errors)")
        #expect(apply.output.contains("created (3 partitions, replication 1)"), "\(apply.output)")
        let again = try VigilCommand.run(["topics", "apply", "--file", file, "--check"] + brokers)
        #expect(again.status == 0, "\(again.output)\(again.errors)")
        #expect(again.output.components(separatedBy: "exists, matches").count == 3, "\(again.output)")
        let list = try VigilCommand.run(["topics", "list"] + brokers)
        #expect(list.output.contains("\(input)\tpartitions=3\treplication=1"), "\(list.output)")
        // A broken file is refused (exit 64) naming the file and line, before any broker is contacted.
        try "topics:\n  - name: x\n    partitions: many\n".write(toFile: file, atomically: true, encoding: .utf8)
        let broken = try VigilCommand.run(["topics", "apply", "--file", file] + brokers)
        #expect(broken.status == 64, "\(broken.output)\(broken.errors)")
        #expect((broken.output + broken.errors).contains("topics.yml:2"), "\(broken.output)\(broken.errors)")
    }

    @Test("the benchmarks are not in the production binary; version names the librdkafka in use")
    func binaryShape() throws {
        let help = try VigilCommand.run(["--help"])
        #expect(help.status == 0)
        #expect(!help.output.contains("bench"))
        #expect(try VigilCommand.run(["bench"]).status != 0)
        let version = try VigilCommand.run(["version"])
        #expect(version.output.hasPrefix("vigil "))
        #expect(version.output.contains("librdkafka 2."))
    }

    @Test("out-of-range generator sizes are refused with the flag and its range, never a trap")
    func generatorBounds() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (flag, value) in [("--users", "1"), ("--history-days", "999999999999999"), ("--attacks-per-kind", "5000")] {
            let run = try VigilCommand.run(["generate", "--output", "\(dir)/g", flag, value])
            #expect(run.status == 64, "\(flag) \(value): \(run.errors)")
            #expect(run.errors.contains("\(flag) must be between"), "\(run.errors)")
        }
        let two = try VigilCommand.run([
            "generate", "--output", "\(dir)/two", "--users", "2", "--history-days", "1", "--attack-days", "1",
        ])
        #expect(two.status == 0, "\(two.errors)")
    }

    @Test("hostile lines through `vigil analyze`: no trap, the far-future line reported, the attack after it found")
    func hostileFile() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines = (0..<10).map {
            "Nov 25 12:00:0\($0) web1 sshd[811]: message repeated 999999999999999999 times: [ Failed password for root from 203.0.113.9 port 22 ssh2]"
        }
        lines.append(
            "Nov 25 12:01:00 web1 sudo:      bob : 9223372036854775807 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls"
        )
        try lines.joined(separator: "\n").write(toFile: "\(dir)/auth.log", atomically: true, encoding: .utf8)
        let syslog = try VigilCommand.run(["analyze", "\(dir)/auth.log", "--reference-time", "2026-11-26T00:00:00Z"])
        #expect(syslog.status == 0, "\(syslog.errors)")
        #expect(syslog.output.contains("brute_force"))

        var json = [#"{"timestamp": "9999-12-31T23:59:59Z", "event_type": "auth", "outcome": "failure", "user": "root"}"#]
        for i in 10..<30 {
            json.append(
                #"{"timestamp": "2026-11-25T10:00:\#(i)Z", "event_type": "auth", "outcome": "failure", "user": "root", "source_ip": "198.51.100.7"}"#
            )
        }
        try json.joined(separator: "\n").write(toFile: "\(dir)/events.ndjson", atomically: true, encoding: .utf8)
        let future = try VigilCommand.run(["analyze", "\(dir)/events.ndjson"])
        #expect(future.status == 0, "\(future.errors)")
        #expect(future.output.contains("line 1: event time 9999-12-31T23:59:59.000Z is after"), "\(future.output)")
        #expect(future.output.contains("8 failed logins for root from 198.51.100.7"), "\(future.output)")
    }

    @Test("consumer properties that would commit unfinished work are refused before anything starts")
    func managedProperties() throws {
        for property in ["enable.auto.offset.store=true", "enable.auto.commit=false", "enable.partition.eof=true"] {
            let run = try VigilCommand.run(["stream", "--consumer-property", property, "--metrics-port", "0"])
            #expect(run.status == 64, "\(property): \(run.errors)")
            #expect(run.errors.contains("not configurable"), "\(run.errors)")
        }
    }

    /// A stream whose metrics port was taken used to stop at once as if asked to, exit 0 and
    /// say nothing (a CI run then waited on the port's other owner for 40 minutes).
    @Test(
        "a server port already in use is named and the command fails (exit 1): serve, stream and alert",
        arguments: ["serve", "stream", "alert"])
    func portInUse(command: String) async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let taken = PortListener.onFreePort()
        defer { taken.close() }
        let port = String(taken.port)
        let arguments: [String]
        switch command {
        case "serve":
            arguments = ["serve", "--port", port]
        case "stream":
            let topics = try await StreamHarness.freshTopics(partitions: 1)
            arguments =
                ["stream"]
                + StreamHarness.streamArguments(
                    input: topics.input, output: topics.output, dlq: topics.dlq, group: topics.group, stateDir: "none",
                    stateTopic: "none", metricsPort: taken.port)
        default:
            let topic = StreamHarness.unique("anomalies")
            try await StreamHarness.createTopics([topic: 1])
            try """
            brokers: \(StreamHarness.brokers)
            metrics_port: \(port)
            group_id: \(StreamHarness.unique("g"))
            input_topic: \(topic)
            consumer:
              session.timeout.ms: "6000"
            sinks:
              - type: webhook
                name: soc
                url: http://127.0.0.1:9/hooks
                secret: whsec_dGVzdC1vbmx5LXNlY3JldA==
            """.write(toFile: "\(dir)/alerts.yml", atomically: true, encoding: .utf8)
            arguments = ["alert", "--config", "\(dir)/alerts.yml"]
        }
        let (status, output) = try await ChildProcess.run(try VigilCommand.path(), arguments, timeout: .seconds(90))
        #expect(status == 1, "\(command): exit \(status)\n\(output.suffix(2000))")
        #expect(output.contains("on 127.0.0.1:\(port): Address already in use"), "\(command):\n\(output.suffix(2000))")
    }
}

/// `vigil serve` as a process, driven by the Python client from `clients/python` — installed
/// with pip from the repository, run as the README shows it.
@Suite("vigil serve and its Python client", .serialized)
struct ServeProcessTests {
    /// Starts `vigil serve` in `directory`; returns the process and the port it bound.
    func serve(_ arguments: [String], in directory: String, log: String) async throws -> (Process, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try VigilCommand.path())
        process.arguments = ["serve"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        for _ in 0..<200 {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let match = text.firstMatch(of: /API on http:\/\/127\.0\.0\.1:([0-9]+)/), let port = Int(match.output.1) {
                return (process, port)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        process.terminate()
        throw StreamHarness.HarnessError("vigil serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func python(_ arguments: [String], environment: [String: String], in directory: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: RepositoryFiles.python)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test("the README's Python example runs verbatim against a live server; the client's tests pass with and without a token")
    func pythonClient() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelDirectory.save(GeneratedFixture.model, to: "\(dir)/anomaly_outputs", vigilVersion: "test")
        // Installable with pip from the repository (no dependencies, no network).
        let (installed, pipOutput) = try python(
            ["-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", "\(dir)/site",
             RepositoryFiles.path("clients/python")], environment: [:], in: dir)
        #expect(installed == 0, "\(pipOutput)")
        let site = ["PYTHONPATH": "\(dir)/site"]

        let readme = try RepositoryFiles.text("README.md")
        let section = try #require(RepositoryFiles.section("### Python client", of: readme))
        let example = try #require(section.firstMatch(of: /```python\n([\s\S]*?)```/)).output.1
        #expect(example.contains("http://localhost:8000"))
        try String(example).write(toFile: "\(dir)/example.py", atomically: true, encoding: .utf8)

        // The example names port 8000, so this server listens there (taking turns with the
        // other test that binds it).
        try await FixedPort.with8000 {
            let (server, port) = try await serve(["--port", "8000"], in: dir, log: "\(dir)/serve.log")
            defer {
                if server.isRunning { server.terminate() }
                server.waitUntilExit()
            }
            #expect(port == 8000)
            let (status, output) = try python(["example.py"], environment: site, in: dir)
            #expect(status == 0, "\(output)")
            let detected = output.firstMatch(of: /Detected ([0-9]+) anomalies/).flatMap { Int($0.output.1) }
            #expect((detected ?? 0) >= 1, "\(output)")
            #expect(output.contains("brute_force"), "\(output)")
            let (testsStatus, testsOutput) = try python(
                [RepositoryFiles.path("clients/python/tests/test_client.py"), "-v"],
                environment: site.merging([
                    "VIGIL_URL": "http://127.0.0.1:\(port)", "VIGIL_MODEL_DIR": "\(dir)/anomaly_outputs",
                ]) { $1 },
                in: dir)
            #expect(testsStatus == 0, "\(testsOutput)")
            server.terminate()
            server.waitUntilExit()
            #expect(server.terminationStatus == 0)
        }

        let (secured, securedPort) = try await serve(
            ["--port", "0", "--api-tokens", "py-secret", "--model-roots", "\(dir)"], in: dir, log: "\(dir)/secured.log")
        let (securedStatus, securedOutput) = try python(
            [RepositoryFiles.path("clients/python/tests/test_client.py"), "-v"],
            environment: site.merging([
                "VIGIL_URL": "http://127.0.0.1:\(securedPort)", "VIGIL_MODEL_DIR": "\(dir)/anomaly_outputs",
                "VIGIL_TOKEN": "py-secret",
            ]) { $1 }, in: dir)
        #expect(securedStatus == 0, "\(securedOutput)")
        secured.terminate()
        secured.waitUntilExit()
    }
}

/// `vigil mcp` driven by the Python `mcp` client (scripts/mcp-check.py): the five tools, their
/// schemas, confinement of file access, and the live anomaly topic on the local broker.
@Suite("vigil mcp with the Python MCP client", .serialized)
struct MCPProcessTests {
    @Test("lists the five tools with schemas; each works; paths outside, symlinks, devices, big files, bad data and no broker are tool errors")
    func pythonMCPClient() async throws {
        let work = StreamHarness.temporaryDirectory()
        let outsideDir = StreamHarness.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: work)
            try? FileManager.default.removeItem(atPath: outsideDir)
        }
        try ModelDirectory.save(GeneratedFixture.model, to: "\(work)/anomaly_outputs", vigilVersion: "test")
        let lines = (0..<10).map {
            "Nov 30 10:00:0\($0) web1 sshd[4\($0)]: Failed password for root from 203.0.113.8 port 4\($0)22 ssh2"
        }.joined(separator: "\n") + "\n"
        try lines.write(toFile: "\(work)/auth.log", atomically: true, encoding: .utf8)
        try lines.write(toFile: "\(outsideDir)/secret.log", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(work)/escape.log", withDestinationPath: "\(outsideDir)/secret.log")
        try String(repeating: lines, count: 200).write(toFile: "\(work)/big.log", atomically: true, encoding: .utf8)

        // Anomalies on a topic of the local broker, as the stream would publish them.
        let topic = StreamHarness.unique("anomalies")
        try await StreamHarness.createTopics([topic: 2])
        let anomalies = Analyzer(model: nil).analyze([.bytes(Array(lines.utf8), name: "auth.log")]).anomalies
        #expect(!anomalies.isEmpty)
        let producer = try KafkaProducer(
            configuration: ProducerConfiguration(bootstrapServers: StreamHarness.brokers),
            observer: KafkaClientObserver(logger: StreamHarness.logger))
        for result in await producer.send(anomalies.map { ProducerMessage(topic: topic, value: AnomalyJSON.encode($0)) }) {
            _ = try result.get()
        }
        producer.close(timeout: .seconds(10))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: RepositoryFiles.python)
        process.arguments = [RepositoryFiles.path("scripts/mcp-check.py")]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "VIGIL": try VigilCommand.path(), "WORKDIR": work, "OUTSIDE": "\(outsideDir)/secret.log",
            "BROKERS": StreamHarness.brokers, "TOPIC": topic,
        ]) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(output.suffix(4000))")
        #expect(output.contains("all checks passed"), "\(output.suffix(4000))")
    }
}
