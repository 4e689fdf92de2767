import Foundation
import Testing

@testable import VigilDetection

/// Property-style tests: random and malformed input never crashes a parser, and every record
/// yields an event or an error.
@Suite("Parser properties")
struct PropertyTests {
    static let seeds: [UInt64] = [1, 2, 3, 4, 5, 6, 7, 8]

    static let samples = [
        #"{"timestamp":"2026-11-25T12:00:00Z","user":"alice","source_ip":"192.0.2.1","event_type":"login","action":"failure"}"#,
        #"{"@timestamp":"2026-11-25T12:00:00.5+01:00","user":{"name":"b\u00f6b"},"source":{"ip":"2001:db8::1","geo":{"location":[1.5,2.5]}},"event":{"outcome":"success","action":"logon"}}"#,
        "Nov 25 09:00:00 web1 sshd[24200]: Failed password for invalid user oracle from 198.51.100.7 port 4000 ssh2",
        "<38>1 2026-11-25T10:00:00.250Z web2 sshd 999 - [id@1 a=\"]\"] Accepted publickey for bob from 192.0.2.1 port 1 ssh2: RSA SHA256:x",
        "2026-11-25T10:00:00+00:00 h sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh -c 'x'",
        "Nov 25 09:00:00 h sshd[1]: message repeated 3 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]",
        "Nov 25 09:00:00 h su[5]: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)",
    ]

    /// Every non-blank line is a record; every record is an event or an error.
    func checkInvariant(_ bytes: [UInt8]) {
        let result = bytes.withUnsafeBufferPointer { LogParser.parse($0, options: ParseOptions(referenceTime: t0)) }
        #expect(result.events.count + result.errors.count == result.records)
        for event in result.events {
            _ = AnomalyJSON.encode(
                Anomaly(
                    id: "vgl-0000000000000000", detector: .outlier, severity: .low, score: 0,
                    entity: Entity(.user, event.user ?? ""), user: event.user, sourceIP: event.sourceIP,
                    host: event.host, eventTime: event.timestamp, summary: "x", evidence: [], mitre: nil, event: event))
        }
    }

    @Test("random bytes", arguments: seeds)
    func randomBytes(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        for _ in 0..<300 {
            let length = Int(random.next() % 400)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            checkInvariant(bytes)
        }
    }

    @Test("mutated valid records: flips, truncations, insertions, duplicated delimiters", arguments: seeds)
    func mutations(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let interesting: [UInt8] =
            Array("{}[]\":,\\ \n\r\t0123456789-.eEtfnu".utf8) + [0, 0x80, 0xC3, 0xFF, 0xED, 0xA0]
        for _ in 0..<2_000 {
            var bytes = Array(Self.samples[Int(random.next() % UInt64(Self.samples.count))].utf8)
            for _ in 0..<(1 + Int(random.next() % 4)) {
                guard !bytes.isEmpty else { break }
                let at = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[at] = interesting[Int(random.next() % UInt64(interesting.count))]
                case 1: bytes.removeSubrange(at...)
                case 2: bytes.insert(interesting[Int(random.next() % UInt64(interesting.count))], at: at)
                default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 8)], at: at)
                }
            }
            checkInvariant(bytes)
            // Many records at once, some damaged, in every container.
            checkInvariant(Array(("[" + Self.samples[0] + ",").utf8) + bytes + Array("]".utf8))
            checkInvariant(Array((Self.samples.joined(separator: "\n") + "\n").utf8) + bytes)
        }
    }

    @Test("valid JSON written by Foundation is always read, with the same string values")
    func foundationJSON() throws {
        var random = SeededRandom(seed: 99)
        let alphabet = Array("abcXYZ0 é\"\\/\n\t😀\u{1}")
        for _ in 0..<500 {
            var object: [String: Any] = ["timestamp": "2026-11-25T12:00:00Z"]
            let user = String(
                (0..<Int(random.next() % 12)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            object["user"] = user
            object["extra"] = [
                "nested": [1, 2.5, -3e7, true, NSNull(), ["deep": "x"]], "n": Int(random.next() % 1000),
            ]
            let data = try JSONSerialization.data(withJSONObject: object)
            let result = Array(data).withUnsafeBufferPointer {
                LogParser.parse($0, options: ParseOptions(referenceTime: t0))
            }
            #expect(result.errors.isEmpty, "\(String(decoding: data, as: UTF8.self)): \(result.errors)")
            #expect(result.events.first?.user == (user.isEmpty ? nil : user))
        }
    }

    @Test("the real sample lines parse without errors and keep every field")
    func samplesParse() {
        for sample in Self.samples {
            let result = parse(sample)
            #expect(result.errors.isEmpty, "\(sample): \(result.errors)")
            #expect(result.events.count == 1)
        }
    }
}
