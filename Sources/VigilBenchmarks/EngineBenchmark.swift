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
            Measures JSON events and raw sshd syslog lines from the generator, each against a baseline in the same
            run (Foundation's JSONSerialization; NSRegularExpression), and peak memory while a million distinct
            source addresses stream through the bounded state (in a child process, so its peak is its own).
            """
    )

    @Option(name: .long, help: "Events per workload (at least).") var events = 1_000_000
    @Option(name: .long, help: "Only this scenario (json, syslog, distinct-ips); internal use for the memory run.")
    var scenario: String?
    @Option(name: .long, help: "Distinct source addresses for the memory scenario.") var distinctSources = 1_000_000

    func run() throws {
        if scenario == "json-parse" || scenario == "syslog-parse" || scenario == "json-detect"
            || scenario == "syslog-detect"
        {
            // Profiling aids: one phase only, no baseline.
            let format: GeneratedFormat = scenario?.hasPrefix("json") == true ? .json : .syslog
            let records = Bench.records(format, count: events)
            let start = Bench.now()
            if scenario?.hasSuffix("parse") == true {
                _ = Bench.parseOnly(records, reference: GeneratorOptions().start)
            } else {
                _ = Bench.parseAndDetect(records, reference: GeneratorOptions().start)
            }
            print("\(records.count) records in \(Double(Bench.now() - start) / 1e9) s")
            return
        }
        if scenario == "distinct-ips" {
            let result = Bench.distinctSources(distinctSources)
            print("\(result.events) \(result.seconds) \(Bench.peakRSSKiB()) \(result.evictions)")
            return
        }
        var rows: [Bench.Row] = []
        if scenario == nil || scenario == "json" { rows += Bench.json(atLeast: events) }
        if scenario == nil || scenario == "syslog" { rows += Bench.syslog(atLeast: events) }
        if scenario == nil { rows.append(try memoryRow()) }
        print(Bench.table(rows))
    }

    private func memoryRow() throws -> Bench.Row {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: process.executableURL?.path ?? "") {
            process.executableURL = Bundle.main.executableURL
        }
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
        var p50: Double?
        var p99: Double?
        var peakMiB: Double?
    }

    static func table(_ rows: [Row]) -> String {
        var lines = [
            "| workload | events | events/s (1 core) | p50 µs/event | p99 µs/event | peak RSS |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in rows {
            let rate = Int(Double(r.events) / r.seconds)
            func us(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "–" }
            lines.append(
                "| \(r.workload) | \(r.events) | \(rate.formatted()) | \(us(r.p50)) | \(us(r.p99)) | \(r.peakMiB.map { String(format: "%.0f MiB", $0) } ?? "–") |"
            )
        }
        return lines.joined(separator: "\n")
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

    /// Parse + detect over `records`, one record at a time as the stream would; also per-event latency.
    static func parseAndDetect(_ records: [[UInt8]], reference: Int64) -> (Double, Double, Double) {
        var engine = DetectionEngine()
        var anomalies = 0
        var latencies: [UInt64] = []
        latencies.reserveCapacity(records.count / 10 + 1)
        let start = now()
        for (i, record) in records.enumerated() {
            let t = i % 10 == 0 ? now() : 0
            let parsed = record.withUnsafeBufferPointer {
                LogParser.parseRecord($0, options: ParseOptions(referenceTime: reference))
            }
            for e in parsed.events { anomalies += engine.process(e).count }
            if t != 0 { latencies.append(now() - t) }
        }
        let seconds = Double(now() - start) / 1e9
        latencies.sort()
        let p50 = Double(latencies[latencies.count / 2]) / 1000
        let p99 = Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1000
        precondition(anomalies >= 0)
        return (seconds, p50, p99)
    }

    static func parseOnly(_ records: [[UInt8]], reference: Int64) -> Double {
        var events = 0
        let start = now()
        for record in records {
            events += record.withUnsafeBufferPointer {
                LogParser.parseRecord($0, options: ParseOptions(referenceTime: reference)).events.count
            }
        }
        precondition(events > 0)
        return Double(now() - start) / 1e9
    }

    static func json(atLeast count: Int) -> [Row] {
        let reference = GeneratorOptions().start
        let records = Self.records(.json, count: count)
        let (seconds, p50, p99) = parseAndDetect(records, reference: reference)
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
                workload: "JSON events: parse + detect (Vigil)", events: records.count, seconds: seconds, p50: p50,
                p99: p99),
            Row(workload: "JSON events: parse only (Vigil)", events: records.count, seconds: parseSeconds),
            Row(
                workload: "JSON events: parse only (Foundation JSONSerialization, baseline)", events: records.count,
                seconds: baseline),
        ]
    }

    static func syslog(atLeast count: Int) -> [Row] {
        let reference = GeneratorOptions().start
        let records = Self.records(.syslog, count: count)
        let (seconds, p50, p99) = parseAndDetect(records, reference: reference)
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
                workload: "sshd syslog lines: parse + template + detect (Vigil)", events: records.count,
                seconds: seconds, p50: p50, p99: p99),
            Row(
                workload: "sshd syslog lines: parse + template only (Vigil)", events: records.count,
                seconds: parseSeconds),
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
