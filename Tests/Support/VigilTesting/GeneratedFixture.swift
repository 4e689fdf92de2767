import VigilDetection
import VigilSimulation

/// A small generated data set and the model trained on its history, shared by the tests of the
/// engine and of the analysis library (computed once per test process).
public enum GeneratedFixture {
    public static let data: GeneratedData = {
        var options = GeneratorOptions()
        options.users = 30
        options.historyDays = 10
        options.attackDays = 3
        options.attacksPerKind = 2
        return Generator.generate(options)
    }()

    /// Parses generated records the way a file of them would be read.
    public static func events(_ records: [String]) -> [LogEvent] {
        var text = records.joined(separator: "\n")
        return text.withUTF8 {
            LogParser.parse($0, options: ParseOptions(referenceTime: GeneratorOptions().start)).events
        }
    }

    public static let history = events(data.history)
    public static let test = events(data.test)

    public static let model: DetectionModel = {
        var trainer = Trainer()
        for event in history { trainer.add(event) }
        return trainer.finish()
    }()
}
