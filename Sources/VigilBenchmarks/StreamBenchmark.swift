import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import VigilDetection
import VigilKafka
import VigilPipeline
import VigilSimulation

/// `vigil-bench stream` (`make bench-stream`): end-to-end throughput and latency of
/// `vigil stream` (single stage and repartitioned) next to a plain librdkafka consumer
/// reading the same topic, in one run.
struct StreamBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Benchmark vigil stream against a plain librdkafka consumer on the same topic.",
        discussion: """
            Loads --records generated sshd syslog lines into a fresh topic (keyed by user, so partitions are even), then
            times the raw consumer (bench/rawconsume.c, built against the same librdkafka) and `vigil stream` over them,
            single stage and repartitioned (through fresh repartition topics), --runs times each (medians reported,
            with the stream's CPU time per record). Last, each topology is fed live records at half its own measured
            rate, measuring event → anomaly latency: the anomaly's Kafka timestamp minus its event's time.
            """
    )

    @Option(name: .long, help: "Path of the raw consumer baseline (built by scripts/bench-stream).") var rawConsumer:
        String
    @Option(name: .long) var records = 1_000_000
    @Option(name: .long) var partitions = 6
    @Option(name: .long) var runs = 3
    @Option(name: .long, help: "Seconds of live traffic for the latency run.") var latencySeconds = 15
    @Option(name: .long, help: "The vigil executable to benchmark (default: next to vigil-bench).") var vigil: String?
    @Option(name: .long, help: "Kafka bootstrap servers.") var brokers = "127.0.0.1:9092"
    @Option(name: .long, help: "Distinct sources in the state-restore run (0 skips it).") var restoreEntities =
        1_000_000

    func run() async throws {
        var logger = Logger(label: "vigil.bench")
        logger.logLevel = .warning
        let observer = KafkaClientObserver(logger: logger)
        let id = UUID().uuidString.prefix(6).lowercased()
        let input = "bench-\(id)-in"
        let output = "bench-\(id)-out"
        let live = "bench-\(id)-live"
        let admin = try KafkaAdmin(configuration: AdminConfiguration(bootstrapServers: brokers), observer: observer)
        _ = try await admin.createTopics(
            [
                TopicSpecification(name: input, partitions: partitions, replicationFactor: 1),
                TopicSpecification(name: output, partitions: partitions, replicationFactor: 1),
                TopicSpecification(name: live, partitions: partitions, replicationFactor: 1),
                TopicSpecification(name: "bench-\(id)-dlq", partitions: 1, replicationFactor: 1),
            ],
            timeout: .seconds(15))
        let lines = Self.lines(count: records)
        log("loading \(lines.count) records into \(input)")
        try await produce(lines, topic: input, brokers: brokers, observer: observer)

        var rawRates: [Double] = []
        for run in 1...runs {
            let (count, seconds) = try rawConsume(brokers: brokers, topic: input, count: lines.count)
            guard count == lines.count, seconds > 0 else {
                throw BenchmarkFailure("raw consumer read \(count) of \(lines.count)")
            }
            rawRates.append(Double(count) / seconds)
            log("raw consumer run \(run): \(Int(Double(count) / seconds)) records/s")
        }
        var single: [StreamRun] = []
        var repartitioned: [StreamRun] = []
        for run in 1...runs {
            for topology in ["single", "repartitioned"] {
                let result = try await streamRun(
                    brokers: brokers, input: input, output: output, dlq: "bench-\(id)-dlq",
                    group: "bench-\(id)-\(topology)-\(run)", count: lines.count,
                    repartitioned: topology == "repartitioned", observer: observer)
                if topology == "single" { single.append(result) } else { repartitioned.append(result) }
                log(
                    "vigil stream (\(topology)) run \(run): \(Int(result.rate)) records/s, "
                        + "\(String(format: "%.2f", result.cpuMicroseconds)) µs CPU per record, peak RSS \(Int(result.peakRSS)) MiB"
                )
            }
        }
        let raw = Self.median(rawRates)
        let stream = Self.median(single.map(\.rate))
        let routed = Self.median(repartitioned.map(\.rate))
        let cpu = Self.median(single.map(\.cpuMicroseconds))
        let routedCPU = Self.median(repartitioned.map(\.cpuMicroseconds))
        let peakRSS = single.map(\.peakRSS).max() ?? 0
        let routedRSS = repartitioned.map(\.peakRSS).max() ?? 0
        let repartitionBytes = repartitioned.last?.repartitionBytes ?? 0
        let inputBytes = lines.reduce(0) { $0 + $1.count }
        let rate = max(1_000, Int(stream / 2))
        log("latency run: \(rate) records/s of live traffic for \(latencySeconds) s")
        let latencies = try await latencyRun(
            brokers: brokers, input: live, output: output, dlq: "bench-\(id)-dlq",
            group: "bench-\(id)-live", lines: lines, rate: rate, repartitioned: false, observer: observer)
        let liveRouted = "bench-\(id)-live-repartitioned"
        _ = try await admin.createTopics(
            [TopicSpecification(name: liveRouted, partitions: partitions, replicationFactor: 1)], timeout: .seconds(15))
        // Each topology at half its own measured rate: past its maximum a backlog, not latency, is measured.
        let routedRate = max(1_000, Int(routed / 2))
        log("latency run, repartitioned: \(routedRate) records/s of live traffic for \(latencySeconds) s")
        let routedLatencies = try await latencyRun(
            brokers: brokers, input: liveRouted, output: output, dlq: "bench-\(id)-dlq",
            group: "bench-\(id)-live-repartitioned", lines: lines, rate: routedRate, repartitioned: true,
            observer: observer)
        let restore = restoreEntities > 0 ? try await restoreRun(id: String(id), observer: observer) : nil
        func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2f×", a / b) : "–" }
        func quantiles(_ latencies: [Int64]) -> String {
            let sorted = latencies.sorted()
            func quantile(_ q: Double) -> String {
                sorted.isEmpty ? "–" : "\(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) ms"
            }
            return "\(quantile(0.5)) / \(quantile(0.99)) (\(sorted.count) anomalies)"
        }
        print(
            """
            | measure | plain librdkafka consumer | vigil stream, single stage | vigil stream, repartitioned |
            |---|---:|---:|---:|
            | records/s (median of \(runs), \(lines.count) sshd lines, \(partitions) partitions) | \(Int(raw).formatted()) | \(Int(stream).formatted()) (\(ratio(stream, raw)) raw) | \(Int(routed).formatted()) (\(ratio(routed, raw)) raw) |
            | CPU per record, user + system (median) | – | \(String(format: "%.2f", cpu)) µs | \(String(format: "%.2f", routedCPU)) µs (\(ratio(routedCPU, cpu)) single stage) |
            | event → anomaly latency p50 / p99, live at half each one's rate | – | \(quantiles(latencies)) at \(rate.formatted())/s | \(quantiles(routedLatencies)) at \(routedRate.formatted())/s |
            | peak RSS | – | \(Int(peakRSS)) MiB | \(Int(routedRSS)) MiB |
            | bytes written to the repartition topics | – | – | \(repartitionBytes >> 20) MiB (\(ratio(Double(repartitionBytes), Double(inputBytes))) the input's \(inputBytes >> 20) MiB) |
            """)
        if let restore { print(restore) }
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

    /// The user of a line, for a key that spreads partitions evenly and keeps a user's events together.
    static func key(_ line: [UInt8]) -> [UInt8]? {
        let event = line.withUnsafeBufferPointer {
            LogParser.parseRecord($0, options: ParseOptions(referenceTime: 0, fallbackTime: 0))
        }.events.first
        return (event?.user ?? event?.sourceIP ?? event?.host).map { Array($0.utf8) }
    }

    private func produce(_ lines: [[UInt8]], topic: String, brokers: String, observer: KafkaClientObserver) async throws
    {
        var config = ProducerConfiguration(bootstrapServers: brokers)
        config.linger = .milliseconds(20)
        let producer = try KafkaProducer(configuration: config, observer: observer)
        for start in stride(from: 0, to: lines.count, by: 20_000) {
            let messages = lines[start..<min(lines.count, start + 20_000)].map {
                ProducerMessage(topic: topic, key: Self.key($0), value: $0)
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
            ] + extra
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
    /// to the last (repartitioned: to the last event the detect stage read, through fresh
    /// repartition topics with the input's partition count).
    private func streamRun(
        brokers: String, input: String, output: String, dlq: String, group: String,
        count: Int, repartitioned: Bool, observer: KafkaClientObserver
    ) async throws -> StreamRun {
        let port = 30_000 + Int.random(in: 0..<20_000)
        let extra = try await repartitionArguments(repartitioned, group: group, observer: observer)
        let process = try startStream(
            brokers: brokers, input: input, output: output, dlq: dlq, group: group, port: port, extra: extra)
        defer { if process.isRunning { process.terminate() } }
        let stage = { (name: String, stage: String) in repartitioned ? "\(name){stage=\"\(stage)\"}" : name }
        var first: (ContinuousClock.Instant, Int, Double)? = nil
        var last: (ContinuousClock.Instant, Int, Double) = (.now, 0, 0)
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            let consumed = await Self.metric(port: port, stage("vigil_events_consumed_total", "route")) ?? 0
            var inFlight = await Self.metric(port: port, stage("vigil_inflight_events", "route")) ?? 0
            var done = consumed >= count
            if repartitioned && done {
                let sent = await Self.metric(port: port, stage("vigil_repartition_events_total", "route")) ?? -1
                let detected = await Self.metric(port: port, stage("vigil_events_parsed_total", "detect")) ?? 0
                inFlight += await Self.metric(port: port, stage("vigil_inflight_events", "detect")) ?? 0
                done = sent == detected
            }
            let cpu = Self.cpuSeconds(pid: process.processIdentifier)
            if consumed > 0 && first == nil { first = (.now, consumed, cpu) }
            last = (.now, consumed, cpu)
            if done && inFlight == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let rss = Self.peakRSS(pid: process.processIdentifier)
        let bytes =
            repartitioned ? await Self.metric(port: port, stage("vigil_repartition_bytes_total", "route")) ?? 0 : 0
        process.terminate()
        process.waitUntilExit()
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
        _ repartitioned: Bool, group: String, observer: KafkaClientObserver
    ) async throws -> [String] {
        guard repartitioned else { return [] }
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

    /// Live traffic at `rate`: records stamped with the current time; returns each anomaly's
    /// latency in milliseconds (its Kafka timestamp minus its event time).
    private func latencyRun(
        brokers: String, input: String, output: String, dlq: String, group: String, lines: [[UInt8]],
        rate: Int, repartitioned: Bool, observer: KafkaClientObserver
    ) async throws -> [Int64] {
        let port = 30_000 + Int.random(in: 0..<20_000)
        let extra = try await repartitionArguments(repartitioned, group: group, observer: observer)
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
        let startMs = Int64(Date().timeIntervalSince1970 * 1000)
        var config = ProducerConfiguration(bootstrapServers: brokers)
        config.linger = .milliseconds(1)
        let producer = try KafkaProducer(configuration: config, observer: observer)
        let started = ContinuousClock.now
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
                    batch.append(ProducerMessage(topic: input, key: Self.key(line), value: line))
                    sent += 1
                    index += 1
                }
                await producer.enqueue(batch) { _ in }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        producer.close(timeout: .seconds(10))
        try await Task.sleep(for: .seconds(3))
        process.terminate()
        process.waitUntilExit()
        // Read the anomalies of this run back.
        var consumerConfig = ConsumerConfiguration(bootstrapServers: brokers, groupID: "\(group)-reader")
        consumerConfig.clientID = "vigil-bench"
        let consumer = try KafkaConsumer(configuration: consumerConfig, observer: observer)
        try consumer.assign((0..<partitions).map { TopicPartitionOffset(output, Int32($0), offset: -2) })
        var latencies: [Int64] = []
        while let batch = await consumer.nextBatch(timeout: .seconds(3)) {
            for record in batch {
                guard let timestamp = record.timestamp, timestamp >= startMs, let value = record.value,
                    let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
                    let eventTime = (object["event_time"] as? String).flatMap(UTC.parse), eventTime >= startMs
                else { continue }
                latencies.append(max(0, timestamp - eventTime))
            }
        }
        try? await consumer.close(timeout: .seconds(2))
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
