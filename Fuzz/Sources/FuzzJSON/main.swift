import FuzzSupport
import VigilDetection

/// The JSON reader on arbitrary bytes: it must never trap, and every string it reports must
/// be valid UTF-8 (the decoder relies on it); then the same bytes as a Kafka record value.
func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start = data.map(UnsafeRawPointer.init) else { return 0 }
    let bytes = UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count)
    var reader = JSONReader(bytes)
    try? reader.readObject { path, value in
        precondition(String(validating: path, as: UTF8.self) != nil, "key path is not UTF-8")
        if case .string(let text) = value {
            precondition(String(validating: text, as: UTF8.self) != nil, "string value is not UTF-8")
        }
        _ = value.double
    }
    let parsed = LogParser.parseRecord(bytes, options: ParseOptions(referenceTime: 1_764_590_400_000))
    precondition(parsed.records == parsed.events.count + parsed.errors.count, "a record was neither event nor error")
    return 0
}

runFuzzer { fuzzJSON($0, $1) }
