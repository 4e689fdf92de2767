import ArgumentParser
import AsyncHTTPClient
import Foundation
import VigilAPI
import VigilAnalysis
import VigilDetection
import VigilSimulation

/// `vigil-bench api` (`make bench-api`): `/analyze` with 1,000-event bodies from a loopback
/// load tool (Debian's `hey`) at several concurrencies, next to the analysis library's
/// in-process rate on the same body in the same run — the HTTP overhead ratio.
struct APIBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Benchmark vigil serve's /analyze against the in-process analysis of the same bodies.")

    @Option(name: .long, help: "The vigil binary to serve with (release build).") var vigil = ".build/release/vigil"
    @Option(name: .long, help: "The load tool.") var hey = "/usr/bin/hey"
    @Option(name: .long, help: "Events per request body.") var events = 1_000
    @Option(name: .long, help: "Requests per concurrency level.") var requests = 400
    @Option(name: .long, parsing: .upToNextOption, help: "Concurrent clients.") var concurrency: [Int] = [1, 8, 64]
    @Option(name: .long, help: "Port for the server.") var port = 18_765

    func run() async throws {
        // The body: generated JSON auth events, as a client batching 1,000 at a time sends them.
        var options = GeneratorOptions()
        options.users = 200
        options.attackDays = 2
        let records = Array((Generator.generate(options).test).prefix(events))
        guard records.count == events else { throw BenchmarkFailure("the generator made only \(records.count) events") }
        let body = "{\"logs\":[" + records.joined(separator: ",") + "]}"
        let bodyPath = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-body.json").path
        try body.write(toFile: bodyPath, atomically: true, encoding: .utf8)

        // In process: the same body through the same service, without HTTP — one thread, then
        // as many concurrent tasks as the machine has cores.
        var configuration = APIConfiguration()
        configuration.cacheBytes = 0
        let models = ModelStore(roots: [FileManager.default.currentDirectoryPath])
        models.useRulesOnly()
        let service = AnalysisService(configuration: configuration, models: models)
        let bytes = Array(body.utf8)
        let single = try await Self.inProcess(service, bytes, tasks: 1, requests: max(50, requests / 4))
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let parallel = try await Self.inProcess(service, bytes, tasks: cores, requests: max(50, requests / 2))

        // Over HTTP: a real server process, cache off (every request analysed), no rate limit.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-serve.log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: vigil)
        server.arguments = [
            "serve", "--port", String(port), "--cache-bytes", "0",
            "--log-level", "warning",
        ]
        server.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VIGIL_") && $0.key != "MODEL_DIR" }
        server.currentDirectoryURL = FileManager.default.temporaryDirectory
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        server.standardOutput = handle
        server.standardError = handle
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        // Run from a directory without anomaly_outputs: the rules-only default, as in process.
        try await Self.waitForServer(port: port)
        var rows: [(String, Double, Double, Double, Double)] = []
        for clients in concurrency {
            // hey sends a multiple of the clients (it rounds down): ask for one.
            let count = (max(requests, clients * 4) + clients - 1) / clients * clients
            let (rate, p50, p99) = try Self.hey(
                hey, url: "http://127.0.0.1:\(port)/analyze", body: bodyPath, clients: clients, requests: count)
            rows.append(("HTTP, \(clients) client\(clients == 1 ? "" : "s")", rate, rate * Double(events), p50, p99))
        }
        let serverPeak = Self.peakRSSMiB(pid: server.processIdentifier)
        print("Vigil API benchmark: POST /analyze, \(events)-event JSON bodies (\(body.utf8.count / 1024) KiB), \(cores) cores")
        print("")
        print("| workload | requests/s | events/s | p50 ms | p99 ms | vs in-process (\(cores) tasks) |")
        print("|---|---:|---:|---:|---:|---:|")
        print(String(format: "| in-process, 1 task (baseline) | %.0f | %.0f | %.1f | %.1f | — |", single.rate, single.rate * Double(events), single.p50, single.p99))
        print(String(format: "| in-process, %d tasks (baseline) | %.0f | %.0f | %.1f | %.1f | 1.00 |", cores, parallel.rate, parallel.rate * Double(events), parallel.p50, parallel.p99))
        for (name, rate, eventsRate, p50, p99) in rows {
            print(String(format: "| %@ | %.0f | %.0f | %.1f | %.1f | %.2f |", name, rate, eventsRate, p50, p99, rate / parallel.rate))
        }
        print("")
        print(String(format: "server peak RSS: %.0f MiB", serverPeak))
    }

    /// `requests` analyses of `body` spread over `tasks` concurrent tasks: requests/s and latency.
    static func inProcess(_ service: AnalysisService, _ body: [UInt8], tasks: Int, requests: Int) async throws
        -> (rate: Double, p50: Double, p99: Double)
    {
        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var mine: [Double] = []
                    for _ in stride(from: t, to: requests, by: tasks) {
                        let begin = ContinuousClock.now
                        _ = try await service.analyze(
                            body: body, contentType: "application/json", deadline: .now + .seconds(60))
                        let took = ContinuousClock.now - begin
                        mine.append(Double(took.components.attoseconds) / 1e15 + Double(took.components.seconds) * 1000)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }.sorted()
        }
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        return (Double(requests) / seconds, latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }

    static func waitForServer(port: Int) async throws {
        for _ in 0..<100 {
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health/ready")
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)),
                response.status.code == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchmarkFailure("vigil serve did not become ready on port \(port)")
    }

    /// Runs hey; requests/s and p50/p99 latency in ms (every response must be 200).
    static func hey(_ hey: String, url: String, body: String, clients: Int, requests: Int) throws
        -> (Double, Double, Double)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: hey)
        process.arguments = [
            "-n", String(requests), "-c", String(clients), "-m", "POST", "-T", "application/json", "-D", body,
            "-t", "60", url,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        func number(_ pattern: String) -> Double? {
            guard let regex = try? NSRegularExpression(pattern: pattern),
                let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                let range = Range(match.range(at: 1), in: text)
            else { return nil }
            return Double(text[range])
        }
        guard let rate = number(#"Requests/sec:\s+([0-9.]+)"#), let p50 = number(#"50% in ([0-9.]+) secs"#),
            let p99 = number(#"99% in ([0-9.]+) secs"#)
        else { throw BenchmarkFailure("could not read hey's output:\n\(text)") }
        guard let ok = number(#"\[200\]\s+([0-9]+) responses"#), Int(ok) == requests else {
            throw BenchmarkFailure("not every response was 200:\n\(text)")
        }
        return (rate, p50 * 1000, p99 * 1000)
    }

    static func peakRSSMiB(pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib / 1024
    }
}
