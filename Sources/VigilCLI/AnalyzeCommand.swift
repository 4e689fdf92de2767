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
            Reads files and directories (recursively) in order with one engine: JSON, JSON arrays, NDJSON or log lines,
            gzip-compressed or not. Without --model the engine uses its rules and learns baselines as it reads. Exit
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

        var anomalies: [Anomaly] = []
        var summary = AnalysisSummary(model: modelPath)
        for await item in Analyzer(model: loaded, modelName: modelPath).run(inputs) {
            switch item {
            case .anomaly(let anomaly):
                if format == .ndjson {
                    print(String(decoding: AnomalyJSON.encode(anomaly), as: UTF8.self))
                } else {
                    anomalies.append(anomaly)
                }
            case .inputFinished:
                break
            case .finished(let finished):
                summary = finished
            }
        }
        switch format {
        case .json:
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("summary")
            summary.write(to: &writer)
            writer.key("anomalies")
            writer.beginArray()
            for anomaly in anomalies { AnomalyJSON.write(anomaly, to: &writer) }
            writer.endArray()
            writer.endObject()
            print(writer.string)
        case .ndjson:
            FileHandle.standardError.write(Data(summary.text.utf8))
        case .text:
            for anomaly in anomalies { print(AnomalyText.line(anomaly)) }
            if !anomalies.isEmpty { print("") }
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
