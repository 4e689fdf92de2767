import ArgumentParser
import Foundation
import VigilAnalysis
import VigilDetection

/// `vigil analyze`: run the analysis library over files and print anomalies.
struct AnalyzeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Detect anomalies in log files and print them with a summary.",
        discussion: """
            Reads files and directories (recursively) in order with one engine: JSON, JSON arrays, NDJSON or log lines, \
            gzip-compressed or not. Without --model the engine uses its rules and learns baselines as it reads. Exit \
            status 1 when an input could not be read (the others are still analysed).
            """
    )

    @Argument(help: "Log files or directories (JSON, JSON array, NDJSON or syslog lines; .gz too).") var files: [String]
    @Option(name: .long, help: "Model directory from `vigil train` (env MODEL_DIR).") var model: String?
    @Option(name: .long, help: "json (one document), ndjson (one anomaly per line) or text.") var format = OutputFormat
        .text
    @Option(name: .long, help: "Reference time for syslog years (RFC 3339); default: each file's modification time.")
    var referenceTime: String?

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case json, ndjson, text
    }

    func run() async throws {
        let reference = try VigilCLI.referenceTime(referenceTime)
        let modelPath = model ?? ProcessInfo.processInfo.environment["MODEL_DIR"]
        let loaded: DetectionModel?
        do { loaded = try ModelConfiguration(directory: modelPath).load() } catch { throw CommandFailure("\(error)") }
        let inputs: [LogInput]
        do { inputs = try LogInput.files(files, referenceTime: reference) } catch { throw CommandFailure("\(error)") }
        guard !inputs.isEmpty else { throw CommandFailure("\(files.joined(separator: ", ")): no files to analyse") }

        // Anomalies are written as they are found, never collected: memory stays bounded by
        // the engine's state however many there are.
        var summary = AnalysisSummary(model: modelPath)
        var found = 0
        if format == .json { print("{\"anomalies\":[", terminator: "") }
        for await item in Analyzer(model: loaded, modelName: modelPath).run(inputs) {
            switch item {
            case .anomaly(let anomaly):
                switch format {
                case .ndjson: print(String(decoding: AnomalyJSON.encode(anomaly), as: UTF8.self))
                case .json:
                    print(found == 0 ? "" : ",", String(decoding: AnomalyJSON.encode(anomaly), as: UTF8.self),
                        separator: "", terminator: "")
                case .text: print(AnomalyText.line(anomaly))
                }
                found += 1
            case .inputFinished:
                break
            case .finished(let finished):
                summary = finished
            }
        }
        switch format {
        case .json:
            var writer = JSONWriter()
            summary.write(to: &writer)
            print("],\"summary\":\(writer.string)}")
        case .ndjson:
            FileHandle.standardError.write(Data(summary.text.utf8))
        case .text:
            if found > 0 { print("") }
            print(summary.text, terminator: "")
        }
        if !summary.failures.isEmpty {
            for failure in summary.failures {
                FileHandle.standardError.write(Data("vigil analyze: \(failure.input): \(failure.reason)\n".utf8))
            }
            throw ExitCode(1)
        }
    }
}
