import Foundation

/// gzip by the system's `gzip` (a compressor Vigil did not write), for compressed test inputs.
public enum Gzip {
    /// `gzip -c` of `data`.
    public static func compress(_ data: Data) throws -> Data {
        let directory = FileManager.default.temporaryDirectory
        let plain = directory.appendingPathComponent("vigil-gzip-\(UUID().uuidString)")
        try data.write(to: plain)
        defer { try? FileManager.default.removeItem(at: plain) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-c", "-n", plain.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let compressed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(
                .fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "gzip exited \(process.terminationStatus)"])
        }
        return compressed
    }
}
