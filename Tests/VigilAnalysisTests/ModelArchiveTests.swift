import Foundation
import Testing
import VigilAnalysis
import VigilDetection
import VigilTesting

private typealias Fixture = GeneratedFixture

@Suite("Model archive")
struct ModelArchiveTests {
    @Test("a model survives the archive round trip and behaves identically")
    func roundTrip() throws {
        let (manifest, bytes) = ModelArchive.encode(Fixture.model, vigilVersion: "test")
        let loaded = try ModelArchive.decode(manifest: manifest, model: bytes)
        #expect(loaded.serialized() == bytes)
        var a = DetectionEngine(model: Fixture.model)
        var b = DetectionEngine(model: loaded)
        let first = Fixture.test.flatMap { a.process($0) }.map(AnomalyJSON.encode)
        let second = Fixture.test.flatMap { b.process($0) }.map(AnomalyJSON.encode)
        #expect(!first.isEmpty)
        #expect(first == second)
        let text = String(decoding: manifest, as: UTF8.self)
        #expect(text.contains("\"format\":\"vigil-model\""))
        #expect(text.contains("\"schema_version\":1"))
        #expect(text.contains("\"sha256\":\"\(ModelArchive.checksum(bytes))\""))
        #expect(text.contains("\"events\":\(Fixture.history.count)"))
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
            guard case .checksumMismatch = error else {
                Issue.record("expected a checksum mismatch, got \(error)")
                return
            }
        }
        // Truncations and random damage straight into the reader: errors, never crashes.
        var random = SeededRandom(seed: 1)
        for _ in 0..<200 {
            var damaged = bytes
            if random.next() % 2 == 0 {
                damaged.removeLast(Int(random.next() % UInt64(damaged.count)))
            } else {
                for _ in 0..<8 {
                    damaged[Int(random.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            _ = try? DetectionModel.deserialize(damaged)
        }
        #expect(throws: ModelError.self) { try DetectionModel.deserialize(Array(bytes.prefix(100))) }
    }

    @Test("an incompatible version or a foreign manifest is refused with a reason")
    func incompatible() {
        let (manifest, bytes) = ModelArchive.encode(Fixture.model, vigilVersion: "test")
        let newer = String(decoding: manifest, as: UTF8.self).replacingOccurrences(
            of: "\"schema_version\":1", with: "\"schema_version\":2")
        do {
            _ = try ModelArchive.decode(manifest: Array(newer.utf8), model: bytes)
            Issue.record("accepted schema version 2")
        } catch {
            #expect(error.description.contains("schema version 2"))
        }
        #expect(throws: ModelError.self) {
            try ModelArchive.decode(manifest: Array("{\"format\":\"other\"}".utf8), model: bytes)
        }
        #expect(throws: ModelError.self) { try ModelArchive.decode(manifest: Array("not json".utf8), model: bytes) }
        // Numbers that are no integers (or out of every range) are refused with the field named.
        let text = String(decoding: manifest, as: UTF8.self)
        for (field, bad) in [("schema_version", "1e300"), ("schema_version", "1.5"), ("bytes", "1e30"), ("bytes", "-4")] {
            let damaged = text.replacingOccurrences(
                of: "\"\(field)\":\(field == "bytes" ? String(bytes.count) : "1")", with: "\"\(field)\":\(bad)")
            #expect(damaged != text)
            do {
                _ = try ModelArchive.decode(manifest: Array(damaged.utf8), model: bytes)
                Issue.record("accepted \(field) \(bad)")
            } catch {
                #expect(error.description.contains(field), "\(error)")
            }
        }
        var versioned = bytes
        versioned[8] = 9  // format version in the binary
        #expect(throws: ModelError.self) { try DetectionModel.deserialize(versioned) }
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256() {
        #expect(ModelArchive.checksum([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            ModelArchive.checksum(Array("abc".utf8))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            ModelArchive.checksum(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            ModelArchive.checksum(Array(repeating: UInt8(ascii: "a"), count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
