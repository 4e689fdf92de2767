import Foundation
import Testing
import VigilTesting

@testable import VigilDetection

/// The engine's fast paths give exactly what their plain definitions give: hashes are anomaly
/// ids and snapshot keys, so a faster hash must not be a different one; the JSON scanner must
/// decode and refuse what a reference parser does; baselines must not move.
@Suite("Fast paths equal their definitions")
struct ScanningTests {
    /// StableHash as first written: whole words, then the tail a byte at a time.
    static func referenceHash(_ bytes: [UInt8], seed: UInt64) -> UInt64 {
        let (p0, p1, p2): (UInt64, UInt64, UInt64) = (
            0xa076_1d64_78bd_642f, 0xe703_7ed1_a0b4_28db, 0x8ebc_6af0_9c88_c6e3
        )
        func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let product = a.multipliedFullWidth(by: b)
            return product.high ^ product.low
        }
        var h = seed ^ p0 ^ UInt64(bytes.count)
        var i = 0
        while bytes.count - i >= 8 {
            var word: UInt64 = 0
            for k in 0..<8 { word |= UInt64(bytes[i + k]) << UInt64(8 * k) }
            h = mix(word ^ p1, h ^ p2)
            i += 8
        }
        if i < bytes.count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = mix(tail ^ p1, h ^ p0)
        }
        return mix(h ^ p2, UInt64(bytes.count) ^ p1)
    }

    @Test("StableHash equals its byte-at-a-time definition for every length and content")
    func hashUnchanged() {
        var rng = SeededRandom(seed: 99)
        for length in 0...80 {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let seed = rng.next() % 3 == 0 ? 0 : rng.next()
                #expect(StableHash.hash(bytes, seed: seed) == Self.referenceHash(bytes, seed: seed), "length \(length)")
            }
        }
        // Pinned: ids and snapshot keys made by earlier versions stay the same.
        #expect(StableHash.hash("user.name") == Self.referenceHash(Array("user.name".utf8), seed: 0))
        #expect(StableHash.hash("") == Self.referenceHash([], seed: 0))
    }

    @Test("ByteScan finds the first occurrence, as firstIndex(of:) does, from any start")
    func byteScan() {
        var rng = SeededRandom(seed: 5)
        for length in 0...70 {
            for _ in 0..<30 {
                // Few distinct values, so matches are frequent and near each other.
                let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next() % 4) &+ 0x09 }
                let start = length == 0 ? 0 : Int(rng.next() % UInt64(length + 1))
                for byte: UInt8 in [0x09, 0x0A, 0x0C, 0xFF] {
                    let expected = bytes[start...].firstIndex(of: byte)
                    let found = bytes.withUnsafeBufferPointer { ByteScan.firstIndex(of: byte, in: $0, from: start) }
                    #expect(found == expected, "length \(length), start \(start), byte \(byte)")
                }
            }
        }
        // 0x80 bytes beside the target must not be mistaken for it (the borrow trick's edge).
        let tricky: [UInt8] = [0x8A, 0x0B, 0x80, 0x81, 0x0A, 0x8A, 0x0A, 0x00, 0x0A]
        #expect(tricky.withUnsafeBufferPointer { ByteScan.firstIndex(of: 0x0A, in: $0) } == 4)
        #expect(tricky.withUnsafeBufferPointer { ByteScan.firstIndex(of: 0x00, in: $0) } == 7)
    }

    /// Every scalar `JSONReader` reports, as (path, text).
    static func scalars(_ json: [UInt8]) throws -> [(String, String)] {
        var out: [(String, String)] = []
        try json.withUnsafeBufferPointer { bytes in
            var reader = JSONReader(bytes)
            try reader.readObject { path, value in
                out.append((String(decoding: path, as: UTF8.self), value.text ?? "null"))
            }
        }
        return out
    }

    @Test(
        "JSON strings scanned a word at a time decode as Foundation decodes them, and bad bytes at any position are refused"
    )
    func jsonStrings() throws {
        var rng = SeededRandom(seed: 11)
        // Pieces of a string literal's body, as written in JSON, and what they decode to.
        let pieces: [(String, String)] = [
            ("a", "a"), (" ", " "), ("é", "é"), ("\\\"", "\""), ("\\\\", "\\"), ("\\n", "\n"),
            ("\\u00e9", "é"), ("\\ud83d\\ude00", "😀"), ("/", "/"),
        ]
        for length in 0..<40 {
            for _ in 0..<20 {
                var literal = ""
                var text = ""
                for _ in 0..<length {
                    // Mostly plain letters, so escapes fall at every offset inside a word.
                    let piece = rng.next() % 4 == 0 ? pieces[Int(rng.next() % UInt64(pieces.count))] : pieces[0]
                    literal += piece.0
                    text += piece.1
                }
                let json = Array("{\"k\(literal)\":\"\(literal)\"}".utf8)
                let read = try Self.scalars(json)
                #expect(read.count == 1 && read.first?.0 == "k" + text && read.first?.1 == text, "\(literal)")
                let foundation = try JSONSerialization.jsonObject(with: Data(json)) as? [String: String]
                #expect(foundation?["k" + text] == text)
                // A raw control byte, a raw quote-less end or invalid UTF-8 anywhere in the body is refused.
                let body = Array(literal.utf8)
                guard !body.isEmpty else { continue }
                let at = Int(rng.next() % UInt64(body.count + 1))
                for bad: [UInt8] in [[0x01], [0xFF], [0xC3]] {
                    var broken = Array("{\"v\":\"".utf8) + body
                    broken.insert(contentsOf: bad, at: 6 + at)
                    broken += Array("\"}".utf8)
                    #expect(throws: JSONSyntaxError.self) { try Self.scalars(broken) }
                }
            }
        }
    }

    @Test("Key paths longer than the reader's first buffer, escaped keys and [lon, lat] pairs keep their paths")
    func jsonPaths() throws {
        let long = String(repeating: "segment", count: 30)
        let json = Array(
            #"{"\#(long)":{"a\"b":{"\u0063":1}},"geo":{"location":[-0.5, 51.25]},"x":"y"}"#.utf8)
        let read = try Self.scalars(json)
        #expect(read.map(\.0) == ["\(long).a\"b.c", "geo.location[0]", "geo.location[1]", "x"])
        #expect(read.map(\.1) == ["1", "-0.5", "51.25", "y"])
    }

    @Test("A volume history's median and MAD without allocation equal the sorting definition")
    func rateBaseline() {
        var rng = SeededRandom(seed: 23)
        for length in 0...80 {
            for _ in 0..<25 {
                // Mostly small counts with ties (as volume buckets are), sometimes large ones.
                let history = (0..<length).map { _ in
                    UInt32(truncatingIfNeeded: rng.next() % 8 == 0 ? rng.next() % 100_000 : rng.next() % 4)
                }
                #expect(RateBaseline.of(history: history) == RateBaseline.of(history.map(Int.init)), "\(history)")
                // Counts around the histogram's bound (32): both ways of computing are taken.
                let near = (0..<length).map { _ in UInt32(truncatingIfNeeded: rng.next() % 34) }
                #expect(RateBaseline.of(history: near) == RateBaseline.of(near.map(Int.init)), "\(near)")
            }
        }
        #expect(RateBaseline.of(history: [UInt32.max, 0]) == RateBaseline.of([Int(UInt32.max), 0]))
    }

    @Test("A volume history kept as a ring holds what the oldest-first array held, through limit changes and snapshots")
    func volumeHistoryRing() throws {
        var rng = SeededRandom(seed: 37)
        var ring = VolumeState()
        var reference: [UInt32] = []  // the definition: append, pad with zeros, keep the newest
        for step in 0..<5_000 {
            // Mostly the default 24 buckets; now and then a configuration with another limit.
            let limit = step % 1_000 < 900 ? 24 : [1, 6, 30][step % 3]
            let value = UInt32(truncatingIfNeeded: rng.next() % 3 == 0 ? 0 : rng.next() % 20)
            let zeros = rng.next() % 5 == 0 ? Int(rng.next() % 40) : 0
            ring.record(value, thenZeros: min(zeros, limit), limit: limit)
            reference.append(value)
            reference += repeatElement(0, count: min(zeros, limit))
            reference = Array(reference.suffix(limit))
            #expect(ring.orderedHistory == reference, "step \(step)")
            #expect(ring.activeBuckets == reference.filter { $0 > 0 }.count, "step \(step)")
            #expect(RateBaseline.of(history: ring.history) == RateBaseline.of(history: reference))
            if step % 97 == 0 {
                var writer = BinaryWriter()
                ring.encode(to: &writer)
                var reader = BinaryReader(writer.data)
                let restored = try VolumeState.decode(from: &reader)
                #expect(restored.orderedHistory == reference && restored.activeBuckets == ring.activeBuckets)
                var again = BinaryWriter()
                restored.encode(to: &again)
                #expect(again.data == writer.data, "a restored ring encodes as the ring did")
            }
        }
    }

    @Test("A KeySet holds what a Set<UInt64> holds, whatever the order of insertion and the keys")
    func keySet() {
        var rng = SeededRandom(seed: 31)
        for size in [0, 1, 2, 7, 8, 9, 100, 3_000] {
            // Random keys, keys that share their low bits (one probe chain), and the key 0
            // (the free-slot marker).
            var keys = (0..<size).map { k in k % 3 == 0 ? UInt64(k) << 40 : rng.next() }
            if size > 2 { keys[1] = 0 }
            var set = Set<UInt64>()
            var keySet = KeySet()
            for key in keys + keys.prefix(size / 2) {
                #expect(keySet.insert(key) == set.insert(key).inserted)
            }
            #expect(keySet.count == set.count)
            #expect(Set(keySet) == set)
            #expect(keys.allSatisfy(keySet.contains))
            for _ in 0..<200 {
                let probe = rng.next()
                #expect(keySet.contains(probe) == set.contains(probe))
            }
            let reordered = KeySet(keys.reversed())
            #expect(reordered == keySet)
            #expect(reordered.hashValue == keySet.hashValue)
            #expect(reordered.sorted() == set.sorted())
        }
        #expect(KeySet([1, 2]) != KeySet([1, 3]))
        #expect(KeySet([0]).contains(0) && !KeySet([1]).contains(0))
    }

    @Test("Every BSD month name dates its line; a near miss is not a timestamp")
    func syslogMonths() throws {
        let names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        for (index, name) in names.enumerated() {
            let line = Array("\(name)  7 2024 10:11:12 host sshd[1]: Connection closed by 192.0.2.1 port 22".utf8)
            let event = try line.withUnsafeBufferPointer { try SyslogParser.parse($0, referenceTime: 0).get() }
            let expected = UTC.milliseconds(
                year: 2024, month: index + 1, day: 7, hour: 10, minute: 11, second: 12, millisecond: 0)
            #expect(event.timestamp == expected, "\(name)")
        }
        for miss in ["Nox 7 10:11:12 host x: y", "nov 7 10:11:12 host x: y", "No", "Nov7 10:11:12 host x: y"] {
            let result = Array(miss.utf8).withUnsafeBufferPointer { SyslogParser.parse($0, referenceTime: 0) }
            guard case .failure(.noTimestamp) = result else {
                Issue.record("\(miss): \(result)")
                continue
            }
        }
    }
}
