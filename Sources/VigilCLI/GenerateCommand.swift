import ArgumentParser
import Foundation
import VigilDetection
import VigilSimulation

/// `vigil generate`: realistic logs with injected attacks, for demos, tests and benchmarks.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate authentication logs: normal history, then a test period with injected attacks.",
        discussion: """
            Writes DIR/history.<ext> (normal activity only, for `vigil train`), DIR/test.<ext> (normal activity \
            plus attacks, for `vigil analyze`) and DIR/attacks.ndjson (the injected attacks: ground truth). \
            The same seed gives the same files.
            """
    )

    @Option(name: .long, help: "Output directory.") var output: String
    @OptionGroup var generator: GeneratorFlags
    @Flag(name: .long, help: "Leave out background chatter and internet scanning noise.") var noNoise = false

    func run() throws {
        var options = try generator.options()
        options.noise = !noNoise
        let data = Generator.generate(options)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let ext = options.format == .json ? "ndjson" : "log"
        let history = (output as NSString).appendingPathComponent("history.\(ext)")
        let test = (output as NSString).appendingPathComponent("test.\(ext)")
        let truth = (output as NSString).appendingPathComponent("attacks.ndjson")
        try write(data.history, to: history)
        try write(data.test, to: test)
        try write(data.attacks.map(AttackJSON.encode), to: truth)
        print("wrote \(data.history.count) records to \(history)")
        print("wrote \(data.test.count) records to \(test) (\(data.attacks.count) attacks injected)")
        print("wrote ground truth to \(truth)")
    }

    private func write(_ lines: [String], to path: String) throws {
        var text = lines.joined(separator: "\n")
        if !lines.isEmpty { text += "\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// The ground-truth file format (one attack per line).
enum AttackJSON {
    static func encode(_ attack: InjectedAttack) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("kind", attack.kind.rawValue)
        w.field("detector", attack.kind.detector.rawValue)
        w.key("entities")
        w.value(.strings(attack.entities.sorted()))
        w.field("start", UTC.format(attack.start))
        w.field("end", UTC.format(attack.end))
        w.field("description", attack.description)
        w.endObject()
        return w.string
    }
}

/// The generator's options, shared by `vigil generate` and `vigil evaluate`.
struct GeneratorFlags: ParsableArguments {
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 7
    @Option(name: .long, help: "Number of users.") var users = 60
    @Option(name: .long, help: "Days of normal history.") var historyDays = 14
    @Option(name: .long, help: "Days of test data with attacks.") var attackDays = 7
    @Option(name: .long, help: "Injections of each attack kind.") var attacksPerKind = 4
    @Option(name: .long, help: "json (NDJSON events) or syslog (sshd/sudo lines).") var format = "json"

    /// The generator options, validated.
    func options() throws -> GeneratorOptions {
        guard let format = GeneratedFormat(rawValue: format) else {
            throw ValidationError("--format: expected json or syslog, got \"\(format)\"")
        }
        // The ranges keep every generated time and index in bounds; the limits are far above
        // what a test or a benchmark needs.
        for (flag, value, range) in [
            ("--users", users, GeneratorOptions.userRange),
            ("--history-days", historyDays, GeneratorOptions.dayRange),
            ("--attack-days", attackDays, GeneratorOptions.dayRange),
            ("--attacks-per-kind", attacksPerKind, GeneratorOptions.attacksPerKindRange),
        ] where !range.contains(value) {
            throw ValidationError("\(flag) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        var options = GeneratorOptions()
        options.seed = seed
        options.users = users
        options.historyDays = historyDays
        options.attackDays = attackDays
        options.attacksPerKind = attacksPerKind
        options.format = format
        return options
    }
}
