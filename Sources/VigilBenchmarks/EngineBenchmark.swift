import ArgumentParser
import Foundation
import VigilDetection
import VigilSimulation

/// `vigil-bench engine` (`make bench`): throughput, latency and memory of the detection engine
/// on one core, with naive baselines measured in the same run.
struct EngineBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Benchmark parse + detect on one core (build with -c release; `make bench`).",
        discussion: """
            Runs a matrix of data shapes that are not our generator's (ECS and flat JSON, sshd lines; 100 to 100,000 \
            users and sources; 1% to 30% failures; quiet and with attack bursts; short and long records), then our \
            generator's JSON and sshd lines, each with events/s on one core, per-event latency and — counted by \
            valgrind's callgrind, repeatable on a noisy machine — instructions per event. Then the repartitioned \
            stream's detect stage (its two scoped engines decoding and detecting routed events, without Kafka) on \
            ECS JSON and sshd lines. Baselines in the same run: \
            Foundation's JSONSerialization and one NSRegularExpression. Last, peak memory while a million distinct \
            source addresses stream through the bounded state (in a child process, so its peak is its own).
            """
    )

    @Option(name: .long, help: "Events per workload (at least).") var events = 1_000_000
    @Option(
        name: .long,
        help:
            "Only this scenario (json, syslog, shapes, detect-stage, distinct-ips; shape:N, detect-stage:N for child processes)."
    )
    var scenario: String?
    @Option(name: .long, help: "Distinct source addresses for the memory scenario.") var distinctSources = 1_000_000
    @Option(
        name: .long,
        help: "Events per shape counted under callgrind, run for n and 2n events (0: skip the instruction counts).")
    var callgrindEvents = 10_000
    @Option(
        name: .long,
        help:
            "Events processed before callgrind counts, so the count is of an engine in its steady state (volume baselines and windows filled: 10,000 events span minutes of event time)."
    )
    var callgrindWarmup = 50_000

    func run() throws {
        if scenario == "json-parse" || scenario == "syslog-parse" || scenario == "json-detect"
            || scenario == "syslog-detect"
        {
            // Profiling aids: one phase only, no baseline.
            let format: GeneratedFormat = scenario?.hasPrefix("json") == true ? .json : .syslog
            let parseOnly = scenario?.hasSuffix("parse") == true
            let warmup = parseOnly ? 0 : callgrindWarmup
            let all = Bench.records(format, count: warmup + events)
            let records = Array(all.dropFirst(warmup).prefix(events))
            let reference = GeneratorOptions().start
            var engine = Bench.warmed(all.prefix(warmup), reference: reference)
            let start = Bench.now()
            if parseOnly {
                _ = Bench.parseOnly(records, reference: reference)
            } else {
                _ = Bench.callgrindScope(records, reference: reference, engine: &engine)
            }
            print("\(records.count) records in \(Double(Bench.now() - start) / 1e9) s")
            return
        }
        if let scenario, scenario.hasPrefix("shape:"), let index = Int(scenario.dropFirst(6)),
            Shape.matrix.indices.contains(index)
        {
            // The callgrind child: parse + detect only is counted (see Bench.instructions).
            let all = Shape.matrix[index].records(count: callgrindWarmup + events)
            let records = Array(all.dropFirst(callgrindWarmup))
            var engine = Bench.warmed(all.prefix(callgrindWarmup), reference: 0)
            let measured = Bench.callgrindScope(records, reference: 0, engine: &engine)
            print("\(records.count) records in \(measured.seconds) s, \(measured.anomalies) anomalies")
            return
        }
        if let scenario, scenario.hasPrefix("detect-stage:"), let index = Int(scenario.dropFirst(13)),
            Shape.matrix.indices.contains(index)
        {
            // Profiling aid: a repartitioned stream's detect stage without Kafka (see
            // Bench.callgrindScopeDetectStage); callgrind counts only that.
            let all = Shape.matrix[index].records(count: callgrindWarmup + events)
            var stage = Bench.DetectStage()
            stage.feed(Bench.DetectStage.route(all.prefix(callgrindWarmup)))
            let routed = Bench.DetectStage.route(all.dropFirst(callgrindWarmup), after: callgrindWarmup)
            let measured = Bench.callgrindScopeDetectStage(routed, stage: &stage)
            print(
                "\(routed.count) events in \(measured.seconds) s, \(measured.anomalies) anomalies, digest \(String(stage.digest, radix: 16))"
            )
            return
        }
        if let scenario, scenario.hasPrefix("print-shape:"), let index = Int(scenario.dropFirst(12)),
            Shape.matrix.indices.contains(index)
        {
            // The shape's records as lines (to look at, or to feed `vigil analyze`).
            var out = [UInt8]()
            for record in Shape.matrix[index].records(count: events) {
                out += record
                out.append(0x0A)
            }
            FileHandle.standardOutput.write(Data(out))
            return
        }
        if scenario == "distinct-ips" {
            let result = Bench.distinctSources(distinctSources)
            print("\(result.events) \(result.seconds) \(Bench.peakRSSKiB()) \(result.evictions)")
            return
        }
        var rows: [Bench.Row] = []
        if scenario == nil || scenario == "shapes" {
            for (index, shape) in Shape.matrix.enumerated() {
                rows.append(
                    Bench.shape(
                        shape, count: events,
                        instructions: callgrindEvents > 0
                            ? Bench.instructions(
                                scenario: "shape:\(index)", events: callgrindEvents, warmup: callgrindWarmup) : nil))
            }
        }
        let counted = (events: callgrindEvents, warmup: callgrindWarmup)
        if scenario == nil || scenario == "json" { rows += Bench.json(atLeast: events, callgrind: counted) }
        if scenario == nil || scenario == "syslog" { rows += Bench.syslog(atLeast: events, callgrind: counted) }
        if scenario == nil || scenario == "detect-stage" {
            // The repartitioned topology's second stage: what its engines cost per record.
            for index in Self.detectStageShapes {
                rows.append(
                    Bench.detectStage(
                        Shape.matrix[index], count: events,
                        instructions: callgrindEvents > 0
                            ? Bench.instructions(
                                scenario: "detect-stage:\(index)", events: callgrindEvents, warmup: callgrindWarmup)
                            : nil))
            }
        }
        if scenario == nil { rows.append(try memoryRow()) }
        print(Bench.table(rows))
    }

    /// Shapes the detect stage is measured on: ECS JSON and sshd lines, 5k users.
    static let detectStageShapes = [0, 6]

    private func memoryRow() throws -> Bench.Row {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Bench.selfPath())
        process.arguments = ["engine", "--scenario", "distinct-ips", "--distinct-sources", String(distinctSources)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let parts = text.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard parts.count == 4 else { throw BenchmarkFailure("memory scenario failed: \(text)") }
        return Bench.Row(
            workload:
                "\(Int(parts[0])) failures from \(distinctSources) distinct sources (state capped at 100,000 entities each; \(Int(parts[3])) evicted)",
            events: Int(parts[0]), seconds: parts[1], p50: nil, p99: nil, peakMiB: parts[2] / 1024)
    }
}

enum Bench {
    struct Row {
        var workload: String
        var events: Int
        var seconds: Double
        var p50: Double? = nil
        var p99: Double? = nil
        var peakMiB: Double? = nil
        /// Parse alone, events/s.
        var parseRate: Double? = nil
        var anomalies: Int? = nil
        /// Instructions per event under callgrind (parse + detect).
        var instructions: Double? = nil
    }

    static func table(_ rows: [Row]) -> String {
        var lines = [
            "| workload | events | events/s (1 core) | parse only, events/s | instructions/event | p50 µs/event | p99 µs/event | anomalies | peak RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows {
            let rate = Int(Double(r.events) / r.seconds)
            func us(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "–" }
            lines.append(
                "| \(r.workload) | \(r.events) | \(rate.formatted()) | \(r.parseRate.map { Int($0).formatted() } ?? "–") | \(r.instructions.map { Int($0).formatted() } ?? "–") | \(us(r.p50)) | \(us(r.p99)) | \(r.anomalies.map { $0.formatted() } ?? "–") | \(r.peakMiB.map { String(format: "%.0f MiB", $0) } ?? "–") |"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// One shape of the matrix: parse + detect (with latency and anomalies), parse alone.
    static func shape(_ shape: Shape, count: Int, instructions: Double?) -> Row {
        let records = shape.records(count: count)
        var engine = DetectionEngine()
        let measured = callgrindScope(records, reference: 0, engine: &engine)
        let parseSeconds = parseOnly(records, reference: 0)
        return Row(
            workload: shape.name, events: records.count, seconds: measured.seconds, p50: measured.p50,
            p99: measured.p99, parseRate: Double(records.count) / parseSeconds, anomalies: measured.anomalies,
            instructions: instructions)
    }

    /// The repartitioned stream's detect stage on one shape (see ``DetectStage``): records/s on
    /// one core of decoding and detecting, the parsing and routing before it not timed.
    static func detectStage(_ shape: Shape, count: Int, instructions: Double?) -> Row {
        let routed = DetectStage.route(shape.records(count: count))
        var stage = DetectStage()
        let measured = callgrindScopeDetectStage(routed, stage: &stage)
        return Row(
            workload: "repartitioned detect stage (two scoped engines; decode + detect, no Kafka): \(shape.name)",
            events: count, seconds: measured.seconds, anomalies: measured.anomalies, instructions: instructions)
    }

    /// Instructions per event of parse + detect, counted by callgrind in child processes that
    /// run `scenario`: only while ``callgrindScope(_:reference:engine:)`` runs (`--toggle-collect`),
    /// so making the records is not counted. Nil when valgrind is missing or fails.
    static func instructions(scenario: String, events: Int, warmup: Int) -> Double? {
        // The marginal cost: (2n events − n events) / n, so what happens once (the first
        // entities, growing tables) is not spread over a short sample.
        guard events > 0, let once = callgrindTotal(scenario: scenario, events: events, warmup: warmup),
            let twice = callgrindTotal(scenario: scenario, events: 2 * events, warmup: warmup), twice > once
        else { return nil }
        return (twice - once) / Double(events)
    }

    /// Instructions callgrind counted inside ``callgrindScope(_:reference:engine:)`` for `events` events.
    private static func callgrindTotal(scenario: String, events: Int, warmup: Int) -> Double? {
        guard let valgrind = executable("valgrind"), let binary = strippedCopy else { return nil }
        let out = NSTemporaryDirectory() + "vigil-callgrind-\(ProcessInfo.processInfo.processIdentifier).out"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: valgrind)
        process.arguments = [
            "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=*callgrindScope*",
            "--callgrind-out-file=\(out)", binary, "engine", "--scenario", scenario, "--events", String(events),
            "--callgrind-warmup", String(warmup),
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        guard process.terminationStatus == 0, let text = try? String(contentsOfFile: out, encoding: .utf8) else {
            return nil
        }
        // "summary: <Ir>" (or "totals:") carries the instructions collected.
        for line in text.split(separator: "\n") where line.hasPrefix("summary:") || line.hasPrefix("totals:") {
            if let ir = Double(line.split(separator: " ").dropFirst().first ?? ""), ir > 0 { return ir }
        }
        return nil
    }

    /// A copy of this executable without debug information, made once: valgrind 3.19 cannot
    /// read the DWARF that Swift 6.3 writes ("possibly corrupted debuginfo"); the symbols
    /// `--toggle-collect` needs stay. Nil without `objcopy`.
    static let strippedCopy: String? = {
        guard let objcopy = executable("objcopy") else { return nil }
        let copy = strippedCopyPath
        let process = Process()
        process.executableURL = URL(fileURLWithPath: objcopy)
        process.arguments = ["--strip-debug", selfPath(), copy]
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        atexit { try? FileManager.default.removeItem(atPath: strippedCopyPath) }
        return copy
    }()

    /// Where ``strippedCopy`` is made (removed at exit).
    static var strippedCopyPath: String {
        NSTemporaryDirectory() + "vigil-bench-\(ProcessInfo.processInfo.processIdentifier)-nodebug"
    }

    /// The first of /usr/bin, /usr/local/bin holding `name`.
    static func executable(_ name: String) -> String? {
        ["/usr/bin/\(name)", "/usr/local/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// This executable's path (for child processes).
    static func selfPath() -> String {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        return FileManager.default.isExecutableFile(atPath: path) ? path : Bundle.main.executablePath ?? path
    }

    /// Records from the generator, repeated (shifted in time) until there are `count`.
    static func records(_ format: GeneratedFormat, users: Int = 400, count: Int) -> [[UInt8]] {
        var options = GeneratorOptions()
        options.format = format
        options.users = users
        options.historyDays = 10
        options.attackDays = 4
        options.attacksPerKind = 6
        let data = Generator.generate(options)
        let base = (data.history + data.test).map { Array($0.utf8) }
        var out: [[UInt8]] = []
        out.reserveCapacity(count + base.count)
        while out.count < count { out.append(contentsOf: base) }
        return out
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Parse + detect over `records`, one record at a time as the stream would; also per-event
    /// latency (every tenth record) and the anomalies found. Its name is what callgrind's
    /// `--toggle-collect` matches: keep it distinctive.
    @inline(never)
    static func callgrindScope(
        _ records: [[UInt8]], reference: Int64, engine: inout DetectionEngine
    ) -> (
        seconds: Double, p50: Double, p99: Double, anomalies: Int
    ) {
        var anomalies = 0
        var latencies: [UInt64] = []
        latencies.reserveCapacity(records.count / 10 + 1)
        // One result reused for every record, as the stream's workers do.
        var parsed = ParsedInput()
        let start = now()
        for (i, record) in records.enumerated() {
            let t = i % 10 == 0 ? now() : 0
            parse(record, reference: reference, into: &parsed)
            // In place, as the stream's workers do (`for e in` copies each event).
            parsed.events.withUnsafeMutableBufferPointer { events in
                for i in events.indices { anomalies += engine.process(&events[i]).count }
            }
            if t != 0 { latencies.append(now() - t) }
        }
        let seconds = Double(now() - start) / 1e9
        latencies.sort()
        let p50 = Double(latencies[latencies.count / 2]) / 1000
        let p99 = Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1000
        return (seconds, p50, p99, anomalies)
    }

    /// A repartitioned stream's second stage without Kafka: the source-scope engine receives
    /// every event's encoding, the account-scope engine those naming an account, each
    /// processing them as they arrive (one input partition, so nothing waits for event-time order).
    struct DetectStage {
        var sources = DetectionEngine(config: DetectionConfig.default.scoped(to: .sources))
        var accounts = DetectionEngine(config: DetectionConfig.default.scoped(to: .accounts))
        var anomalies = 0
        /// A digest of the published anomalies' JSON, whatever their order (to compare builds).
        var digest: UInt64 = 0

        /// An event as the route stage sends it: its encoding, origin, and whether it names an account.
        struct Routed {
            var encoded: [UInt8]
            var origin: EventOrigin
            var hasAccount: Bool
        }

        /// Parses and resolves `records` as the route stage does (one input partition), their
        /// offsets counted from `after`.
        static func route(_ records: some Collection<[UInt8]>, after: Int = 0) -> [Routed] {
            var router = DetectionEngine()
            var parsed = ParsedInput()
            var routed: [Routed] = []
            for (n, record) in records.enumerated() {
                Bench.parse(record, reference: 0, into: &parsed)
                for k in parsed.events.indices {
                    var event = parsed.events[k]
                    let watermark = router.resolve(&event)
                    let origin = EventOrigin(
                        stream: 1, streams: 1, offset: Int64(after + n), index: UInt32(k), watermark: watermark)
                    routed.append(Routed(encoded: EventCodec.encode(event), origin: origin, hasAccount: event.user != nil))
                }
            }
            return routed
        }

        /// Receives the events in runs of ``run`` (a repartition record's share, roughly), each
        /// run then released, as the stage does per record.
        mutating func feed(_ routed: [Routed]) {
            var start = 0
            while start < routed.count {
                let end = min(routed.count, start + Self.run)
                receive(routed[start..<end])
                start = end
            }
        }

        static let run = 256

        @inline(__always)
        mutating func receive(_ events: ArraySlice<Routed>) {
            var accountEvents = false
            for event in events {
                event.encoded.withUnsafeBytes { raw in
                    _ = try? sources.receive(encoded: raw, from: event.origin)
                    if event.hasAccount { _ = try? accounts.receive(encoded: raw, from: event.origin) }
                }
                accountEvents = accountEvents || event.hasAccount
            }
            // The anomalies each scope's stage publishes (the stream's filter), and a digest of them.
            var found = 0
            var ids = digest
            func publish(_ engine: inout DetectionEngine) {
                let scope = engine.config.entityScope
                engine.release { anomaly, _ in
                    guard scope.reports(anomaly.entity.kind) else { return }
                    found += 1
                    ids &+= StableHash.hash(AnomalyJSON.encode(anomaly))
                }
            }
            publish(&sources)
            if accountEvents { publish(&accounts) }
            anomalies += found
            digest = ids
        }
    }

    /// The detect stage's work on `routed` (decode, detect; the measured part under callgrind,
    /// hence never inlined: callgrind finds it by name).
    @inline(never)
    static func callgrindScopeDetectStage(_ routed: [DetectStage.Routed], stage: inout DetectStage) -> (
        seconds: Double, anomalies: Int
    ) {
        let before = stage.anomalies
        let start = now()
        stage.feed(routed)
        return (Double(now() - start) / 1e9, stage.anomalies - before)
    }

    /// Parses one record into `parsed` (emptied first, kept for its capacity), as the stream does.
    @inline(__always)
    static func parse(_ record: [UInt8], reference: Int64, into parsed: inout ParsedInput) {
        parsed.removeAll()
        record.withUnsafeBufferPointer {
            LogParser.parseRecord($0, options: ParseOptions(referenceTime: reference), into: &parsed)
        }
    }

    /// An engine that has processed `records` (outside ``callgrindScope(_:reference:engine:)``,
    /// so callgrind does not count them).
    static func warmed(_ records: ArraySlice<[UInt8]>, reference: Int64) -> DetectionEngine {
        var engine = DetectionEngine()
        var parsed = ParsedInput()
        for record in records {
            parse(record, reference: reference, into: &parsed)
            parsed.events.withUnsafeMutableBufferPointer { events in
                for i in events.indices { _ = engine.process(&events[i]) }
            }
        }
        return engine
    }

    static func parseOnly(_ records: [[UInt8]], reference: Int64) -> Double {
        var events = 0
        var parsed = ParsedInput()
        let start = now()
        for record in records {
            parse(record, reference: reference, into: &parsed)
            events += parsed.events.count
        }
        precondition(events > 0)
        return Double(now() - start) / 1e9
    }

    static func json(atLeast count: Int, callgrind: (events: Int, warmup: Int)) -> [Row] {
        let reference = GeneratorOptions().start
        let records = Self.records(.json, count: count)
        var engine = DetectionEngine()
        let (seconds, p50, p99, anomalies) = callgrindScope(records, reference: reference, engine: &engine)
        let parseSeconds = parseOnly(records, reference: reference)
        // Baseline: what a straightforward Swift consumer would do — Foundation's parser, no detection.
        let start = now()
        var users = 0
        for record in records {
            if let object = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any],
                object["user"] != nil
            {
                users += 1
            }
        }
        let baseline = Double(now() - start) / 1e9
        return [
            Row(
                workload: "our generator's JSON events: parse + detect (Vigil)", events: records.count,
                seconds: seconds, p50: p50, p99: p99, parseRate: Double(records.count) / parseSeconds,
                anomalies: anomalies,
                instructions: instructions(
                    scenario: "json-detect", events: callgrind.events, warmup: callgrind.warmup)),
            Row(
                workload: "JSON events: parse only (Foundation JSONSerialization, baseline)", events: records.count,
                seconds: baseline),
        ]
    }

    static func syslog(atLeast count: Int, callgrind: (events: Int, warmup: Int)) -> [Row] {
        let reference = GeneratorOptions().start
        let records = Self.records(.syslog, count: count)
        var engine = DetectionEngine()
        let (seconds, p50, p99, anomalies) = callgrindScope(records, reference: reference, engine: &engine)
        let parseSeconds = parseOnly(records, reference: reference)
        // Baseline: one regular expression for the sshd failure line, as a Python or Swift script would.
        let regex = try? NSRegularExpression(
            pattern: #"^(\S+) (\S+) (\w+)\[(\d+)\]: Failed password for (invalid user )?(\S+) from (\S+) port (\d+)"#)
        let start = now()
        var matched = 0
        for record in records {
            let line = String(decoding: record, as: UTF8.self)
            if regex?.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil { matched += 1 }
        }
        let baseline = Double(now() - start) / 1e9
        return [
            Row(
                workload: "our generator's sshd lines: parse + template + detect (Vigil)", events: records.count,
                seconds: seconds, p50: p50, p99: p99, parseRate: Double(records.count) / parseSeconds,
                anomalies: anomalies,
                instructions: instructions(
                    scenario: "syslog-detect", events: callgrind.events, warmup: callgrind.warmup)),
            Row(
                workload: "sshd syslog lines: one NSRegularExpression (baseline)", events: records.count,
                seconds: baseline),
        ]
    }

    /// Failed logins from `count` distinct addresses through one engine.
    static func distinctSources(_ count: Int) -> (events: Int, seconds: Double, evictions: Int) {
        var engine = DetectionEngine()
        let start = now()
        for i in 0..<count {
            var e = LogEvent(
                timestamp: 1_793_491_200_000 + Int64(i) * 10, kind: .authFailure, outcome: .failure,
                user: "root", sourceIP: "\(10 + (i >> 24) & 255).\(i >> 16 & 255).\(i >> 8 & 255).\(i & 255)",
                template: "sshd:failed")
            e.isAttempt = true
            e.fingerprint = UInt64(i)
            _ = engine.process(e)
        }
        return (count, Double(now() - start) / 1e9, engine.statistics.evictions)
    }

    /// Peak resident set size of this process (VmHWM), KiB.
    static func peakRSSKiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
