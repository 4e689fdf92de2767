import Foundation
import Testing
import VigilTesting

@testable import VigilAPI

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
        let (valid, validOutput) = try await ChildProcess.run("\(Self.tools)/openapi-spec-validator", [document.path])
        #expect(valid == 0, "\(validOutput)")
        let (status, output) = try await ChildProcess.run(
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
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let chromium = try #require(
            Chromium(profile: "\(dir)/profile"), "chromium is not installed (scripts/systools installs it)")
        let api = try await RunningAPI.start()
        let url = "http://127.0.0.1:\(api.port)/docs"
        let (status, dom) = try await chromium.dom(url)
        #expect(status == 0, "\(dom.suffix(2000))")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        for path in paths.keys { #expect(dom.contains(">\(path)<"), "\(path) is not in the rendered page") }
        let (docs, blank) = try await chromium.screenshotSizes(url, in: dir)
        #expect(blank > 0, "no screenshot of a blank page")
        // A page of text compresses far worse than an empty one of the same size.
        #expect(docs > 4 * blank, "docs screenshot \(docs) bytes, blank \(blank) bytes")
        await api.stop()
    }
}
