import Testing

@testable import VigilDetection
@testable import VigilSimulation

@Suite("Generator and evaluation")
struct GeneratorTests {
    func options(_ format: GeneratedFormat = .json, seed: UInt64 = 7) -> GeneratorOptions {
        var options = GeneratorOptions()
        options.seed = seed
        options.users = 12
        options.historyDays = 2
        options.attackDays = 2
        options.attacksPerKind = 1
        options.format = format
        return options
    }

    @Test("the same seed gives the same records; another seed does not", arguments: GeneratedFormat.allCases)
    func deterministic(format: GeneratedFormat) {
        let first = Generator.generate(options(format))
        let again = Generator.generate(options(format))
        let other = Generator.generate(options(format, seed: 8))
        #expect(first.history == again.history && first.test == again.test && first.attacks == again.attacks)
        #expect(first.test != other.test)
    }

    @Test("every attack lies in the test period and every record parses")
    func attacksInTestPeriod() {
        let options = options(.syslog)
        let data = Generator.generate(options)
        let testStart = options.start + Int64(options.historyDays) * 86_400_000
        #expect(!data.attacks.isEmpty)
        for attack in data.attacks {
            #expect(attack.start >= testStart && attack.end >= attack.start, "\(attack)")
            #expect(!attack.entities.isEmpty)
        }
        var text = (data.history + data.test).joined(separator: "\n")
        let parsed = text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: options.start)) }
        #expect(parsed.errors.isEmpty)
        #expect(parsed.events.count == data.history.count + data.test.count)
    }

    @Test("an anomaly naming an attack's entity within its time counts for the attack's detector; others do not")
    func scoring() {
        let attack = InjectedAttack(
            kind: .bruteForce, entities: ["203.0.113.9"], start: 1_000_000, end: 2_000_000,
            description: "test")
        var event = LogEvent(
            timestamp: 1_500_000, kind: .authFailure, outcome: .failure, user: "root", sourceIP: "203.0.113.9")
        event.isAttempt = true
        let hit = Anomaly(
            id: "vgl-1", detector: .bruteForce, severity: .high, score: 1, entity: Entity(.sourceIP, "203.0.113.9"),
            user: "root", sourceIP: "203.0.113.9", host: nil, eventTime: 1_500_000, summary: "s", evidence: [],
            mitre: nil, event: event)
        var late = hit
        late.id = "vgl-2"
        late.eventTime = 2_000_000 + 3_600_000
        var elsewhere = hit
        elsewhere.id = "vgl-3"
        elsewhere.entity = Entity(.sourceIP, "198.51.100.1")
        elsewhere.sourceIP = "198.51.100.1"
        elsewhere.user = nil
        let scores = Evaluation.score([hit, late, elsewhere], attacks: [attack])
        let row = scores.first { $0.detector == .bruteForce }
        #expect(row?.reported == 3 && row?.matched == 1)
        #expect(row?.expected == 1 && row?.detected == 1)
        #expect(Evaluation.table(scores).contains("| brute_force | 3 | 1 | 33% | 1 | 1 | 100% |"))
    }
}
