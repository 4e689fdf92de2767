import Foundation
import Testing
import VigilTesting

@testable import VigilAPI

/// Runs a program; its exit status and combined output. Waits without blocking a thread of the
/// cooperative pool: the server under test runs in this process and needs those threads (a
/// blocking wait here would starve it on a small machine).
func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(600)) async throws -> (Int32, String)
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

/// The API held to its OpenAPI document by clients Vigil did not write: openapi-spec-validator,
/// schemathesis and a real browser (headless Chromium).
@Suite("REST API contract", .serialized)
struct ContractTests {
    static let tools = RepositoryFiles.path(".tools/venv/bin")

    @Test("the document validates as OpenAPI 3.1; schemathesis finds no server error and no schema mismatch")
    func schemathesis() async throws {
        let api = try await RunningAPI.start { $0.maxBodyBytes = 1 << 20 }
        let document = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-openapi-\(UUID()).json")
        try Data(OpenAPIDocument.json.utf8).write(to: document)
        defer { try? FileManager.default.removeItem(at: document) }
        let (valid, validOutput) = try await run("\(Self.tools)/openapi-spec-validator", [document.path])
        #expect(valid == 0, "\(validOutput)")
        let (status, output) = try await run(
            "\(Self.tools)/schemathesis",
            [
                "run", "http://127.0.0.1:\(api.port)/openapi.json", "--checks", "all", "--max-examples", "40",
                "--seed", "20261201", "--no-color",
            ])
        #expect(status == 0, "\(output.suffix(6000))")
        #expect(output.contains("No issues found") || output.contains("passed"), "\(output.suffix(3000))")
        await api.stop()
    }

    @Test("/docs in headless Chromium: every path of the document is in the rendered page; the screenshot is not blank")
    func browser() async throws {
        let chromium = try #require(
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "chromium is not installed (scripts/systools installs it)")
        let api = try await RunningAPI.start()
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--user-data-dir=\(dir)/profile", "--window-size=1200,2400",
        ]
        let url = "http://127.0.0.1:\(api.port)/docs"
        let (status, dom) = try await run(chromium, flags + ["--dump-dom", url], timeout: .seconds(120))
        #expect(status == 0, "\(dom.suffix(2000))")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        for path in paths.keys { #expect(dom.contains(">\(path)<"), "\(path) is not in the rendered page") }
        _ = try await run(chromium, flags + ["--screenshot=\(dir)/docs.png", url], timeout: .seconds(120))
        _ = try await run(chromium, flags + ["--screenshot=\(dir)/blank.png", "about:blank"], timeout: .seconds(120))
        let docs = (try? FileManager.default.attributesOfItem(atPath: "\(dir)/docs.png")[.size] as? Int) ?? 0
        let blank = (try? FileManager.default.attributesOfItem(atPath: "\(dir)/blank.png")[.size] as? Int) ?? 0
        #expect(blank > 0, "no screenshot of a blank page")
        // A page of text compresses far worse than an empty one of the same size.
        #expect(docs > 4 * blank, "docs screenshot \(docs) bytes, blank \(blank) bytes")
        await api.stop()
    }
}
