import Foundation
import Testing
import VigilDetection
import VigilKafka
import VigilSimulation

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
        let expected = StreamHarness.expected(input)
        #expect(expected.count > 20)
        let (inTopic, outTopic, dlq) = (StreamHarness.unique("in"), StreamHarness.unique("out"), StreamHarness.unique("dlq"))
        try await StreamHarness.createTopics([inTopic: 3, outTopic: 3, dlq: 1])
        try await StreamHarness.produce(input, topic: inTopic)
        let group = StreamHarness.unique("g")
        let dir = StreamHarness.temporaryDirectory()
        let port = 20_000 + Int.random(in: 0..<20_000)
        let stream = try StreamHarness.StreamProcess(
            arguments: StreamHarness.streamArguments(input: inTopic, output: outTopic, dlq: dlq, group: group,
                                                     stateDir: "\(dir)/state", metricsPort: port),
            logPath: "\(dir)/stream.log")
        let committed = try await StreamHarness.waitUntilCommitted(group: group, topic: inTopic, input: input, timeout: .seconds(120))
        #expect(committed, "stream did not commit everything; log:\n\(stream.log.suffix(3000))")

        // Health and metrics while running.
        let ready = StreamHarness.httpGet(port: port, path: "/readyz")
        #expect(ready?.0 == 200 && ready?.1.contains("\"ready\"") == true, "readyz: \(String(describing: ready))")
        #expect(StreamHarness.httpGet(port: port, path: "/healthz")?.0 == 200)
        // Statistics (and with them the lag gauges) arrive every 5 s.
        var metrics = ""
        for _ in 0..<40 {
            metrics = StreamHarness.httpGet(port: port, path: "/metrics")?.1 ?? ""
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
        let missing = Set(expected.keys).subtracting(ids.keys)
        let unexpected = Set(ids.keys).subtracting(expected.keys)
        #expect(missing.isEmpty, "\(missing.count) expected anomalies missing")
        #expect(unexpected.isEmpty, "\(unexpected.count) anomalies the engine does not produce")
        #expect(ids.values.allSatisfy { $0.count == 1 }, "duplicates in a clean run")
        // Output records: keyed by entity, with the documented headers, pointing at their source.
        for record in output {
            #expect(record.key?.contains(":") == true)
            #expect(record.headers["vigil.schema_version"] == "1.0")
            #expect(record.headers["vigil.detector"] != nil)
            if let id = record.value.flatMap({ try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })?["id"] as? String,
               let source = expected[id] {
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

    @Test("--print-config shows the merged configuration with secrets masked; bad settings fail clearly")
    func printConfig() throws {
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
        let (status, text) = try run(["--print-config", "--batch-size", "77", "--consumer-property", "sasl.password=hunter2"],
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
        let (badProperty, propertyMessage) = try run(["--consumer-property", "no.such.property=1", "--metrics-port", "0"], [:])
        #expect(badProperty != 0)
        #expect(propertyMessage.contains("no.such.property"))
        let (badModel, modelMessage) = try run(["--model", "/nonexistent/model", "--metrics-port", "0"], [:])
        #expect(badModel != 0)
        #expect(modelMessage.contains("manifest.json"))
    }
}
