import ArgumentParser
import VigilDetection
import VigilSimulation

/// `vigil evaluate`: precision and recall per detector on generated data.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Generate data, train on its history, analyse its test period and score every detector.",
        discussion:
            "Prints precision (reported anomalies that belong to an injected attack) and recall (attacks caught by their detector)."
    )

    @OptionGroup var generator: GeneratorFlags
    @Flag(name: .long, help: "Analyse without training a model first.") var noModel = false

    func run() throws {
        let options = try generator.options()
        let data = Generator.generate(options)
        let (history, _) = GeneratedRecords.parse(data.history, reference: options.start)
        let (test, errors) = GeneratedRecords.parse(data.test, reference: options.start)
        var model: DetectionModel? = nil
        if !noModel {
            var trainer = Trainer()
            for e in history { trainer.add(e) }
            model = trainer.finish()
        }
        var engine = DetectionEngine(model: model)
        // Warm the engine's windows and online state on the history, then score the test period.
        for e in history { _ = engine.process(e) }
        var anomalies: [Anomaly] = []
        for e in test { anomalies.append(contentsOf: engine.process(e)) }
        print(
            "seed \(options.seed), \(options.format.rawValue): \(history.count) history events, \(test.count) test events (\(errors) unreadable), \(data.attacks.count) attacks, \(model == nil ? "no model" : "trained model")"
        )
        print("")
        print(Evaluation.table(Evaluation.score(anomalies, attacks: data.attacks)))
    }
}

enum GeneratedRecords {
    /// Parses generated records.
    static func parse(_ records: [String], reference: Int64) -> ([LogEvent], Int) {
        var text = records.joined(separator: "\n")
        let result = text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: reference)) }
        return (result.events, result.errors.count)
    }
}
