import ArgumentParser
import Foundation
import VigilAnalysis
import VigilDetection

/// `vigil train`: learn a model of normal behaviour from history.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a model of normal behaviour from historical logs.",
        discussion: """
            Reads log files or directories (JSON, NDJSON or syslog, mixed freely), learns per-user hours and \
            sources, event-template frequencies, rate baselines and an isolation forest, calibrates thresholds to \
            the target false-positive rate, and writes a versioned model directory (manifest.json + model.bin). \
            Feed history in chronological order, as log files are.
            """
    )

    @Option(name: .long, parsing: .upToNextOption, help: "Log files or directories.") var input: [String]
    @Option(name: .long, help: "Model directory to write.") var output = "anomaly_outputs"
    @Option(name: .long, help: "Target false-positive rate on the (normal) history.") var targetFpr = 0.001
    @Option(name: .long, help: "Seed for the isolation forest.") var seed: UInt64 = 0x5EED
    @Option(name: .long, help: "Reference time for syslog years (RFC 3339); default: each file's modification time.")
    var referenceTime: String?
    @Flag(name: .long, help: "No progress on stderr.") var quiet = false

    func run() throws {
        guard targetFpr > 0 && targetFpr < 0.5 else { throw ValidationError("--target-fpr must be between 0 and 0.5") }
        let reference = try VigilCLI.referenceTime(referenceTime)
        let inputs: [LogInput]
        do { inputs = try LogInput.files(input, referenceTime: reference) } catch { throw CommandFailure("\(error)") }
        guard !inputs.isEmpty else { throw ValidationError("--input: no files found") }
        var options = TrainingOptions()
        options.targetFalsePositiveRate = targetFpr
        options.seed = seed
        var trainer = Trainer(options: options)
        let progress = Progress(enabled: !quiet, label: "training")
        var errors: [String] = []
        var parsed = ParsedInput()
        for input in inputs {
            do {
                var reader = try InputReader(input)
                while try reader.next(into: &parsed) {
                    for event in parsed.events { trainer.add(event) }
                    for error in parsed.errors {
                        trainer.addError()
                        if errors.count < 10 { errors.append("\(input.name): \(error)") }
                    }
                    progress.update(events: trainer.eventsSeen, errors: errors.count)
                }
            } catch {
                for event in parsed.events { trainer.add(event) }
                throw CommandFailure("\(error)")
            }
        }
        progress.finish(events: trainer.eventsSeen)
        guard trainer.eventsSeen > 0 else { throw ValidationError("no events could be read from the input") }
        let model = trainer.finish()
        do { try ModelDirectory.save(model, to: output, vigilVersion: VigilVersion.string) } catch {
            throw CommandFailure("cannot write the model to \(output): \(error.localizedDescription)")
        }
        let t = model.thresholds
        print("model written to \(output)/ from \(model.info.events) events (\(model.info.errors) unreadable records)")
        print("  window: \(UTC.format(model.info.firstEvent)) … \(UTC.format(model.info.lastEvent))")
        print("  \(model.users.count) users, \(model.templates.count) templates, \(model.forest.treeCount) trees")
        print(
            "  thresholds: brute force \(t.bruteForceFailures), spraying \(t.sprayingUsers), stuffing \(t.stuffingSources), enumeration \(t.enumerationUsers), privileged \(t.privilegedFailures), success-after-failures \(t.successAfterFailures), unusual-hour share \(t.unusualHourMaxShare), volume k \(t.volumeK), outlier \(t.outlierThreshold)"
        )
        for error in errors { FileHandle.standardError.write(Data("warning: \(error)\n".utf8)) }
    }
}

/// Progress on stderr for long inputs, at most every two seconds.
final class Progress {
    private let enabled: Bool
    private let label: String
    private let start = Date()
    private lazy var last = start

    init(enabled: Bool, label: String) {
        self.enabled = enabled
        self.label = label
    }

    func update(events: Int, errors: Int) {
        guard enabled, Date().timeIntervalSince(last) >= 2 else { return }
        last = Date()
        let rate = Double(events) / max(0.001, Date().timeIntervalSince(start))
        FileHandle.standardError.write(
            Data("\(label): \(events) events, \(errors) unreadable, \(Int(rate)) events/s\n".utf8))
    }

    func finish(events: Int) {
        guard enabled else { return }
        let seconds = Date().timeIntervalSince(start)
        FileHandle.standardError.write(
            Data("\(label): \(events) events in \(String(format: "%.1f", seconds)) s\n".utf8))
    }
}
