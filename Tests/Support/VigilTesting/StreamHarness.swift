import AsyncHTTPClient
import Foundation
import Logging
import VigilDetection
import VigilKafka
import VigilKafkaTesting
import VigilSimulation

/// Runs the real `vigil` binary and an independent Python Kafka client against the local
/// broker that `make test` starts.
public enum StreamHarness {
    public static let root = RepositoryFiles.root
    public static let brokers = ProcessInfo.processInfo.environment["VIGIL_TEST_BROKERS"] ?? "127.0.0.1:9092"
    public static let python = RepositoryFiles.python

    public static var logger: Logger {
        var logger = Logger(label: "vigil.test")
        logger.logLevel = .warning
        return logger
    }

    /// The `vigil` executable `swift build` produced.
    public static func vigil() throws -> String { try VigilCommand.path() }

    public struct HarnessError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    public static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    public static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Fresh input and output topics with `partitions` each, a one-partition dead-letter topic,
    /// and a fresh group name, for one test's stream.
    public static func freshTopics(
        partitions: Int
    ) async throws -> (input: String, output: String, dlq: String, group: String) {
        let (input, output, dlq, group) = (unique("in"), unique("out"), unique("dlq"), unique("g"))
        try await createTopics([input: partitions, output: partitions, dlq: 1])
        try await createTopics([stateTopic(group: group): partitions], configs: ["cleanup.policy": "compact"])
        return (input, output, dlq, group)
    }

    /// The state changelog topic of a test's group (its own, so no test reads another's
    /// snapshots: the local broker never compacts).
    public static func stateTopic(group: String) -> String { "\(group).state" }

    /// Expected anomaly ids not `found`, and `found` ids the engine does not produce.
    public static func difference<V>(
        expected: [String: (partition: Int32, offset: Int64)],
        found: [String: V]
    ) -> (missing: Set<String>, unexpected: Set<String>) {
        (Set(expected.keys).subtracting(found.keys), Set(found.keys).subtracting(expected.keys))
    }

    public static func createTopics(_ names: [String: Int], configs: [String: String] = [:]) async throws {
        let admin = try KafkaAdmin(
            configuration: AdminConfiguration(bootstrapServers: brokers), observer: KafkaClientObserver(logger: logger))
        let results = try await admin.createTopics(
            names.map {
                TopicSpecification(name: $0.key, partitions: $0.value, replicationFactor: 1, configs: configs)
            },
            timeout: .seconds(15))
        for (name, result) in results {
            do { try result.get() } catch { throw HarnessError("create \(name): \(error)") }
        }
    }

    /// Input records: the value bytes, their partition and the record timestamp.
    public struct Input: Sendable {
        public var partitions: Int
        public var records: [(partition: Int32, value: [UInt8])] = []
        public init(partitions: Int) { self.partitions = partitions }
        public static let timestamp: Int64 = 1_793_491_200_000
    }

    /// Generated logs (JSON events), partitioned by host, plus `malformed` records scattered in.
    public static func input(partitions: Int, generator: GeneratorOptions, malformed: [[UInt8]] = []) -> Input {
        let data = Generator.generate(generator)
        var input = Input(partitions: partitions)
        let records = data.history + data.test
        var junk = malformed.makeIterator()
        let every = malformed.isEmpty ? Int.max : max(1, records.count / (malformed.count + 1))
        for (i, line) in records.enumerated() {
            let value = Array(line.utf8)
            let host =
                value.withUnsafeBufferPointer {
                    LogParser.parseRecord(
                        $0, options: ParseOptions(referenceTime: Input.timestamp, fallbackTime: Input.timestamp))
                }.events.first?.host ?? ""
            let partition = Int32(StableHash.hash(host) % UInt64(partitions))
            input.records.append((partition, value))
            if i > 0 && i % every == 0, let bad = junk.next() { input.records.append((partition, bad)) }
        }
        while let bad = junk.next() { input.records.append((0, bad)) }
        return input
    }

    /// Splits the input into consecutive waves (each keeps its records' partitions and order).
    public static func waves(_ input: Input, count: Int) -> [Input] {
        let size = (input.records.count + count - 1) / count
        return stride(from: 0, to: input.records.count, by: size).map { start in
            var wave = Input(partitions: input.partitions)
            wave.records = Array(input.records[start..<min(start + size, input.records.count)])
            return wave
        }
    }

    /// Produces the input in order; `perSecond` paces it (0: as fast as possible).
    public static func produce(
        _ input: Input, topic: String, perSecond: Int = 0, bootstrap: String = brokers
    ) async throws {
        var config = ProducerConfiguration(bootstrapServers: bootstrap)
        config.linger = .milliseconds(5)
        let producer = try KafkaProducer(configuration: config, observer: KafkaClientObserver(logger: logger))
        let chunkSize = perSecond > 0 ? max(1, perSecond / 20) : 10_000
        for chunk in stride(from: 0, to: input.records.count, by: chunkSize) {
            let messages = input.records[chunk..<min(chunk + chunkSize, input.records.count)].map {
                ProducerMessage(topic: topic, partition: $0.partition, value: $0.value, timestamp: Input.timestamp)
            }
            for result in await producer.send(messages) { _ = try result.get() }
            if perSecond > 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        producer.close(timeout: .seconds(30))
    }

    /// What the engine finds when it reads each partition in order, as the stream must:
    /// anomaly id → (partition, source record index within the partition).
    public static func expected(
        _ input: Input, topic: String, model: DetectionModel? = nil
    ) -> [String: (partition: Int32, offset: Int64)] {
        var result: [String: (Int32, Int64)] = [:]
        var engines: [Int32: DetectionEngine] = [:]
        var offsets: [Int32: Int64] = [:]
        for (partition, value) in input.records {
            let offset = offsets[partition, default: 0]
            offsets[partition] = offset + 1
            // Ids name the record's position, as the stream's do.
            let origin = ParseOptions.origin(
                partition: ParseOptions.origin(topic: topic, partition: partition), offset: offset)
            let parsed = value.withUnsafeBufferPointer {
                LogParser.parseRecord(
                    $0,
                    options: ParseOptions(
                        referenceTime: Input.timestamp, fallbackTime: Input.timestamp, origin: origin))
            }
            for event in parsed.events {
                for anomaly in engines[partition, default: DetectionEngine(model: model)].process(event) {
                    result[anomaly.id] = (partition, offset)
                }
            }
        }
        return result
    }

    /// Records of a topic, read by the Python client (confluent-kafka).
    public struct DumpedRecord: Decodable, Sendable {
        public var partition: Int32
        public var offset: Int64
        public var key: String?
        public var value: String?
        public var headers: [String: String?]
    }

    public static func dump(
        _ topic: String, expect: Int = 0, idle: Double = 3, timeout: Double = 120
    ) throws -> [DumpedRecord] {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError("\(python) missing; run the tests with `make test`")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            root.appendingPathComponent("scripts/kafka-dump.py").path, "--brokers", brokers, "--topic", topic,
            "--expect", String(expect), "--idle", String(idle), "--timeout", String(timeout),
        ]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HarnessError(
                "kafka-dump failed: \(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"
            )
        }
        let decoder = JSONDecoder()
        return try data.split(separator: 0x0A).map { try decoder.decode(DumpedRecord.self, from: Data($0)) }
    }

    /// Anomaly ids in a dump, with how often each occurs and the source offsets.
    public static func anomalyIDs(_ records: [DumpedRecord]) -> [String: [Int64]] {
        var ids: [String: [Int64]] = [:]
        for r in records {
            guard let value = r.value,
                let object = try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any],
                let id = object["id"] as? String
            else { continue }
            ids[id, default: []].append(Int64((r.headers["vigil.source.offset"] ?? nil) ?? "") ?? -1)
        }
        return ids
    }

    /// A running `vigil stream`.
    public final class StreamProcess {
        public let process = Process()
        public let logPath: String
        private let logHandle: FileHandle

        /// `vigil <command> arguments…`; `environment` is added to this process's own.
        public convenience init(
            command: String = "stream", arguments: [String], logPath: String, environment: [String: String] = [:]
        ) throws {
            try self.init(
                executable: try StreamHarness.vigil(), arguments: [command] + arguments, logPath: logPath,
                environment: environment)
        }

        /// Another program (nginx, or `vigil` in a working directory) run the same way: output to
        /// `logPath`, stopped by signals.
        public static func external(
            _ executable: String, _ arguments: [String], logPath: String, directory: String? = nil
        ) throws -> StreamProcess {
            try StreamProcess(
                executable: executable, arguments: arguments, logPath: logPath, environment: [:], directory: directory)
        }

        init(
            executable: String, arguments: [String], logPath: String, environment: [String: String],
            directory: String? = nil
        ) throws {
            if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
            self.logPath = logPath
            if !FileManager.default.fileExists(atPath: logPath) {
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            }
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            if !environment.isEmpty {
                process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            }
            logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            logHandle.seekToEndOfFile()
            process.standardOutput = logHandle
            process.standardError = logHandle
            try process.run()
        }

        public var pid: Int32 { process.processIdentifier }
        /// For wait loops: a process that exited will not become ready, however long one waits.
        public var isRunning: Bool { process.isRunning }
        public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        public func terminate() { kill(pid, SIGTERM) }
        /// Ctrl-C: the same graceful shutdown as SIGTERM.
        public func interrupt() { kill(pid, SIGINT) }
        public func kill9() { kill(pid, SIGKILL) }
        /// For `defer`: a test that fails half-way must not leave its process running.
        public func killIfRunning() {
            if process.isRunning { kill9() }
        }

        /// Waits for exit; nil on timeout (the process is then killed).
        public func wait(timeout: Duration) async -> Int32? {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
            if process.isRunning {
                kill9()
                process.waitUntilExit()
                return nil
            }
            return process.terminationStatus
        }
    }

    /// The standard stream arguments for a test: the single-stage topology, whose anomalies
    /// ``expected(_:topic:model:)`` computes (a `--topology` in `extra` overrides it).
    public static func streamArguments(
        input: String, output: String, dlq: String, group: String, stateDir: String, stateTopic: String? = nil,
        metricsPort: Int = 0, brokers: String = brokers, extra: [String] = []
    ) -> [String] {
        [
            "--topology", "single", "--state-topic", stateTopic ?? Self.stateTopic(group: group),
            "--brokers", brokers, "--input-topic", input, "--output-topic", output, "--dlq-topic", dlq, "--group-id",
            group,
            "--state-dir", stateDir, "--metrics-port", String(metricsPort), "--commit-interval-ms", "500",
            "--snapshot-interval-ms", "1000", "--consumer-property", "session.timeout.ms=6000", "--log-level", "info",
        ] + extra
    }

    /// Committed offsets of a group (-1001 where none).
    public static func committed(
        group: String, topic: String, partitions: Int, bootstrap: String = brokers
    ) async throws -> [Int32: Int64] {
        let consumer = try KafkaConsumer(
            configuration: ConsumerConfiguration(bootstrapServers: bootstrap, groupID: group),
            observer: KafkaClientObserver(logger: logger))
        let tps = (0..<partitions).map { TopicPartition(topic, Int32($0)) }
        let committed = try await consumer.committed(tps, timeout: .seconds(10))
        try? await consumer.close(timeout: .seconds(2))
        return Dictionary(uniqueKeysWithValues: committed.map { ($0.topicPartition.partition, $0.offset) })
    }

    /// Records produced per partition (Tansu's "latest offset" answer is unreliable, so the
    /// end of each partition is known from what was produced).
    public static func ends(_ input: Input) -> [Int32: Int64] {
        var ends: [Int32: Int64] = [:]
        for (partition, _) in input.records { ends[partition, default: 0] += 1 }
        return ends
    }

    /// Waits until the group has committed everything produced.
    public static func waitUntilCommitted(
        group: String, topic: String, input: Input, timeout: Duration,
        bootstrap: String = brokers
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        let ends = Self.ends(input)
        while ContinuousClock.now < deadline {
            let committed = try await committed(
                group: group, topic: topic, partitions: input.partitions, bootstrap: bootstrap)
            if ends.allSatisfy({ committed[$0.key, default: -1] >= $0.value }) { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    /// A GET to the stream's metrics/health server: (status, body), or nil if nothing answers.
    public static func httpGet(port: Int, path: String) async -> (Int, String)? {
        await LoopbackHTTP.get(port: port, path: path).map { ($0.status, $0.body) }
    }
}

extension StreamHarness {
    /// Anomaly ids in a topic, read with Vigil's own consumer (for the in-process mock cluster).
    public static func readAnomalyIDs(
        topic: String, partitions: Int, bootstrap: String, quiet: Duration = .seconds(3)
    ) async throws -> [String: Int] {
        let consumer = try KafkaConsumer(
            configuration: ConsumerConfiguration(bootstrapServers: bootstrap, groupID: unique("read")),
            observer: KafkaClientObserver(logger: logger))
        try consumer.assign((0..<partitions).map { TopicPartitionOffset(topic, Int32($0), offset: -2) })
        var ids: [String: Int] = [:]
        while let batch = await consumer.nextBatch(timeout: quiet) {
            for record in batch {
                guard let value = record.value,
                    let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                    let id = object["id"] as? String
                else { continue }
                ids[id, default: 0] += 1
            }
        }
        try? await consumer.close(timeout: .seconds(2))
        return ids
    }

    /// Resident set size of this process, MiB.
    public static func rssMiB() -> Double { statusMiB("VmRSS:") }

    /// This process's peak resident memory so far.
    public static func peakRSSMiB() -> Double { statusMiB("VmHWM:") }

    private static func statusMiB(_ field: String) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return 0
    }
}
