import Foundation

/// Other programs the tests run (Chromium, schemathesis, the validators).
public enum ChildProcess {
    /// Runs a program; its exit status and combined output. Waits without blocking a thread of
    /// the cooperative pool: a server under test in this process needs those threads (a
    /// blocking wait here would starve it on a small machine). Killed after `timeout`.
    public static func run(
        _ executable: String, _ arguments: [String], timeout: Duration = .seconds(600)
    ) async throws
        -> (Int32, String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Tools keep caches in their working directory (schemathesis' .schemathesis/): not the repository.
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-run-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        let (ended, finish) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in finish.yield(()) }
        try process.run()
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            process.terminate()
        }
        for await _ in ended { break }
        watchdog.cancel()
        try? handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }
}

/// Headless Chromium (Debian's `chromium`, installed by `scripts/systools`): pages rendered by
/// a real browser, their DOM after scripts ran, and screenshots.
public struct Chromium: Sendable {
    public let executable: String
    let profile: String

    /// Nil when no Chromium is installed.
    public init?(profile: String) {
        guard
            let executable = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { return nil }
        self.executable = executable
        self.profile = profile
    }

    var flags: [String] {
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(profile)", "--window-size=1200,2400",
        ]
    }

    /// The page's DOM after its scripts ran (`--dump-dom`), and the exit status.
    public func dom(_ url: String) async throws -> (Int32, String) {
        try await ChildProcess.run(executable, flags + ["--dump-dom", url], timeout: .seconds(120))
    }

    /// The size in bytes of a PNG screenshot of `url` and of `about:blank` at the same size: a
    /// page of text and graphics compresses far worse than an empty one.
    public func screenshotSizes(_ url: String, in directory: String) async throws -> (page: Int, blank: Int) {
        _ = try await ChildProcess.run(
            executable, flags + ["--screenshot=\(directory)/page.png", url], timeout: .seconds(120))
        _ = try await ChildProcess.run(
            executable, flags + ["--screenshot=\(directory)/blank.png", "about:blank"], timeout: .seconds(120))
        let page = (try? FileManager.default.attributesOfItem(atPath: "\(directory)/page.png")[.size] as? Int) ?? 0
        let blank = (try? FileManager.default.attributesOfItem(atPath: "\(directory)/blank.png")[.size] as? Int) ?? 0
        return (page, blank)
    }
}

/// `vigil serve` as a process on a free loopback port.
public enum VigilServe {
    /// Starts `vigil serve --port 0 arguments…`; the process and the port it bound (from its log).
    public static func start(
        _ arguments: [String], log: String, environment: [String: String] = [:]
    ) async throws -> (StreamHarness.StreamProcess, Int) {
        let process = try StreamHarness.StreamProcess(
            command: "serve", arguments: ["--port", "0"] + arguments, logPath: log, environment: environment)
        for _ in 0..<200 {
            if let match = process.log.firstMatch(of: /API on https?:\/\/127\.0\.0\.1:([0-9]+)/),
                let port = Int(match.output.1)
            {
                return (process, port)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.kill9()
        throw StreamHarness.HarnessError("vigil serve did not start: \(process.log)")
    }
}
