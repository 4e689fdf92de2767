import Foundation
import VigilKafkaTesting

/// Files of the repository the tests run in, and the Python tools `make test` installs.
public enum RepositoryFiles {
    /// The nearest directory above this file that holds `Package.swift`.
    public static let root: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/"
            && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path)
        {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    public static func path(_ name: String) -> String { root.appendingPathComponent(name).path }
    public static func text(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

    /// The text of a Markdown section: from `heading` to the next heading of any level.
    public static func section(_ heading: String, of markdown: String) -> Substring? {
        guard let start = markdown.range(of: heading + "\n") else { return nil }
        let rest = markdown[start.upperBound...]
        let end = rest.range(of: "\n#")?.lowerBound ?? rest.endIndex
        return rest[..<end]
    }

    /// The test venv's Python (confluent-kafka, jsonschema and the other independent checkers).
    public static let python = path(".tools/venv/bin/python")
}

/// The `vigil` executable `swift build` produced, run as a user would.
public enum VigilCommand {
    /// The binary (debug build first, else release).
    public static func path() throws -> String {
        for configuration in ["debug", "release"] {
            let path = RepositoryFiles.path(".build/\(configuration)/vigil")
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw StreamHarness.HarnessError("no vigil binary under .build; run the tests with `make test`")
    }

    /// Runs `vigil arguments…` to its end: exit status, standard output and standard error.
    public static func run(
        _ arguments: [String], environment: [String: String]? = nil,
        directory: String? = nil
    ) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Both pipes are drained at once, so a chatty child cannot block on a full pipe.
        let collected = Locked<Data>(Data())
        let drained = DispatchGroup()
        DispatchQueue.global().async(group: drained) {
            collected.set(errors.fileHandleForReading.readDataToEndOfFile())
        }
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: stdout, as: UTF8.self),
            String(decoding: collected.value, as: UTF8.self)
        )
    }
}
