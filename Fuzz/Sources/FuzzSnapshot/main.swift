import FuzzSupport
import VigilDetection

/// Snapshot and model files are read back from disk, where they can be damaged: decoding
/// arbitrary bytes must fail with an error, never trap. Inputs starting with "S" are made
/// into near-valid snapshots (a real one, with bytes of the input written over it), which
/// reaches deeper than random bytes.
func fuzzSnapshot(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = data.map(UnsafeRawPointer.init) else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count))
    var engine = DetectionEngine()
    if bytes.first == UInt8(ascii: "S"), bytes.count > 3 {
        var source = DetectionEngine()
        let log = Array(
            "Nov 25 12:00:01 web1 sshd[811]: Failed password for root from 203.0.113.9 port 22 ssh2\n".utf8)
        for i in 0..<12 {
            let parsed = log.withUnsafeBufferPointer {
                LogParser.parseRecord(
                    $0, options: ParseOptions(referenceTime: 1_764_590_400_000, origin: UInt64(i)))
            }
            for event in parsed.events { _ = source.process(event) }
        }
        var snapshot = source.snapshot()
        // Byte 1 and 2: where to start overwriting; the rest: what to write.
        let at = (Int(bytes[1]) << 8 | Int(bytes[2])) % max(1, snapshot.count)
        for (k, b) in bytes[3...].enumerated() where at + k < snapshot.count { snapshot[at + k] = b }
        try? engine.restore(snapshot)
    } else {
        try? engine.restore(bytes)
        _ = try? DetectionModel.deserialize(bytes)
    }
    // Whatever was restored must keep working.
    var event = LogEvent(timestamp: 1_764_590_400_000, kind: .authFailure, outcome: .failure, user: "root")
    event.sourceIP = "203.0.113.9"
    event.isAttempt = true
    for i in 0..<10 {
        event.timestamp += Int64(i) * 1_000
        _ = engine.process(event)
    }
    _ = engine.snapshot()
    return 0
}

runFuzzer { fuzzSnapshot($0, $1) }
