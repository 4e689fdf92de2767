import FuzzSupport
import VigilDetection

/// A whole input (JSON array, NDJSON, objects, syslog/auth lines — whatever the bytes are):
/// every record becomes an event or an error, and reading it in chunks (of a size taken from
/// the input) gives exactly what reading it whole gives.
func fuzzParse(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = data.map(UnsafeRawPointer.init) else { return 0 }
    let all = UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count)
    guard count > 1 else { return 0 }
    let chunk = Int(all[0]) + 1
    let bytes = UnsafeBufferPointer(rebasing: all[1...])
    // Reference times across the whole range: the parsers clamp what enters.
    let reference = Int64(all[0]) &* 0x0123_4567_89AB_CDEF
    let options = ParseOptions(
        referenceTime: reference, fallbackTime: all[0] & 1 == 0 ? nil : reference, latestTime: 1_900_000_000_000)
    let whole = LogParser.parse(bytes, options: options)
    precondition(whole.records == whole.events.count + whole.errors.count, "a record was neither event nor error")

    var parser = InputParser(options: options, maxRecordBytes: 4 << 20)
    var chunked = ParsedInput()
    var step = ParsedInput()
    var offset = 0
    while offset < bytes.count {
        let end = min(bytes.count, offset + chunk)
        parser.feed(UnsafeBufferPointer(rebasing: bytes[offset..<end]), final: false, into: &step)
        chunked.records += step.records
        chunked.events += step.events
        chunked.errors += step.errors
        step.removeAll()
        offset = end
    }
    parser.feed(UnsafeBufferPointer(start: nil, count: 0), final: true, into: &step)
    chunked.records += step.records
    chunked.events += step.events
    chunked.errors += step.errors
    precondition(chunked.records == whole.records, "chunked: \(chunked.records) records, whole: \(whole.records)")
    precondition(chunked.errors == whole.errors, "chunked and whole errors differ")
    precondition(
        chunked.events.map(\.fingerprint) == whole.events.map(\.fingerprint), "chunked and whole events differ")
    return 0
}

runFuzzer { fuzzParse($0, $1) }
