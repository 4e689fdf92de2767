import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import VigilDetection
import VigilKafka
import VigilPipeline
import VigilServers
import VigilSimulation

/// `vigil-bench stream` (`make bench-stream`): end-to-end throughput and latency of
/// `vigil stream` (single stage and repartitioned) next to a plain librdkafka consumer
/// reading the same topic, in one run.
struct StreamBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Benchmark vigil stream against a plain librdkafka consumer and a Python loop on the same topic.",
        discussion: """
            For each input — JSON auth events of a shape that is not our generator's (ECS, 5,000 users, 20,000 \
            sources, 8% failures, keyed by source) and our generator's sshd lines (keyed by user) — and each \
            --partitions count, loads --records records into a fresh topic and times, --runs times each (medians): \
            the raw consumer (bench/rawconsume.c, built against the same librdkafka), `vigil stream` in both \
            topologies (repartitioned through fresh repartition topics; single stage), and the hand-rolled Python \
            loop (bench/pyloop.py: confluent-kafka, Wazuh's brute-force rule, commit after the alerts are \
            acknowledged), with CPU time per record and peak RSS. Then live sshd lines at 100,000 records/s and at \
            80% of each topology's maximum, measuring event → anomaly latency from the event's time to the \
            anomaly's Kafka timestamp (stamped as Vigil produces it) and to when a consumer reading the anomaly \
            topic during the run receives it, beside a floor: the raw consumer reading the live input \
            (--latency-partitions sets the live topics' partitions); last, a state restore of --restore-entities sources from the changelog.
            """
    )

    @Option(name: .long, help: "Path of the raw consumer baseline (built by scripts/bench-stream).") var rawConsumer:
        String
    @Option(name: .long, help: "The Python interpreter with confluent-kafka (the test tools' venv).") var python =
        ".tools/venv/bin/python3"
    @Option(name: .long, help: "The hand-rolled Python loop (bench/pyloop.py).") var pythonLoop = "bench/pyloop.py"
    @Option(name: .long) var records = 1_000_000
    @Option(name: .long, parsing: .upToNextOption, help: "Partition counts to run (each a fresh input topic).")
    var partitions: [Int] = [4, 6]
    @Option(name: .long, help: "Inputs: json (ECS auth events, not our generator's), sshd (our generator's lines).")
    var inputs: [String] = ["json", "sshd"]
    @Option(name: .long) var runs = 3
    @Option(name: .long, help: "Seconds of live traffic for each latency run.") var latencySeconds = 15
    @Option(
        name: .long,
        help: "Partitions of the live latency topics (default: the widest of --partitions, whose maximum rates set 80%).")
    var latencyPartitions: Int?
    @Option(name: .long, help: "The vigil executable to benchmark (default: next to vigil-bench).") var vigil: String?
    @Option(name: .long, help: "Kafka bootstrap servers.") var brokers = "127.0.0.1:9092"
    @Option(
        name: .long, parsing: .unconditionalSingleValue,
        help: "An argument added to every `vigil stream` run (repeat for more), e.g. --stream-argument --batch-linger-ms=5: to measure a setting."
    )
    var streamArgument: [String] = []
    @Option(name: .long, help: "Distinct sources in the state-restore run (0 skips it).") var restoreEntities =
        1_000_000

    /// The anomaly topic's partitions (all runs share it).
    static let outputPartitions = 6

    /// One input of the matrix: its records, and how producers key them.
    struct Input {
        var name: String
        var format: String
        var lines: [[UInt8]]
        /// The entity a record is keyed by (its source address for JSON, its user for sshd).
        var key: ([UInt8]) -> [UInt8]?
    }

    /// The medians of one (input, partitions) cell.
    struct Cell {
        var input: String
        var partitions: Int
        var raw: Double
        var repartitioned: StreamRun
        var single: StreamRun
        var python: PythonRun?
        var inputBytes: Int
    }

    func run() async throws {
        var logger = Logger(label: "vigil.bench")
        logger.logLevel = .warning
        let observer = KafkaClientObserver(logger: logger)
        let id = UUID().uuidString.prefix(6).lowercased()
        let admin = try KafkaAdmin(configuration: AdminConfiguration(bootstrapServers: brokers), observer: observer)
        let (output, dlq) = ("bench-\(id)-out", "bench-\(id)-dlq")
        _ = try await admin.createTopics(
            [
                TopicSpecification(name: output, partitions: Self.outputPartitions, replicationFactor: 1),
                TopicSpecification(name: dlq, partitions: 1, replicationFactor: 1),
            ], timeout: .seconds(15))
        var matrix: [Input] = []
        if inputs.contains("json") {
            matrix.append(
                Input(
                    name: "JSON auth events (ECS; 5k users, 20k sources, 8% failures), keyed by source",
                    format: "json", lines: Shape.matrix[0].records(count: records),
                    key: { Self.entity($0, user: false) }))
        }
        if inputs.contains("sshd") {
            matrix.append(
                Input(
                    name: "sshd lines (our generator), keyed by user", format: "sshd",
                    lines: Self.lines(count: records),
                    key: { Self.entity($0, user: true) }))
        }
        var cells: [Cell] = []
        for input in matrix {
            for count in partitions {
                let topic = "bench-\(id)-\(input.format)-\(count)"
                _ = try await admin.createTopics(
                    [TopicSpecification(name: topic, partitions: count, replicationFactor: 1)], timeout: .seconds(15))
                log("\(input.format), \(count) partitions: loading \(input.lines.count) records into \(topic)")
                try await produce(input.lines, key: input.key, topic: topic, brokers: brokers, observer: observer)
                cells.append(
                    try await cell(input, topic: topic, partitions: count, output: output, dlq: dlq, observer: observer)
                )
                await dropTopics(of: id, keeping: [output, dlq], admin: admin)
            }
        }
        // Latency: sshd lines live, at 100k records/s and at 80% of each topology's maximum.
        var latencyRows: [String] = []
        if let sshd = matrix.first(where: { $0.format == "sshd" }),
            let widest = cells.filter({ $0.input == sshd.name }).max(by: { $0.partitions < $1.partitions })
        {
            let livePartitions = latencyPartitions ?? widest.partitions
            for (topology, maximum) in [
                ("repartitioned", widest.repartitioned.rate), ("single", widest.single.rate),
            ] {
                for rate in [100_000, Int(maximum * 0.8)] where rate <= Int(maximum * 0.8) || rate == 100_000 {
                    let live = "bench-\(id)-live-\(topology)-\(rate)"
                    _ = try await admin.createTopics(
                        [TopicSpecification(name: live, partitions: livePartitions, replicationFactor: 1)],
                        timeout: .seconds(15))
                    log("latency, \(topology): \(rate) records/s of live traffic for \(latencySeconds) s")
                    let latencies = try await latencyRun(
                        brokers: brokers, input: live, group: "\(live)-g", lines: sshd.lines, rate: rate,
                        partitions: livePartitions, repartitioned: topology == "repartitioned", admin: admin,
                        observer: observer)
                    await dropTopics(of: id, keeping: [output, dlq], admin: admin)
                    let note = rate > Int(maximum * 0.8) ? " (above 80% of its maximum)" : ""
                    latencyRows.append(
                        "| \(topology) | \(rate.formatted())/s on \(livePartitions) partition\(livePartitions == 1 ? "" : "s")\(note) | \(Self.quantiles(latencies.produced)) | \(Self.quantiles(latencies.read)) | \(latencies.rawInput.flatMap { $0.count > 0 ? "\($0.p50) ms / \($0.p99) ms (\($0.count) records)" : nil } ?? "–") |"
                    )
                }
            }
        }
        let restore = restoreEntities > 0 ? try await restoreRun(id: String(id), observer: observer) : nil
        await dropTopics(of: id, keeping: [], admin: admin)
        print(Self.tables(cells, runs: runs, latency: latencyRows))
        if let restore { print(restore) }
    }

    /// Deletes the topics this run created (named `bench-<id>-…`) but `keep`. A broker may hold
    /// every record in memory (Tansu does: 19 GB after a day of runs), and the records of
    /// finished measurements slowed the later ones — latency, the floor included, doubled.
    private func dropTopics(of id: String, keeping keep: Set<String>, admin: KafkaAdmin) async {
        guard let names = try? await admin.listTopics(timeout: .seconds(15)) else { return }
        let finished = names.filter { $0.hasPrefix("bench-\(id)-") && !keep.contains($0) }
        guard !finished.isEmpty else { return }
        let results = try? await admin.deleteTopics(finished, timeout: .seconds(30))
        for (name, result) in results ?? [:] {
            if case .failure(let error) = result { log("could not delete \(name): \(error)") }
        }
    }

    /// Every measurement of one input on one partition count, medians of `runs`.
    private func cell(
        _ input: Input, topic: String, partitions count: Int, output: String, dlq: String,
        observer: KafkaClientObserver
    ) async throws -> Cell {
        var rawRates: [Double] = []
        var single: [StreamRun] = []
        var repartitioned: [StreamRun] = []
        var python: [PythonRun] = []
        for run in 1...runs {
            let (n, seconds) = try rawConsume(brokers: brokers, topic: topic, count: input.lines.count)
            guard n == input.lines.count, seconds > 0 else {
                throw BenchmarkFailure("raw consumer read \(n) of \(input.lines.count)")
            }
            rawRates.append(Double(n) / seconds)
            log("raw consumer run \(run): \(Int(Double(n) / seconds)) records/s")
            for topology in ["repartitioned", "single"] {
                let result = try await streamRun(
                    brokers: brokers, input: topic, output: output, dlq: dlq,
                    group: "\(topic)-\(topology)-\(run)", count: input.lines.count, partitions: count,
                    repartitioned: topology == "repartitioned", observer: observer)
                if topology == "single" { single.append(result) } else { repartitioned.append(result) }
                log(
                    "vigil stream (\(topology)) run \(run): \(Int(result.rate)) records/s, "
                        + "\(String(format: "%.2f", result.cpuMicroseconds)) µs CPU per record, peak RSS \(Int(result.peakRSS)) MiB"
                )
            }
            if let result = try pythonRun(topic: topic, output: output, format: input.format, count: input.lines.count)
            {
                python.append(result)
                log("python loop run \(run): \(Int(result.rate)) records/s, \(result.alerts) alerts")
            }
        }
        func median(_ runs: [StreamRun]) -> StreamRun {
            runs.sorted { $0.rate < $1.rate }[runs.count / 2]
        }
        return Cell(
            input: input.name, partitions: count, raw: Self.median(rawRates), repartitioned: median(repartitioned),
            single: median(single),
            python: python.isEmpty ? nil : python.sorted { $0.rate < $1.rate }[python.count / 2],
            inputBytes: input.lines.reduce(0) { $0 + $1.count })
    }

    /// The printed tables: throughput against both baselines, CPU and memory, latency.
    static func tables(_ cells: [Cell], runs: Int, latency: [String]) -> String {
        func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2f×", a / b) : "–" }
        func rate(_ r: Double) -> String { Int(r).formatted() }
        var lines = [
            "| input | partitions | plain librdkafka consumer | vigil stream (repartitioned, default) | vigil stream (single stage) | Python loop | Vigil ÷ raw (repartitioned, single) | Vigil ÷ Python (repartitioned, single) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in cells {
            let py = c.python?.rate ?? 0
            lines.append(
                "| \(c.input) | \(c.partitions) | \(rate(c.raw)) | \(rate(c.repartitioned.rate)) | \(rate(c.single.rate)) | \(c.python.map { rate($0.rate) } ?? "–") | \(ratio(c.repartitioned.rate, c.raw)), \(ratio(c.single.rate, c.raw)) | \(ratio(c.repartitioned.rate, py)), \(ratio(c.single.rate, py)) |"
            )
        }
        lines += [
            "",
            "records/s, median of \(runs) runs, from the first record to the last (group joins not counted).",
            "",
            "| input | partitions | CPU per record: repartitioned / single / Python | the hop's cost | peak RSS: repartitioned / single | repartition topics' bytes |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for c in cells {
            let us = { (x: Double) in String(format: "%.2f µs", x) }
            lines.append(
                "| \(c.input) | \(c.partitions) | \(us(c.repartitioned.cpuMicroseconds)) / \(us(c.single.cpuMicroseconds)) / \(c.python.map { us($0.cpuMicroseconds) } ?? "–") | \(ratio(c.repartitioned.cpuMicroseconds, c.single.cpuMicroseconds)) single-stage CPU | \(Int(c.repartitioned.peakRSS)) / \(Int(c.single.peakRSS)) MiB | \(c.repartitioned.repartitionBytes >> 20) MiB (\(ratio(Double(c.repartitioned.repartitionBytes), Double(c.inputBytes))) the input) |"
            )
        }
        if !latency.isEmpty {
            lines += [
                "",
                "| topology | live sshd lines | event → anomaly produced, p50 / p99 | event → anomaly read by a consumer, p50 / p99 | floor: event → input record read by a plain librdkafka consumer, p50 / p99 |",
                "|---|---:|---:|---:|---:|",
            ]
            lines += latency
            lines += [
                "",
                "Latency of the traffic after its first \(warmUpMilliseconds / 1000) s (start-up not counted); the floor is what the broker and the machine give a consumer that does nothing, in the same run.",
            ]
        }
        return lines.joined(separator: "\n")
    }

    static func quantiles(_ latencies: [Int64]) -> String {
        let sorted = latencies.sorted()
        func quantile(_ q: Double) -> String {
            sorted.isEmpty ? "–" : "\(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) ms"
        }
        return "\(quantile(0.5)) / \(quantile(0.99)) (\(sorted.count) anomalies)"
    }

    /// One run of the hand-rolled Python loop (nil when the interpreter or script is missing).
    struct PythonRun: Decodable {
        var records: Int
        var seconds: Double
        var alerts: Int
        var cpuSeconds: Double
        var rate: Double { Double(records) / max(seconds, 0.001) }
        var cpuMicroseconds: Double { cpuSeconds * 1e6 / Double(max(1, records)) }
    }

    private func pythonRun(topic: String, output: String, format: String, count: Int) throws -> PythonRun? {
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.fileExists(atPath: pythonLoop)
        else {
            log("no \(python) or \(pythonLoop): the Python baseline is skipped (scripts/pytools installs it)")
            return nil
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            pythonLoop, "--brokers", brokers, "--topic", topic, "--output", output, "--count", String(count),
            "--format", format,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchmarkFailure("the Python loop failed") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(PythonRun.self, from: data)
    }

    /// A large state through the changelog: `restoreEntities` failures from distinct sources
    /// through the engine, its snapshot written to a fresh compacted topic as the stream writes
    /// it, read back to the end as an assignment does, and decoded into an engine.
    private func restoreRun(id: String, observer: KafkaClientObserver) async throws -> String {
        var config = DetectionConfig.default
        config.maxEntities = restoreEntities + restoreEntities / 10
        var engine = DetectionEngine(config: config)
        let start = UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 12, minute: 0, second: 0)
        for i in 0..<restoreEntities {
            var event = LogEvent(
                timestamp: start + Int64(i), kind: .authFailure, outcome: .failure, user: "user\(i % 5_000)",
                sourceIP: "10.\(i >> 16 & 255).\(i >> 8 & 255).\(i & 255)", template: "sshd:failed")
            event.isAttempt = true
            event.fingerprint = StableHash.hash("\(i)")
            _ = engine.process(event)
        }
        let state = engine.snapshot()
        let topic = "bench-\(id)-state"
        let admin = try KafkaAdmin(configuration: AdminConfiguration(bootstrapServers: brokers), observer: observer)
        _ = try await admin.createTopics(
            [
                TopicSpecification(
                    name: topic, partitions: 1, replicationFactor: 1, configs: ["cleanup.policy": "compact"])
            ], timeout: .seconds(15))
        let changelog = StateChangelog(topic: topic, group: "bench-\(id)", partitions: 1)
        let tp = TopicPartition("raw-logs", 0)
        let producer = try KafkaProducer(
            configuration: ProducerConfiguration(bootstrapServers: brokers), observer: observer)
        let writing = ContinuousClock.now
        for result in await producer.send(changelog.messages(tp, slot: 0, nextOffset: 1, state: state)) {
            _ = try result.get()
        }
        let written = ContinuousClock.now - writing
        producer.close(timeout: .seconds(10))
        let before = Self.peakRSS(pid: getpid(), field: "VmRSS:")
        let outcome = try await changelog.read(
            [tp], configuration: ConsumerConfiguration(bootstrapServers: brokers, groupID: "bench-\(id)-restore"),
            timeout: .seconds(300), logger: observer.logger)
        guard outcome.complete, let found = outcome.contents[tp]?.newest(atOrBefore: 1), found.bytes == state else {
            throw BenchmarkFailure("the changelog did not give back the snapshot written")
        }
        let decoding = ContinuousClock.now
        var restored = DetectionEngine(config: config)
        try restored.restore(found.bytes)
        let decoded = ContinuousClock.now - decoding
        let after = Self.peakRSS(pid: getpid(), field: "VmRSS:")
        func seconds(_ d: Duration) -> String {
            String(format: "%.2f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }
        return """

            | state restore from the changelog (\(restoreEntities.formatted()) distinct sources) | |
            |---|---:|
            | snapshot | \(state.count >> 20) MiB in \(outcome.records) records |
            | written (produce, acknowledged) | \(seconds(written)) |
            | read to the end | \(seconds(outcome.duration)) |
            | decoded into an engine | \(seconds(decoded)) |
            | memory held by the restore (RSS after − before the read) | \(Int(after - before)) MiB |
            """
    }

    private func log(_ message: String) { FileHandle.standardError.write(Data("bench-stream: \(message)\n".utf8)) }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// Generated sshd syslog lines, cycled to exactly `count`.
    static func lines(count: Int) -> [[UInt8]] {
        Array(Bench.records(.syslog, users: 1_500, count: count).prefix(count))
    }

    /// The user (or source address) of a record, for a key that spreads partitions evenly and
    /// keeps an entity's events together.
    static func entity(_ line: [UInt8], user: Bool) -> [UInt8]? {
        let event = line.withUnsafeBufferPointer {
            LogParser.parseRecord($0, options: ParseOptions(referenceTime: 0, fallbackTime: 0))
        }.events.first
        let entity = user ? event?.user ?? event?.sourceIP : event?.sourceIP ?? event?.user
        return (entity ?? event?.host).map { Array($0.utf8) }
    }

    private func produce(
        _ lines: [[UInt8]], key: ([UInt8]) -> [UInt8]?, topic: String, brokers: String, observer: KafkaClientObserver
    ) async throws {
        var config = ProducerConfiguration(bootstrapServers: brokers)
        config.linger = .milliseconds(20)
        let producer = try KafkaProducer(configuration: config, observer: observer)
        for start in stride(from: 0, to: lines.count, by: 20_000) {
            let messages = lines[start..<min(lines.count, start + 20_000)].map {
                ProducerMessage(topic: topic, key: key($0), value: $0)
            }
            for result in await producer.send(messages) { _ = try result.get() }
        }
        producer.close(timeout: .seconds(30))
    }

    private func rawConsume(brokers: String, topic: String, count: Int) throws -> (Int, Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: rawConsumer)
        process.arguments = [brokers, topic, String(count)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let parts = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard parts.count == 2, let n = Int(parts[0]), let s = Double(parts[1]) else {
            throw BenchmarkFailure("raw consumer said: \(text)")
        }
        return (n, s)
    }

    private var vigilPath: String {
        vigil
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.deletingLastPathComponent()
            .appendingPathComponent("vigil").path
    }

    private func startStream(
        brokers: String, input: String, output: String, dlq: String, group: String, port: Int,
        extra: [String] = []
    ) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: vigilPath)
        process.arguments =
            [
                "stream", "--brokers", brokers, "--input-topic", input, "--output-topic", output, "--dlq-topic", dlq,
                "--group-id", group, "--state-dir", "none", "--state-topic", "none", "--metrics-port", String(port),
                "--consumer-property", "session.timeout.ms=6000", "--log-level", "warning",
            ] + extra + streamArgument
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// One timed pass of `vigil stream`: records/s, CPU per record, peak RSS.
    struct StreamRun {
        var rate: Double
        var cpuMicroseconds: Double
        var peakRSS: Double
        /// Repartitioned: bytes written to the repartition topics.
        var repartitionBytes = 0
    }

    /// One timed pass of `vigil stream` over the loaded topic, from the first record processed
    /// to the last. Repartitioned (through fresh repartition topics with the input's partition
    /// count), the stages run as two processes, the detect stage started first and timed once
    /// it has joined: in one process its group join (seconds on Tansu) would be timed as work.
    /// CPU time and peak RSS are then the two processes' sums.
    private func streamRun(
        brokers: String, input: String, output: String, dlq: String, group: String,
        count: Int, partitions: Int, repartitioned: Bool, observer: KafkaClientObserver
    ) async throws -> StreamRun {
        let port = FreePort.next()
        let extra = try await repartitionArguments(
            repartitioned, group: group, partitions: partitions, observer: observer)
        var detect: Process? = nil
        let detectPort = FreePort.next()
        if repartitioned {
            detect = try startStream(
                brokers: brokers, input: input, output: output, dlq: dlq, group: group, port: detectPort,
                extra: extra + ["--stages", "detect"])
            for _ in 0..<600 {
                if let assigned = await Self.metric(port: detectPort, "vigil_assigned_partitions{stage=\"detect\"}"),
                    assigned > 0
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { if let detect, detect.isRunning { detect.terminate() } }
        let process = try startStream(
            brokers: brokers, input: input, output: output, dlq: dlq, group: group, port: port,
            extra: extra + (repartitioned ? ["--stages", "route"] : []))
        defer { if process.isRunning { process.terminate() } }
        let stage = { (name: String, stage: String) in repartitioned ? "\(name){stage=\"\(stage)\"}" : name }
        let pids = [process.processIdentifier] + (detect.map { [$0.processIdentifier] } ?? [])
        let cpu = { pids.reduce(0) { $0 + Self.cpuSeconds(pid: $1) } }
        var first: (ContinuousClock.Instant, Int, Double)? = nil
        var last: (ContinuousClock.Instant, Int, Double) = (.now, 0, 0)
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let consumed = await Self.metric(port: port, stage("vigil_events_consumed_total", "route")) ?? 0
            var inFlight = await Self.metric(port: port, stage("vigil_inflight_events", "route")) ?? 0
            var done = consumed >= count
            if repartitioned && done {
                let sent = await Self.metric(port: port, stage("vigil_repartition_events_total", "route")) ?? -1
                let detected = await Self.metric(port: detectPort, stage("vigil_events_parsed_total", "detect")) ?? 0
                inFlight += await Self.metric(port: detectPort, stage("vigil_inflight_events", "detect")) ?? 0
                done = sent == detected
            }
            let now = cpu()
            if consumed > 0 && first == nil { first = (.now, consumed, now) }
            last = (.now, consumed, now)
            if done && inFlight == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let rss = pids.reduce(0) { $0 + Self.peakRSS(pid: $1) }
        let bytes =
            repartitioned ? await Self.metric(port: port, stage("vigil_repartition_bytes_total", "route")) ?? 0 : 0
        for process in [process] + (detect.map { [$0] } ?? []) {
            process.terminate()
            process.waitUntilExit()
        }
        guard let first, last.1 >= count else { throw BenchmarkFailure("vigil stream processed \(last.1) of \(count)") }
        let elapsed = last.0 - first.0
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let records = Double(max(1, last.1 - first.1))
        return StreamRun(
            rate: records / max(seconds, 0.001), cpuMicroseconds: (last.2 - first.2) * 1e6 / records, peakRSS: rss,
            repartitionBytes: bytes)
    }

    /// With `repartitioned`, the arguments of that topology over fresh repartition topics (the
    /// input's partition count) of the run's own.
    private func repartitionArguments(
        _ repartitioned: Bool, group: String, partitions: Int, observer: KafkaClientObserver
    ) async throws -> [String] {
        guard repartitioned else { return ["--topology", "single"] }
        let (bySource, byUser) = ("\(group)-by-source", "\(group)-by-user")
        let admin = try KafkaAdmin(configuration: AdminConfiguration(bootstrapServers: brokers), observer: observer)
        _ = try await admin.createTopics(
            [bySource, byUser].map { TopicSpecification(name: $0, partitions: partitions, replicationFactor: 1) },
            timeout: .seconds(15))
        return ["--topology", "repartitioned", "--by-source-topic", bySource, "--by-user-topic", byUser]
    }

    /// A process's CPU time so far (user + system), from /proc/<pid>/stat.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Each anomaly's latency in milliseconds from its event's time: to its Kafka timestamp
    /// (stamped when Vigil hands it to its producer) and to when a consumer read it (after
    /// Vigil's producer sent it and the broker stored it: what a SIEM waits).
    struct Latencies {
        var produced: [Int64] = []
        var read: [Int64] = []
        /// The floor: a plain librdkafka consumer reading the input as it is produced, its
        /// records counted, median and p99 receipt minus event time (ms).
        var rawInput: (count: Int, p50: Int, p99: Int)?
    }

    /// Live traffic of the first seconds is not counted: it measures the stream and the readers
    /// starting their fetches, not the stream at that rate.
    static let warmUpMilliseconds: Int64 = 2_000

    /// Live traffic at `rate`: records stamped with the current time, the anomalies written to a
    /// fresh topic that a consumer reads while the traffic runs.
    private func latencyRun(
        brokers: String, input: String, group: String, lines: [[UInt8]], rate: Int, partitions: Int,
        repartitioned: Bool, admin: KafkaAdmin, observer: KafkaClientObserver
    ) async throws -> Latencies {
        let port = FreePort.next()
        let (output, dlq) = ("\(input)-out", "\(input)-dlq")
        _ = try await admin.createTopics(
            [
                TopicSpecification(name: output, partitions: Self.outputPartitions, replicationFactor: 1),
                TopicSpecification(name: dlq, partitions: 1, replicationFactor: 1),
            ], timeout: .seconds(15))
        let extra = try await repartitionArguments(
            repartitioned, group: group, partitions: partitions, observer: observer)
        let process = try startStream(
            brokers: brokers, input: input, output: output, dlq: dlq, group: group, port: port, extra: extra)
        defer { if process.isRunning { process.terminate() } }
        // Wait until the stream (each of its stages) owns its partitions.
        for stage in repartitioned ? ["{stage=\"route\"}", "{stage=\"detect\"}"] : [""] {
            for _ in 0..<300 {
                if let assigned = await Self.metric(port: port, "vigil_assigned_partitions" + stage), assigned > 0 {
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        var config = ProducerConfiguration(bootstrapServers: brokers)
        config.linger = .milliseconds(1)
        let producer = try KafkaProducer(configuration: config, observer: observer)
        // The reader: assigned from the start of the fresh topic, it sees only this run's
        // anomalies. A marker in every partition, read before the traffic starts, shows it is
        // fetching all of them: its own start is not counted as the stream's latency.
        var readerConfig = ConsumerConfiguration(bootstrapServers: brokers, groupID: "\(group)-reader")
        readerConfig.clientID = "vigil-bench"
        let reader = try KafkaConsumer(configuration: readerConfig, observer: observer)
        try reader.assign((0..<Self.outputPartitions).map { TopicPartitionOffset(output, Int32($0), offset: -2) })
        for result in await producer.send(
            (0..<Self.outputPartitions).map { ProducerMessage(topic: output, partition: Int32($0), value: []) })
        {
            if case .failure(let error) = result { throw BenchmarkFailure("marker not delivered: \(error)") }
        }
        var marked = Set<Int32>()
        let markerDeadline = ContinuousClock.now + .seconds(30)
        while marked.count < Self.outputPartitions, ContinuousClock.now < markerDeadline {
            guard let batch = await reader.nextBatch(timeout: .seconds(1)) else { continue }
            for record in batch { marked.insert(record.partition) }
        }
        guard marked.count == Self.outputPartitions else {
            throw BenchmarkFailure("the anomaly reader saw markers in \(marked.count) of \(Self.outputPartitions) partitions")
        }
        let started = ContinuousClock.now
        let counted = Int64(Date().timeIntervalSince1970 * 1000) + Self.warmUpMilliseconds
        let trafficEnds = started + .seconds(latencySeconds + 1)
        let raw = Process()
        raw.executableURL = URL(fileURLWithPath: rawConsumer)
        raw.arguments = [
            brokers, input, String(rate * latencySeconds), "--latency", String(partitions), String(counted),
        ]
        let rawOutput = Pipe()
        raw.standardOutput = rawOutput
        try raw.run()
        defer { if raw.isRunning { raw.terminate() } }
        let reading = Task { () -> Latencies in
            var latencies = Latencies()
            var quiet = 0
            // Until the traffic has stopped and nothing has come for 3 s.
            while ContinuousClock.now < trafficEnds || quiet < 3 {
                guard let batch = await reader.nextBatch(timeout: .seconds(1)) else {
                    if ContinuousClock.now >= trafficEnds { quiet += 1 }
                    continue
                }
                quiet = 0
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                for record in batch {
                    guard let timestamp = record.timestamp, let value = record.value,
                        let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                        let eventTime = (object["event_time"] as? String).flatMap(UTC.parse), eventTime >= counted
                    else { continue }
                    latencies.produced.append(max(0, timestamp - eventTime))
                    latencies.read.append(max(0, now - eventTime))
                }
            }
            return latencies
        }
        var sent = 0
        var index = 0
        while ContinuousClock.now - started < .seconds(latencySeconds) {
            let elapsed = ContinuousClock.now - started
            let due = Int(
                Double(rate) * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            if sent < due {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                let stamp = Array(UTC.format(now).dropLast().utf8) + Array("+00:00".utf8)
                var batch: [ProducerMessage] = []
                while sent < due {
                    var line = lines[index % lines.count]
                    // Restamp "2026-11-01T08:00:00.123+00:00 host …" with the current time.
                    if line.count > stamp.count { line.replaceSubrange(0..<stamp.count, with: stamp) }
                    batch.append(ProducerMessage(topic: input, key: Self.entity(line, user: true), value: line))
                    sent += 1
                    index += 1
                }
                await producer.enqueue(batch) { _ in }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        producer.close(timeout: .seconds(10))
        var latencies = await reading.value
        let rawText = String(decoding: rawOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        raw.waitUntilExit()
        let parts = rawText.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        if parts.count == 3 { latencies.rawInput = (parts[0], parts[1], parts[2]) }
        process.terminate()
        process.waitUntilExit()
        try? await reader.close(timeout: .seconds(2))
        return latencies
    }

    /// A metric's value from the stream's /metrics endpoint.
    static func metric(port: Int, _ name: String) async -> Int? {
        guard
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"),
                timeout: .seconds(2)),
            response.status == .ok, let body = try? await response.body.collect(upTo: 16 << 20)
        else { return nil }
        for line in String(buffer: body).split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "").map { Int($0) }
        }
        return nil
    }

    /// A process's peak resident memory (or, with `field: "VmRSS:"`, its current one), MiB.
    static func peakRSS(pid: Int32, field: String = "VmHWM:") -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return 0
    }
}
