import Foundation
import Testing
import VigilTesting

/// `scripts/evaluate-real` — the independent count of Wazuh-style thresholds and the comparison
/// with Vigil — on lines written here in sshd's and PAM's shapes (never on the real sample).
@Suite("Evaluation on real-shaped logs")
struct EvaluateRealTests {
    func line(_ second: Int, _ pid: Int, _ message: String) -> String {
        "Nov 25 09:\(String(format: "%02d", second / 60)):\(String(format: "%02d", second % 60)) web1 sshd[\(pid)]: \(message)"
    }

    @Test("every source the independent count flags is reported; the benign one is not; misses fail the run")
    func recall() throws {
        var lines: [String] = []
        // 198.51.100.1: 8 failed passwords in 16 s (sshd lines alone reach 8).
        for i in 0..<8 {
            lines.append(line(i * 2, 100 + i, "Failed password for root from 198.51.100.1 port \(5000 + i) ssh2"))
        }
        // 198.51.100.2: 5 attempts, each as PAM and sshd report it — 10 lines, 5 failures.
        for i in 0..<5 {
            lines.append(
                line(
                    100 + i * 5, 200 + i,
                    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.2  user=oracle"
                ))
            lines.append(
                line(101 + i * 5, 200 + i, "Failed password for oracle from 198.51.100.2 port \(6000 + i) ssh2"))
        }
        // 10.0.0.5: routine logins and disconnects.
        for i in 0..<30 {
            lines.append(line(200 + i, 300 + i, "Accepted publickey for deploy from 10.0.0.5 port \(7000 + i) ssh2"))
            lines.append(line(200 + i, 300 + i, "Connection closed by 10.0.0.5 port \(7000 + i) [preauth]"))
        }
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = "\(dir)/auth.log"
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let evaluated = try script(["scripts/evaluate-real", log, "--year", "2026", "--vigil", try VigilCommand.path()])
        #expect(evaluated.status == 0, "\(evaluated.output)\(evaluated.errors)")
        #expect(
            evaluated.output.contains("Every failure line, 8 per source in 120 s: 2 sources; Vigil reports 2/2 (100%)"),
            "\(evaluated.output)")
        #expect(!evaluated.output.contains("10.0.0.5"))

        // A Vigil that reports nothing misses both: the run says so and fails.
        let silent = "\(dir)/silent"
        try "#!/bin/sh\nexit 0\n".write(toFile: silent, atomically: true, encoding: .utf8)
        chmod(silent, 0o755)
        let missed = try script(["scripts/evaluate-real", log, "--year", "2026", "--vigil", silent])
        #expect(missed.status == 1)
        #expect(missed.output.contains("missed: 198.51.100.1") && missed.output.contains("missed: 198.51.100.2"))
    }

    private func script(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + [RepositoryFiles.path(arguments[0])] + arguments.dropFirst()
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text, errorText)
    }
}
