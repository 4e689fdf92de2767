import Testing

@testable import VigilDetection

/// Inputs a hostile or broken sender can produce. Each used to trap (integer overflow, index
/// out of range) or blind the detectors; each must now give events or clear errors.
@Suite("Hostile input: no trap, no blind spot")
struct HostileInputTests {
    private func parse(_ text: String, _ options: ParseOptions) -> ParsedInput {
        var text = text
        return text.withUTF8 { LogParser.parse($0, options: options) }
    }

    private func analyse(_ text: String, _ options: ParseOptions) -> (ParsedInput, [Anomaly]) {
        let parsed = parse(text, options)
        var engine = DetectionEngine()
        return (parsed, engine.run(parsed.events))
    }

    @Test("a repeat count of 10^18 is clamped where it is read, and counters saturate")
    func hugeRepeatCount() {
        let lines = (0..<10).map {
            "Nov 25 12:00:0\($0) web1 sshd[811]: message repeated 999999999999999999 times: [ Failed password for root from 203.0.113.9 port 22 ssh2]"
        }
        let (parsed, anomalies) = analyse(lines.joined(separator: "\n"), ParseOptions(referenceTime: t0))
        #expect(parsed.events.count == 10)
        #expect(parsed.events.allSatisfy { $0.repeatCount == LogEvent.maximumRepeatCount })
        #expect(anomalies.contains { $0.detector == .bruteForce })
        var event = LogEvent(timestamp: t0, kind: .authFailure)
        event.repeatCount = .max
        #expect(event.repeatCount == LogEvent.maximumRepeatCount)
        event.repeatCount = .min
        #expect(event.repeatCount == 1)
    }

    @Test("sudo's attempt count from input is clamped")
    func hugeSudoAttempts() {
        let line =
            "Nov 25 12:00:00 web1 sudo:      bob : 9223372036854775807 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/ls"
        let (parsed, _) = analyse(Array(repeating: line, count: 5).joined(separator: "\n"), ParseOptions(referenceTime: t0))
        #expect(parsed.events.count == 5)
        #expect(parsed.events.allSatisfy { $0.repeatCount <= LogEvent.maximumRepeatCount })
    }

    @Test("reference and record times at the ends of Int64 are clamped (Kafka records without a timestamp)")
    func extremeReferenceTimes() {
        let line = "Nov 25 12:00:00 web1 sshd[811]: Failed password for root from 203.0.113.9 port 22 ssh2"
        for time in [Int64.min, -1, Int64.max, Int64.max - 1] {
            let options = ParseOptions(referenceTime: time, fallbackTime: time)
            #expect(UTC.supportedRange.contains(options.referenceTime))
            let (parsed, _) = analyse(Array(repeating: line, count: 12).joined(separator: "\n"), options)
            #expect(parsed.events.count == 12)
            // A line without its own date takes the clamped record time; detectors still run.
            let (free, _) = analyse("free text with no date\nmore free text", options)
            #expect(free.events.allSatisfy { UTC.supportedRange.contains($0.timestamp) })
        }
        var engine = DetectionEngine()
        for i in 0..<20 {
            _ = engine.process(failure("root", from: "203.0.113.9", at: UTC.supportedRange.upperBound - Int64(20 - i)))
        }
    }

    @Test("epoch times past the year 9999 and non-integer Windows codes are refused, not trapped")
    func outOfRangeNumbers() {
        let lines = [
            #"{"timestamp": 1e300, "event_type": "auth", "outcome": "failure", "user": "root"}"#,
            #"{"timestamp": 999999999999999, "event_type": "auth", "outcome": "failure", "user": "root"}"#,
            #"{"@timestamp": "2026-11-25T12:00:00Z", "event": {"code": 1e300}, "winlog": {"event_data": {"LogonType": 1e300}}}"#,
            #"{"@timestamp": "2026-11-25T12:00:00Z", "event_type": "auth", "source_port": 1e300, "process": {"pid": -5}}"#,
        ]
        let parsed = parse(lines.joined(separator: "\n"), ParseOptions(referenceTime: t0))
        #expect(parsed.records == 4)
        #expect(parsed.errors.map(\.line) == [1, 2])
        #expect(parsed.errors.allSatisfy { $0.reason.contains("timestamp") })
        #expect(parsed.events.count == 2)
        #expect(parsed.events.last?.sourcePort == nil)
        #expect(parsed.events.last?.processID == nil)
    }

    @Test("one far-future event is refused and later attacks are still found")
    func farFutureEvent() {
        var lines = [#"{"timestamp": "9999-12-31T23:59:59Z", "event_type": "auth", "outcome": "failure", "user": "root", "source_ip": "198.51.100.1"}"#]
        lines.append(#"{"timestamp": 1000000000000000, "event_type": "auth", "outcome": "failure", "user": "root"}"#)
        for i in 0..<20 {
            lines.append(
                #"{"timestamp": "2026-11-25T12:00:\#(String(format: "%02d", i))Z", "event_type": "auth", "outcome": "failure", "user": "root", "source_ip": "203.0.113.9"}"#
            )
        }
        let latest = t0 + 86_400_000
        let (parsed, anomalies) = analyse(lines.joined(separator: "\n"), ParseOptions(referenceTime: t0, latestTime: latest))
        #expect(parsed.futureEvents == 1)
        #expect(parsed.errors.count == 2)
        #expect(parsed.errors.first?.line == 1)
        #expect(parsed.errors.first?.reason.contains("9999-12-31") == true)
        #expect(parsed.events.count == 20)
        #expect(anomalies.contains { $0.detector == .bruteForce && $0.severity == .high })
        // Without the bound the far-future event blinds the windowed detectors: what the
        // bound prevents, shown on the same data.
        let (_, blind) = analyse(lines.joined(separator: "\n"), ParseOptions(referenceTime: t0))
        #expect(!blind.contains { $0.detector == .bruteForce })
    }

    @Test("identical records at different positions get different ids; the same position the same id")
    func idsArePositional() {
        // Objects without a timestamp take the record's: byte-identical records.
        let line = #"{"event_type": "auth", "outcome": "failure", "user": "root", "source_ip": "203.0.113.9"}"#
        func ids(origin: UInt64) -> [String] {
            var engine = DetectionEngine()
            var found: [String] = []
            for offset in 0..<30 {
                let options = ParseOptions(
                    referenceTime: t0, fallbackTime: t0 + Int64(offset) * 1000,
                    origin: ParseOptions.origin(partition: origin, offset: Int64(offset)))
                var bytes = line
                let parsed = bytes.withUTF8 { LogParser.parseRecord($0, options: options) }
                for event in parsed.events { found += engine.process(event).map(\.id) }
            }
            return found
        }
        let partition = ParseOptions.origin(topic: "raw-logs", partition: 0)
        let first = ids(origin: partition)
        #expect(first.count >= 2)  // the medium tier and the two-minute rule, same entity
        #expect(Set(first).count == first.count)
        #expect(ids(origin: partition) == first)
        #expect(Set(ids(origin: ParseOptions.origin(topic: "raw-logs", partition: 1))).isDisjoint(with: first))
    }

    // Found by the fuzzers (Fuzz/): each trapped before it was fixed.

    @Test("a latest time that wrapped around, and formatting any Int64 as a time, do not trap (FuzzDetect)")
    func extremeLatestTime() {
        #expect(UTC.format(.min) == UTC.format(UTC.supportedRange.lowerBound))
        #expect(UTC.format(.max) == "9999-12-31T23:59:59.999Z")
        let options = ParseOptions(referenceTime: .max, fallbackTime: .max, latestTime: .min)
        let parsed = parse("Nov 25 12:00:01 web1 sshd[811]: Failed password for root from 203.0.113.9 port 22 ssh2", options)
        #expect(parsed.futureEvents == 1)
        #expect(parsed.errors.first?.reason.contains("0001-01-01") == true)
    }

    @Test("a snapshot with impossible counts, times or numbers is refused, never restored into a trap (FuzzSnapshot)")
    func damagedSnapshot() {
        var engine = DetectionEngine()
        for i in 0..<12 { _ = engine.process(failure("root", from: "203.0.113.9", at: t0 + seconds(Double(i)))) }
        let snapshot = engine.snapshot()
        // Layout: magic (8), version (4), watermark (8), template total (8), events (8), …
        for (offset, what) in [(12, "watermark"), (20, "template total"), (28, "events")] {
            var damaged = snapshot
            for k in offset..<offset + 8 { damaged[k] = 0xFF }
            damaged[offset + 7] = 0x7F
            var restored = DetectionEngine()
            #expect(throws: ModelError.self, "\(what)") { try restored.restore(damaged) }
        }
        var fresh = DetectionEngine()
        #expect(throws: Never.self) { try fresh.restore(snapshot) }
    }

    @Test("a model holding NaN is refused; a NaN baseline yields no threshold rather than a trap (FuzzSnapshot)")
    func nonFiniteNumbers() {
        let bytes = Trainer().finish().serialized()
        // TrainingInfo: magic (8), version (4), events, errors, first, last (4 × 8), then the
        // target false-positive rate, a Double.
        var damaged = bytes
        withUnsafeBytes(of: Double.nan.bitPattern.littleEndian) { damaged.replaceSubrange(44..<52, with: $0) }
        #expect(throws: ModelError.self) { try DetectionModel.deserialize(damaged) }
        #expect(RateBaseline(median: .nan, mad: 1, buckets: 3).threshold(k: 8, floor: 50) == Int.max)
        #expect(RateBaseline(median: 3e38, mad: 1, buckets: 3).threshold(k: 8, floor: 50) == Int.max)
    }

    @Test("an engine that saw events at the end of the year 9999 snapshots and restores (FuzzDetect, long run)")
    func snapshotAtTheEndOfTime() throws {
        var engine = DetectionEngine()
        var config = DetectionConfig.default
        config.rareEvent.minHistory = 1
        engine = DetectionEngine(config: config)
        let end = UTC.supportedRange.upperBound
        for i in 0..<20 {
            var e = failure("root", from: "203.0.113.9", at: end - 20_000 + Int64(i) * 1_000)
            e.template = "sshd:rare-\(i % 3)"
            _ = engine.process(e)
        }
        var restored = DetectionEngine(config: config)
        try restored.restore(engine.snapshot())
        #expect(restored.snapshot() == engine.snapshot())
    }
}
