import Foundation
import Testing
import VigilTesting

@testable import VigilDetection

/// Every anomaly the engine produces validates against the published JSON Schema, checked by
/// an independent implementation (Python's jsonschema, installed by `make test`).
@Suite("Anomaly JSON Schema")
struct SchemaTests {
    @Test("anomalies of every detector validate against schemas/anomaly-v1.schema.json")
    func validate() throws {
        var engine = DetectionEngine(model: Fixture.model)
        for e in Fixture.history { _ = engine.process(e) }
        let anomalies = Fixture.test.flatMap { engine.process($0) }
        let detectors = Set(anomalies.map(\.detector))
        #expect(detectors.count >= 10, "only \(detectors.map(\.rawValue).sorted())")
        let lines = anomalies.map { String(decoding: AnomalyJSON.encode($0), as: UTF8.self) }.joined(separator: "\n")
        let python = RepositoryFiles.python
        try #require(
            FileManager.default.isExecutableFile(atPath: python), "\(python) missing: run the tests with `make test`")
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
            bad = 0
            for n, line in enumerate(sys.stdin, 1):
                for error in validator.iter_errors(json.loads(line)):
                    bad += 1
                    print(f"anomaly {n}: {error.json_path}: {error.message}")
            print(f"checked {n} anomalies, {bad} errors")
            sys.exit(1 if bad else 0)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            "-c", script, RepositoryFiles.root.appendingPathComponent("schemas/anomaly-v1.schema.json").path,
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data((lines + "\n").utf8))
        try input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("checked \(anomalies.count) anomalies, 0 errors"), "\(text)")
    }
}
