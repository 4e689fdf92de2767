import FuzzSupport
import VigilDetection

/// Parse → detect on a sequence of records, as the stream sees them: the first 8 bytes are a
/// Kafka record time (any Int64, as a broker can send), the rest records separated by 0x1E or
/// newlines. Nothing may trap, and a snapshot restored into a fresh engine must continue
/// exactly as the original (same anomalies, same next snapshot).
func fuzzDetect(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = data.map(UnsafeRawPointer.init) else { return 0 }
    let all = UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count)
    guard count >= 8 else { return 0 }
    let time = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[0..<8]).loadUnaligned(as: Int64.self)
    let records = all[8...].split(separator: 0x1E, omittingEmptySubsequences: false).flatMap {
        $0.split(separator: 0x0A)
    }
    var engine = DetectionEngine()
    var events: [LogEvent] = []
    for (index, record) in records.enumerated() {
        let options = ParseOptions(
            referenceTime: time, fallbackTime: time &+ Int64(index) &* 1_000, latestTime: time &+ 86_400_000,
            origin: UInt64(index))
        let parsed = LogParser.parseRecord(UnsafeBufferPointer(rebasing: record), options: options)
        precondition(parsed.records == parsed.events.count + parsed.errors.count)
        events += parsed.events
    }
    let half = events.count / 2
    for event in events[..<half] { _ = engine.process(event) }
    var restored = DetectionEngine()
    do {
        try restored.restore(engine.snapshot())
    } catch {
        preconditionFailure("a snapshot of a live engine does not restore: \(error)")
    }
    for event in events[half...] {
        let original = engine.process(event).map(\.id)
        let copy = restored.process(event).map(\.id)
        precondition(original == copy, "a restored engine diverged")
    }
    precondition(engine.snapshot() == restored.snapshot(), "snapshots diverged")
    return 0
}

runFuzzer { fuzzDetect($0, $1) }
