import Foundation
import Testing
import VigilAnalysis
import VigilDetection
import VigilTesting

/// Real files in a temporary directory, and gzip written by the system's own `gzip` — an
/// implementation we did not write.
enum Files {
    static func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-analysis-\(UUID().uuidString)")
            .path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `gzip -c` of `text`, written to `path`.
    static func gzip(_ text: String, to path: String) throws {
        let plain = path + ".plain"
        try write(text, to: plain)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -c '\(plain)' > '\(path)' && rm '\(plain)'"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// An sshd brute force: `count` failed passwords for one account from one address, a second apart.
    static func bruteForce(count: Int, from address: String = "203.0.113.9", second start: Int = 0) -> String {
        (start..<(start + count)).map { second in
            "Nov 25 09:00:\(String(format: "%02d", second % 60)) web1 sshd[\(4000 + second)]: Failed password for deploy from \(address) port \(40000 + second) ssh2"
        }.joined(separator: "\n") + "\n"
    }
}

@Suite("Analysis library: inputs")
struct AnalysisInputTests {
    let reference = UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 12, minute: 0, second: 0)

    @Test("bytes, a file, gzip and a list of records give the same anomalies")
    func sameAnomaliesWhateverTheInput() throws {
        let dir = Files.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = Files.bruteForce(count: 12)
        try Files.write(text, to: "\(dir)/auth.log")
        try Files.gzip(text, to: "\(dir)/auth.log.gz")
        let analyzer = Analyzer()
        let fromBytes = analyzer.analyze([.bytes(Array(text.utf8), name: "body", referenceTime: reference)])
        let fromFile = analyzer.analyze([.file("\(dir)/auth.log", referenceTime: reference)])
        let fromGzip = analyzer.analyze([.file("\(dir)/auth.log.gz", referenceTime: reference)])
        let records = text.split(separator: "\n").map { Array($0.utf8) }
        let fromRecords = analyzer.analyze([.records(records, name: "records", referenceTime: reference)])
        // The slower tier at the fifth failure, the two-minute rule at the eighth.
        #expect(fromBytes.anomalies.map(\.detector) == [.bruteForce, .bruteForce])
        #expect(fromBytes.anomalies.map(\.severity) == [.medium, .high])
        for other in [fromFile, fromGzip, fromRecords] {
            // The same findings; ids differ, as they name the input and the line.
            #expect(other.anomalies.map(\.finding) == fromBytes.anomalies.map(\.finding))
            #expect(Set(other.anomalies.map(\.id)).isDisjoint(with: fromBytes.anomalies.map(\.id)))
            #expect(other.summary.events == 12)
        }
        // Read again (from another directory, by another path): the same ids.
        let again = analyzer.analyze([.file("\(dir)/./auth.log", referenceTime: reference)])
        #expect(again.anomalies.map(\.id) == fromFile.anomalies.map(\.id))
        #expect(fromGzip.summary.inputs.first?.compressed == true)
        #expect(fromFile.summary.inputs.first?.compressed == false)
    }

    @Test("a folder is read recursively in path order, hidden files skipped; state carries across files")
    func folder() throws {
        let dir = Files.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/b", withIntermediateDirectories: true)
        // An attack split over two files is still one attack: one engine reads both.
        try Files.write(Files.bruteForce(count: 5), to: "\(dir)/a.log")
        try Files.write(Files.bruteForce(count: 5, second: 5), to: "\(dir)/b/c.log")
        try Files.write(Files.bruteForce(count: 50, from: "198.51.100.1"), to: "\(dir)/.hidden.log")
        let inputs = try LogInput.files([dir], referenceTime: reference)
        #expect(inputs.map(\.name) == ["\(dir)/a.log", "\(dir)/b/c.log"])
        let (anomalies, summary) = Analyzer().analyze(inputs)
        #expect(anomalies.map(\.severity) == [.medium, .high])
        #expect(summary.inputs.map(\.events) == [5, 5])
        #expect(summary.inputs.map(\.anomalies) == [1, 1])  // the high one only with the second file
    }

    @Test("missing files, directories and unreadable files are errors in words; the other inputs are analysed")
    func fileErrors() throws {
        let dir = Files.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: InputError(input: "\(dir)/nope.log", reason: "No such file or directory")) {
            try LogInput.files(["\(dir)/nope.log"])
        }
        try Files.write(Files.bruteForce(count: 8), to: "\(dir)/good.log")
        try Files.write("x\n", to: "\(dir)/secret.log")
        chmod("\(dir)/secret.log", 0)
        let readable = access("\(dir)/secret.log", R_OK) == 0  // root reads anything
        let (anomalies, summary) = Analyzer().analyze([
            .file("\(dir)/missing.log"), .file(dir), .file("\(dir)/secret.log"),
            .file("\(dir)/good.log", referenceTime: reference),
        ])
        #expect(anomalies.filter { $0.severity == .high }.count == 1)
        #expect(summary.inputs[0].failure == "No such file or directory")
        #expect(summary.inputs[1].failure?.hasPrefix("is a directory") == true)
        if !readable { #expect(summary.inputs[2].failure == "Permission denied") }
        #expect(summary.inputs[3].failure == nil && summary.inputs[3].events == 8)
        #expect(summary.text.contains("NOT READ TO THE END: No such file or directory"))
    }

    @Test("truncated and corrupt gzip are reported after the lines that did decompress; trailing garbage too")
    func badGzip() throws {
        let dir = Files.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Enough lines that the cut leaves whole lines before it.
        let text =
            (0..<3_000).map { i in
                "Nov 25 09:\(String(format: "%02d", i / 60 % 60)):\(String(format: "%02d", i % 60)) web1 sshd[\(i)]: Connection closed by 192.0.2.\(i % 250) port \(i) [preauth]"
            }.joined(separator: "\n") + "\n"
        try Files.gzip(text, to: "\(dir)/whole.gz")
        let whole = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/whole.gz")))
        try Data(whole.prefix(whole.count * 2 / 3)).write(to: URL(fileURLWithPath: "\(dir)/cut.gz"))
        var corrupt = whole
        for i in stride(from: 200, to: corrupt.count - 20, by: 97) { corrupt[i] ^= 0x5A }
        try Data(corrupt).write(to: URL(fileURLWithPath: "\(dir)/corrupt.gz"))
        try Data(whole + Array("not gzip".utf8)).write(to: URL(fileURLWithPath: "\(dir)/trailing.gz"))
        let summary = Analyzer().analyze(
            ["whole.gz", "cut.gz", "corrupt.gz", "trailing.gz"].map {
                .file("\(dir)/\($0)", referenceTime: reference)
            }
        ).summary
        #expect(summary.inputs[0].failure == nil)
        #expect(summary.inputs[0].events == 3_000)
        #expect(summary.inputs[1].failure?.contains("truncated") == true, "\(summary.inputs[1])")
        #expect(summary.inputs[1].events > 1_000 && summary.inputs[1].events < 3_000)
        #expect(summary.inputs[2].failure?.contains("corrupt") == true, "\(summary.inputs[2])")
        #expect(summary.inputs[3].failure?.contains("after the gzip stream") == true, "\(summary.inputs[3])")
        #expect(summary.inputs[3].events == 3_000)
    }

    @Test("concatenated gzip members read as one stream")
    func multiMemberGzip() throws {
        let dir = Files.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Files.gzip(Files.bruteForce(count: 4), to: "\(dir)/one.gz")
        try Files.gzip(Files.bruteForce(count: 4, second: 4), to: "\(dir)/two.gz")
        let both =
            try Data(contentsOf: URL(fileURLWithPath: "\(dir)/one.gz"))
            + Data(contentsOf: URL(fileURLWithPath: "\(dir)/two.gz"))
        try both.write(to: URL(fileURLWithPath: "\(dir)/both.gz"))
        let (anomalies, summary) = Analyzer().analyze([.file("\(dir)/both.gz", referenceTime: reference)])
        #expect(summary.inputs[0].failure == nil)
        #expect(summary.events == 8)
        #expect(anomalies.map(\.severity) == [.medium, .high])
    }

    @Test("a JSON array, NDJSON and pretty-printed objects in small chunks give what they give whole")
    func chunkedContainers() throws {
        let objects = (0..<40).map { i in
            #"{"timestamp":"2026-11-25T12:00:\#(String(format: "%02d", i % 60))Z","user":"u\#(i % 3)","source_ip":"198.51.100.\#(i % 5)","event_type":"login","outcome":"failure","message":"a, b [c] {d} \"e\""}"#
        }
        let shapes = [
            "[\n" + objects.joined(separator: ",\n") + "\n]\n",
            objects.joined(separator: "\n") + "\n",
            objects.map { $0.replacingOccurrences(of: ",\"", with: ",\n  \"") }.joined(separator: "\n"),
        ]
        for shape in shapes {
            var tiny = ReadLimits()
            tiny.chunkBytes = 7
            let whole = Analyzer().analyze([.bytes(Array(shape.utf8), name: "input")])
            let chunked = Analyzer(limits: tiny).analyze([.bytes(Array(shape.utf8), name: "input")])
            #expect(whole.summary.events == 40, "\(shape.prefix(80))")
            #expect(whole.summary.errorCount == 0)
            #expect(chunked.summary.events == 40)
            #expect(chunked.anomalies.map(\.id) == whole.anomalies.map(\.id))
        }
    }

    @Test("a broken first line costs one record, not the file; records over the limit are skipped, not kept")
    func brokenAndOversized() {
        let text =
            #"{"timestamp":"2026-11-25T12:00:00Z","user":"#
            + "\n" + Files.bruteForce(count: 8)
        let result = Analyzer().analyze([.bytes(Array(text.utf8), name: "t", referenceTime: reference)])
        #expect(result.summary.errorCount == 1)
        #expect(result.summary.inputs[0].errors.first?.line == 1)
        #expect(result.summary.events == 8)
        #expect(result.anomalies.map(\.severity) == [.medium, .high])
        var limits = ReadLimits()
        limits.maxRecordBytes = 4096
        limits.chunkBytes = 1000
        let long = String(repeating: "x", count: 50_000)
        let mixed =
            Files.bruteForce(count: 4) + "Nov 25 09:00:30 web1 sshd[1]: \(long)\n"
            + Files.bruteForce(count: 4, second: 4)
        let bounded = Analyzer(limits: limits).analyze([.bytes(Array(mixed.utf8), name: "m", referenceTime: reference)])
        #expect(bounded.summary.events == 8)
        #expect(bounded.summary.errorCount == 1)
        #expect(bounded.summary.inputs[0].errors.first?.reason.contains("longer than the 4096-byte limit") == true)
        #expect(bounded.summary.inputs[0].errors.first?.line == 5)
        #expect(bounded.anomalies.map(\.severity) == [.medium, .high])
    }

    @Test("only the first errors are kept; all are counted")
    func errorsBounded() {
        let junk = (0..<500).map { _ in "{broken" }.joined(separator: "\n")
        let result = Analyzer(maxErrors: 10).analyze([.bytes(Array(junk.utf8), name: "junk")])
        #expect(result.summary.errorCount == 500)
        #expect(result.summary.errors.count == 10)
        #expect(result.summary.text.contains("… and 490 more unreadable records"))
    }
}

@Suite("Analysis library: runs and sessions")
struct AnalysisRunTests {
    @Test("the async run yields each anomaly, each input's summary, then the whole summary — as analyze() does")
    func asyncRun() async {
        let inputs = [
            LogInput.records(GeneratedFixture.data.history.map { Array($0.utf8) }, name: "history"),
            LogInput.records(GeneratedFixture.data.test.map { Array($0.utf8) }, name: "test"),
        ]
        let analyzer = Analyzer(model: GeneratedFixture.model, modelName: "fixture")
        var streamed: [Anomaly] = []
        var finishedInputs: [String] = []
        var summary: AnalysisSummary? = nil
        for await item in analyzer.run(inputs) {
            switch item {
            case .anomaly(let anomaly):
                #expect(summary == nil && finishedInputs.count < 2)
                streamed.append(anomaly)
            case .inputFinished(let input): finishedInputs.append(input.name)
            case .finished(let whole): summary = whole
            }
        }
        let direct = analyzer.analyze(inputs)
        #expect(!streamed.isEmpty)
        #expect(streamed.map(AnomalyJSON.encode) == direct.anomalies.map(AnomalyJSON.encode))
        #expect(finishedInputs == ["history", "test"])
        #expect(summary?.anomalies == streamed.count)
        #expect(summary?.model == "fixture")
        #expect(summary?.events == direct.summary.events)
        #expect(summary?.anomaliesBySeverity.values.reduce(0, +) == streamed.count)
    }

    @Test("a log fed to one session in chunks gives exactly the anomalies of one big input")
    func chunkedSession() {
        let records = (GeneratedFixture.data.history + GeneratedFixture.data.test).map { Array($0.utf8) }
        let whole = Analyzer().analyze([.records(records, name: "all")]).anomalies
        var session = Analyzer().session()
        var chunked: [Anomaly] = []
        for start in stride(from: 0, to: records.count, by: 1_000) {
            session.analyze(.records(Array(records[start..<min(records.count, start + 1_000)]), name: "chunk")) {
                chunked.append($0)
            }
        }
        #expect(!whole.isEmpty)
        // The same findings (ids name each chunk and line, and stay unique).
        #expect(chunked.map(\.finding) == whole.map(\.finding))
        #expect(Set(chunked.map(\.id)).count == chunked.count)
        #expect(session.summary.inputs.count == (records.count + 999) / 1_000)
    }

    @Test("the one-line text form is the same from an anomaly and from its published JSON")
    func textLine() throws {
        let anomalies = Analyzer(model: GeneratedFixture.model).analyze([
            .records(GeneratedFixture.data.test.map { Array($0.utf8) }, name: "test")
        ]).anomalies
        let first = try #require(anomalies.first)
        let line = AnomalyText.line(first)
        #expect(line == AnomalyText.line(json: AnomalyJSON.encode(first)))
        #expect(line.hasPrefix(UTC.format(first.eventTime) + "  " + first.severity.rawValue.uppercased()))
        #expect(line.hasSuffix(first.summary))
        #expect(AnomalyText.line(json: Array("{\"not\":\"an anomaly\"}".utf8)) == nil)
    }
}

extension Anomaly {
    /// What was found, without the id (which names the input position).
    var finding: String {
        "\(detector.rawValue)|\(severity.rawValue)|\(entity.kind)=\(entity.value)|\(eventTime)|\(summary)"
    }
}
