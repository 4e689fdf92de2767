import Foundation
import Testing
import VigilTesting

/// `vigil batch` as a user runs it: exit statuses, the files it leaves, a permission error
/// from the system (not simulated), the scheduled mode stopped by a signal.
@Suite("vigil batch command", .serialized)
struct BatchCommandTests {
    static func failures(_ count: Int, from source: String) -> String {
        (0..<count).map {
            String(
                format: "Dec  1 10:00:%02d web1 sshd[%d]: Failed password for admin from %@ port %d ssh2", $0 * 2,
                900 + $0, source, 50_000 + $0)
        }.joined(separator: "\n") + "\n"
    }

    @Test(
        "exit 0 clean, 3 with --fail-on-anomalies, 1 when a file cannot be read, 2 without a log folder, 64 for a bad setting"
    )
    func exitStatuses() throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/logs", withIntermediateDirectories: true)
        try Data(Self.failures(10, from: "203.0.113.70").utf8).write(to: URL(fileURLWithPath: "\(dir)/logs/auth.log"))
        let base = [
            "batch", "--log-dir", "\(dir)/logs", "--output-dir", "\(dir)/out", "--once", "--settle-seconds", "0",
        ]

        let drawn = try VigilCommand.run(base + ["--progress", "always", "--output-dir", "\(dir)/out-progress"])
        #expect(drawn.status == 0)
        #expect(drawn.errors.contains("\r[") && drawn.errors.contains("files") && drawn.errors.contains("events/s"), "\(drawn.errors)")
        let clean = try VigilCommand.run(base)
        #expect(clean.status == 0, "\(clean.errors)")
        #expect(clean.errors.contains("anomalies"), "\(clean.errors)")
        #expect(!clean.errors.contains("\r["), "no progress bar when standard error is not a terminal")
        let state = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/out/state.json")))
                as? [String: Any])
        #expect((state["files"] as? [[String: Any]])?.first?["path"] as? String == "auth.log")

        try Data(Self.failures(10, from: "203.0.113.71").utf8).write(to: URL(fileURLWithPath: "\(dir)/logs/new.log"))
        let found = try VigilCommand.run(base + ["--fail-on-anomalies"])
        #expect(found.status == 3, "\(found.errors)")
        let nothingNew = try VigilCommand.run(base + ["--fail-on-anomalies"])
        #expect(nothingNew.status == 0, "nothing new, nothing found: \(nothingNew.errors)")

        // Permission denied from the kernel: as root, the run is made as nobody, who cannot
        // read a file only root may (chmod alone does not stop root).
        try Data(Self.failures(3, from: "203.0.113.72").utf8).write(to: URL(fileURLWithPath: "\(dir)/logs/secret.log"))
        chmod("\(dir)/logs/secret.log", 0o600)
        var arguments = base
        if getuid() == 0 {
            for path in [dir, "\(dir)/logs", "\(dir)/out", "\(dir)/out/state", "\(dir)/out/reports", "\(dir)/out/runs"]
            {
                chown(path, 65_534, 65_534)
            }
            for name in (try? FileManager.default.subpathsOfDirectory(atPath: "\(dir)/out")) ?? [] {
                chown("\(dir)/out/\(name)", 65_534, 65_534)
            }
            chown("\(dir)/logs/auth.log", 65_534, 65_534)
            chown("\(dir)/logs/new.log", 65_534, 65_534)
            arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", try VigilCommand.path()] + base
        } else {
            chmod("\(dir)/logs/secret.log", 0)
        }
        let denied =
            getuid() == 0
            ? try Self.runProgram("/usr/bin/setpriv", arguments) : try VigilCommand.run(arguments)
        #expect(denied.status == 1, "\(denied.output)\(denied.errors)")
        #expect(denied.errors.contains("secret.log") && denied.errors.contains("Permission denied"), "\(denied.errors)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/out/runs").sorted()
        let last = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out/runs/\(runs.last ?? "")/summary.json"))
        let summary = try #require(try JSONSerialization.jsonObject(with: last) as? [String: Any])
        let errors = try #require(summary["errors"] as? [[String: Any]])
        #expect(
            errors.contains {
                $0["path"] as? String == "secret.log"
                    && ($0["reason"] as? String)?.contains("Permission denied") == true
            })

        let missing = try VigilCommand.run([
            "batch", "--log-dir", "\(dir)/nope", "--output-dir", "\(dir)/out2", "--once",
        ])
        #expect(missing.status == 2, "\(missing.errors)")
        #expect(missing.errors.contains("\(dir)/nope"), "\(missing.errors)")
        let bad = try VigilCommand.run(base + ["--interval", "soon"])
        #expect(bad.status == 64, "\(bad.errors)")
        #expect(bad.errors.contains("interval"), "\(bad.errors)")
    }

    @Test("--interval keeps scanning: a file added between scans is analysed; SIGTERM ends it with exit 0")
    func scheduled() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/logs", withIntermediateDirectories: true)
        try Data(Self.failures(2, from: "192.0.2.80").utf8).write(to: URL(fileURLWithPath: "\(dir)/logs/a.log"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try VigilCommand.path())
        process.arguments = [
            "batch", "--log-dir", "\(dir)/logs", "--output-dir", "\(dir)/out", "--settle-seconds", "0",
        ]
        process.environment = ["BATCH_INTERVAL": "1", "PATH": "/usr/bin:/bin"]
        let log = "\(dir)/batch.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        defer { if process.isRunning { process.interrupt() } }
        func runs() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/out/runs")) ?? []).count }
        for _ in 0..<100 where runs() < 1 { try await Task.sleep(for: .milliseconds(100)) }
        try Data(Self.failures(10, from: "192.0.2.81").utf8).write(to: URL(fileURLWithPath: "\(dir)/logs/b.log"))
        var text = ""
        for _ in 0..<100 {
            text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("b.log: new") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(text.contains("b.log: new"), "\(text)")
        #expect(text.contains("every 1 s"), "BATCH_INTERVAL is read: \(text)")
        process.terminate()
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0, "\(text)")
    }

    static func runProgram(
        _ executable: String, _ arguments: [String]
    ) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        let output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        try process.run()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
