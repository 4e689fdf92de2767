import Foundation
import Testing
@testable import VigilDetection
import VigilSimulation

/// A small generated data set, shared by the model tests.
enum Fixture {
    static let data: GeneratedData = {
        var options = GeneratorOptions()
        options.users = 30
        options.historyDays = 10
        options.attackDays = 3
        options.attacksPerKind = 2
        return Generator.generate(options)
    }()

    static func events(_ records: [String]) -> [LogEvent] {
        var text = records.joined(separator: "\n")
        return text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: GeneratorOptions().start)).events }
    }

    static let history = events(data.history)
    static let test = events(data.test)

    static let model: DetectionModel = {
        var trainer = Trainer()
        for e in history { trainer.add(e) }
        return trainer.finish()
    }()
}

@Suite("Models")
struct ModelTests {
    @Test("training is deterministic: the same history gives the same bytes")
    func deterministicTraining() {
        var again = Trainer()
        for e in Fixture.history { again.add(e) }
        #expect(again.finish().serialized() == Fixture.model.serialized())
    }

    @Test("a model survives the archive round trip and behaves identically")
    func roundTrip() throws {
        let (manifest, bytes) = ModelArchive.encode(Fixture.model, vigilVersion: "test")
        let loaded = try ModelArchive.decode(manifest: manifest, model: bytes)
        #expect(loaded.serialized() == bytes)
        var a = DetectionEngine(model: Fixture.model), b = DetectionEngine(model: loaded)
        let first = Fixture.test.flatMap { a.process($0) }.map(AnomalyJSON.encode)
        let second = Fixture.test.flatMap { b.process($0) }.map(AnomalyJSON.encode)
        #expect(!first.isEmpty)
        #expect(first == second)
        let text = String(decoding: manifest, as: UTF8.self)
        #expect(text.contains("\"format\":\"vigil-model\""))
        #expect(text.contains("\"schema_version\":1"))
        #expect(text.contains("\"sha256\":\"\(SHA256.hex(bytes))\""))
        #expect(text.contains("\"events\":\(Fixture.history.count)"))
    }

    @Test("the model learnt users, templates, the forest and thresholds at least the defaults")
    func contents() {
        let m = Fixture.model
        #expect(m.users.count >= 30)
        #expect(m.templates.count > 3)
        #expect(m.forest.treeCount == 100)
        #expect(m.thresholds.bruteForceFailures >= 8)
        #expect(m.thresholds.outlierThreshold >= 0.55)
        #expect(m.featureHigh.count == FeatureVector.count)
        #expect(m.info.events == Fixture.history.count)
    }

    @Test("a flipped byte is caught by the checksum; a damaged file without one is caught by the reader")
    func corrupt() throws {
        let (manifest, bytes) = ModelArchive.encode(Fixture.model, vigilVersion: "test")
        var flipped = bytes
        flipped[flipped.count / 2] ^= 0xFF
        #expect(throws: ModelError.self) { try ModelArchive.decode(manifest: manifest, model: flipped) }
        do {
            _ = try ModelArchive.decode(manifest: manifest, model: flipped)
        } catch {
            guard case .checksumMismatch = error else { Issue.record("expected a checksum mismatch, got \(error)"); return }
        }
        // Truncations and random damage straight into the reader: errors, never crashes.
        var random = SeededRandom(seed: 1)
        for _ in 0..<200 {
            var damaged = bytes
            if random.next() % 2 == 0 {
                damaged.removeLast(Int(random.next() % UInt64(damaged.count)))
            } else {
                for _ in 0..<8 { damaged[Int(random.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: random.next()) }
            }
            _ = try? DetectionModel.deserialize(damaged)
        }
        #expect(throws: ModelError.self) { try DetectionModel.deserialize(Array(bytes.prefix(100))) }
    }

    @Test("an incompatible version or a foreign manifest is refused with a reason")
    func incompatible() {
        let (manifest, bytes) = ModelArchive.encode(Fixture.model, vigilVersion: "test")
        let newer = String(decoding: manifest, as: UTF8.self).replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":2")
        do {
            _ = try ModelArchive.decode(manifest: Array(newer.utf8), model: bytes)
            Issue.record("accepted schema version 2")
        } catch {
            #expect(error.description.contains("schema version 2"))
        }
        #expect(throws: ModelError.self) { try ModelArchive.decode(manifest: Array("{\"format\":\"other\"}".utf8), model: bytes) }
        #expect(throws: ModelError.self) { try ModelArchive.decode(manifest: Array("not json".utf8), model: bytes) }
        var versioned = bytes
        versioned[8] = 9 // format version in the binary
        #expect(throws: ModelError.self) { try DetectionModel.deserialize(versioned) }
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(Array(repeating: UInt8(ascii: "a"), count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("with a model, detectors catch the injected attacks")
    func detectsAttacks() {
        var engine = DetectionEngine(model: Fixture.model)
        for e in Fixture.history { _ = engine.process(e) }
        let anomalies = Fixture.test.flatMap { engine.process($0) }
        let scores = Evaluation.score(anomalies, attacks: Fixture.data.attacks)
        for row in scores where row.expected > 0 {
            #expect((row.recall ?? 0) >= 0.5, "\(row.detector.rawValue): recall \(row.recall ?? 0)")
        }
        let reported = scores.reduce(0) { $0 + $1.reported }, matched = scores.reduce(0) { $0 + $1.matched }
        // Unusual-hour and outlier reports on normal evening logins keep overall precision below 1.
        #expect(Double(matched) / Double(max(1, reported)) >= 0.75)
    }
}

@Suite("Engine snapshots")
struct SnapshotTests {
    @Test("an engine restored from a snapshot continues exactly like the original")
    func equivalence() throws {
        let events = Fixture.history + Fixture.test
        let split = events.count * 2 / 3
        var original = DetectionEngine(model: Fixture.model)
        for e in events[..<split] { _ = original.process(e) }
        let bytes = original.snapshot()
        var restored = DetectionEngine(model: Fixture.model)
        try restored.restore(bytes)
        #expect(restored.snapshot() == bytes)
        let a = events[split...].flatMap { original.process($0) }.map(AnomalyJSON.encode)
        let b = events[split...].flatMap { restored.process($0) }.map(AnomalyJSON.encode)
        #expect(!a.isEmpty)
        #expect(a == b)
        #expect(original.snapshot() == restored.snapshot())
    }

    @Test("a damaged snapshot is refused and leaves the engine as it was")
    func damaged() {
        var engine = DetectionEngine()
        for e in Fixture.test.prefix(500) { _ = engine.process(e) }
        let before = engine.snapshot()
        var bad = before
        bad.removeLast(10)
        #expect(throws: ModelError.self) { try engine.restore(bad) }
        #expect(throws: ModelError.self) { try engine.restore(Array("VGLSTATE".utf8) + [9, 0, 0, 0]) }
        #expect(engine.snapshot() == before)
    }

    @Test("replacing the model keeps the windows in progress")
    func replaceModel() {
        var engine = DetectionEngine()
        var found = (0..<7).flatMap { engine.process(failure("root", from: "192.0.2.50", at: t0 + seconds(Double($0)))) }
        engine.replaceModel(Fixture.model, config: .default)
        found += engine.process(failure("root", from: "192.0.2.50", at: t0 + seconds(8)))
        #expect(found.of(.bruteForce).count == 1)
        #expect(engine.model === Fixture.model)
    }
}
