/// A record that could not become an event: where it was and why. The rest of the input is
/// still analysed.
public struct RecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 0-based position of the record in its input (array element, line, Kafka record).
    public var index: Int
    /// 1-based line number, for line-oriented input.
    public var line: Int?
    public var reason: String

    public init(index: Int, line: Int?, reason: String) {
        self.index = index
        self.line = line
        self.reason = reason
    }

    public var description: String {
        if let line { return "line \(line): \(reason)" }
        return "record \(index): \(reason)"
    }
}

/// How to date events.
public struct ParseOptions: Sendable {
    /// Anchors the year of RFC 3164 syslog timestamps (see ``SyslogParser``).
    public var referenceTime: Int64
    /// Dates records that carry no timestamp of their own (a Kafka record's timestamp). Lines
    /// without one otherwise take the previous line's time (continuation lines), and JSON
    /// objects without one are errors.
    public var fallbackTime: Int64?

    public init(referenceTime: Int64, fallbackTime: Int64? = nil) {
        self.referenceTime = referenceTime
        self.fallbackTime = fallbackTime
    }
}

/// The events and per-record errors of one input.
public struct ParsedInput: Sendable {
    public var events: [LogEvent] = []
    public var errors: [RecordError] = []
    /// Records seen (events + errors; a blank line is not a record).
    public var records = 0

    public init() {}

    /// Empties the result, keeping its storage for the next record.
    public mutating func removeAll() {
        events.removeAll(keepingCapacity: true)
        errors.removeAll(keepingCapacity: true)
        records = 0
    }
}

/// Turns input — one JSON object, a JSON array, NDJSON, or plain log lines (mixed with JSON
/// lines if need be) — into events. Every record yields an event or a ``RecordError``.
public enum LogParser {
    /// Parses a whole input, detecting its container.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, options: ParseOptions) -> ParsedInput {
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 } // BOM
        while start < bytes.count, isSpace(bytes[start]) { start += 1 }
        let body = UnsafeBufferPointer(rebasing: bytes[start...])
        if body.first == UInt8(ascii: "[") { return parseArray(body, options: options) }
        if body.first == UInt8(ascii: "{") {
            // One pretty-printed object, or NDJSON? A first line that is a whole object means lines.
            let firstLineEnd = body.firstIndex(of: 0x0A) ?? body.count
            var reader = JSONReader(UnsafeBufferPointer(rebasing: body[..<firstLineEnd]))
            let firstLineIsObject = (try? reader.readObject { _, _ in }) != nil
            if !firstLineIsObject {
                var whole = JSONReader(body)
                if (try? whole.readObject { _, _ in }) != nil {
                    var result = ParsedInput()
                    result.records = 1
                    switch JSONEventDecoder.decode(body, fallbackTime: options.fallbackTime, referenceTime: options.referenceTime) {
                    case .success(var event):
                        event.fingerprint = StableHash.hash(body)
                        result.events.append(event)
                    case .failure(let failure):
                        result.errors.append(RecordError(index: 0, line: 1, reason: failure.description))
                    }
                    return result
                }
            }
        }
        var lines = LineParser(options: options)
        var result = ParsedInput()
        lines.feed(bytes, final: true, into: &result)
        return result
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// A JSON array of objects: each element is its own record, so a bad element costs only
    /// itself.
    static func parseArray(_ body: UnsafeBufferPointer<UInt8>, options: ParseOptions) -> ParsedInput {
        var result = ParsedInput()
        let (elements, trailingError) = splitArray(body)
        for (index, range) in elements.enumerated() {
            result.records += 1
            let element = UnsafeBufferPointer(rebasing: body[range])
            var k = 0
            while k < element.count, isSpace(element[k]) { k += 1 }
            guard k < element.count, element[k] == UInt8(ascii: "{") else {
                result.errors.append(RecordError(index: index, line: nil, reason: "array element is not an object"))
                continue
            }
            switch JSONEventDecoder.decode(element, fallbackTime: options.fallbackTime, referenceTime: options.referenceTime) {
            case .success(var event):
                event.fingerprint = StableHash.hash(element)
                result.events.append(event)
            case .failure(let failure):
                result.errors.append(RecordError(index: index, line: nil, reason: failure.description))
            }
        }
        if let trailingError {
            result.records += 1
            result.errors.append(RecordError(index: elements.count, line: nil, reason: trailingError))
        }
        return result
    }

    /// Element byte ranges of a top-level array, found by tracking nesting and strings only —
    /// a syntax error inside one element does not hide the others.
    static func splitArray(_ body: UnsafeBufferPointer<UInt8>) -> ([Range<Int>], String?) {
        var elements: [Range<Int>] = []
        var depth = 0, inString = false, escaped = false
        var elementStart = 1
        var i = 1
        while i < body.count {
            let b = body[i]
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else {
                switch b {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"): depth -= 1
                case UInt8(ascii: "]"):
                    if depth == 0 {
                        if !isBlank(body, elementStart..<i) || !elements.isEmpty { elements.append(elementStart..<i) }
                        var j = i + 1
                        while j < body.count, isSpace(body[j]) { j += 1 }
                        return (elements, j < body.count ? "unexpected content after the array at byte \(j)" : nil)
                    }
                    depth -= 1
                case UInt8(ascii: ","):
                    if depth == 0 {
                        elements.append(elementStart..<i)
                        elementStart = i + 1
                    }
                default: break
                }
            }
            i += 1
        }
        if !isBlank(body, elementStart..<body.count) { elements.append(elementStart..<body.count) }
        return (elements, "the array is not closed (input ends inside it)")
    }

    private static func isBlank(_ body: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        range.allSatisfy { isSpace(body[$0]) }
    }

    /// Parses one Kafka record value: a JSON object, a JSON array of them, a log line, or
    /// several NDJSON or log lines. A value that is not UTF-8 text is an error as a whole.
    public static func parseRecord(_ bytes: UnsafeBufferPointer<UInt8>, options: ParseOptions) -> ParsedInput {
        var result = ParsedInput()
        parseRecord(bytes, options: options, into: &result)
        return result
    }

    /// Like ``parseRecord(_:options:)``, appending to `result` — a caller parsing many records
    /// reuses one result (cleared between records) instead of allocating one per record.
    public static func parseRecord(_ bytes: UnsafeBufferPointer<UInt8>, options: ParseOptions, into result: inout ParsedInput) {
        let recordsBefore = result.records
        var k = 0
        while k < bytes.count, isSpace(bytes[k]) { k += 1 }
        let first: UInt8? = k < bytes.count ? bytes[k] : nil
        if first == UInt8(ascii: "[") {
            let parsed = parseArray(UnsafeBufferPointer(rebasing: bytes[k...]), options: options)
            result.records += parsed.records
            result.events.append(contentsOf: parsed.events)
            result.errors.append(contentsOf: parsed.errors)
        } else if first == UInt8(ascii: "{") && hasInnerNewline(bytes, from: k) {
            // Several NDJSON lines or one pretty-printed object: let container detection decide.
            let parsed = parse(bytes, options: options)
            result.records += parsed.records
            result.events.append(contentsOf: parsed.events)
            result.errors.append(contentsOf: parsed.errors)
        } else {
            // One JSON object (the reader validates its UTF-8) or log lines.
            if first != UInt8(ascii: "{") && !isUTF8(bytes) {
                result.records += 1
                result.errors.append(RecordError(index: 0, line: nil, reason: "not UTF-8 text"))
                return
            }
            var lines = LineParser(options: options)
            lines.feed(bytes, final: true, into: &result)
        }
        if result.records == recordsBefore {
            result.records += 1
            result.errors.append(RecordError(index: 0, line: nil, reason: "empty record"))
        }
    }

    /// A line break followed by more than whitespace.
    private static func hasInnerNewline(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        guard var i = UnsafeBufferPointer(rebasing: bytes[start...]).firstIndex(of: 0x0A).map({ $0 + start }) else { return false }
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        return i < bytes.count
    }

    private static func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var ascii: UInt8 = 0
        for b in bytes { ascii |= b }
        if ascii < 0x80 { return true }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}

/// Line-oriented parsing that can be fed input in chunks (large files are not loaded whole).
/// Lines starting with `{` are JSON objects, other lines are syslog.
public struct LineParser {
    public var options: ParseOptions
    private var pending: [UInt8] = []
    private var lineNumber = 0
    private var recordIndex = 0
    /// The last timestamp seen, for continuation lines without their own.
    private var lastTimestamp: Int64? = nil

    public init(options: ParseOptions) { self.options = options }

    /// Parses the complete lines in `chunk`; keeps an incomplete last line until the next
    /// chunk, or parses it too when `final`.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, final: Bool, into result: inout ParsedInput) {
        var start = 0
        var i = 0
        if !pending.isEmpty {
            guard let newline = chunk.firstIndex(of: 0x0A) else {
                pending.append(contentsOf: chunk)
                if final { flushPending(into: &result) }
                return
            }
            pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[..<newline]))
            flushPending(into: &result)
            start = newline + 1
            i = start
        }
        while i < chunk.count {
            if chunk[i] == 0x0A {
                parseLine(UnsafeBufferPointer(rebasing: chunk[start..<i]), into: &result)
                start = i + 1
            }
            i += 1
        }
        if start < chunk.count {
            if final {
                parseLine(UnsafeBufferPointer(rebasing: chunk[start...]), into: &result)
            } else {
                pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start...]))
            }
        }
    }

    private mutating func flushPending(into result: inout ParsedInput) {
        let line = pending
        pending.removeAll(keepingCapacity: true)
        line.withUnsafeBufferPointer { parseLine($0, into: &result) }
    }

    public mutating func parseLine(_ raw: UnsafeBufferPointer<UInt8>, into result: inout ParsedInput) {
        lineNumber += 1
        var line = raw
        if lineNumber == 1, line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            line = UnsafeBufferPointer(rebasing: line[3...])
        }
        line = trimmingTrailing(line) { $0 == 0x0D || $0 == 0x20 || $0 == 0x09 }
        var k = 0
        while k < line.count, line[k] == 0x20 || line[k] == 0x09 { k += 1 }
        guard k < line.count else { return } // blank lines are not records
        let index = recordIndex
        recordIndex += 1
        result.records += 1
        if line[k] == UInt8(ascii: "{") {
            let object = UnsafeBufferPointer(rebasing: line[k...])
            // Decoded in place at the end of the events array: no copies of the event.
            result.events.append(LogEvent(timestamp: 0, kind: .unknown))
            let slot = result.events.count - 1
            if let failure = JSONEventDecoder.decode(object, into: &result.events[slot], fallbackTime: options.fallbackTime ?? lastTimestamp) {
                result.events.removeLast()
                result.errors.append(RecordError(index: index, line: lineNumber, reason: failure.description))
            } else {
                result.events[slot].fingerprint = StableHash.hash(object)
                lastTimestamp = result.events[slot].timestamp
            }
            return
        }
        // Parsed in place at the end of the events array: no copies of the event.
        result.events.append(LogEvent(timestamp: 0, kind: .unknown))
        let slot = result.events.count - 1
        switch SyslogParser.parse(line, referenceTime: options.fallbackTime ?? options.referenceTime, into: &result.events[slot]) {
        case nil:
            result.events[slot].fingerprint = StableHash.hash(line)
            lastTimestamp = result.events[slot].timestamp
        case .noTimestamp:
            // Not syslog-dated: a continuation or free-form line. Still an event, dated by
            // the record or the line before it.
            guard let time = options.fallbackTime ?? lastTimestamp else {
                result.events.removeLast()
                result.errors.append(RecordError(index: index, line: lineNumber,
                                                 reason: "no timestamp at the start of the line and no earlier line to date it by"))
                return
            }
            result.events[slot] = LogEvent(timestamp: time, kind: .unknown)
            SyslogParser.classify(UnsafeBufferPointer(rebasing: line[k...]), program: .other, into: &result.events[slot])
            result.events[slot].fingerprint = StableHash.hash(line)
        case .empty:
            result.events.removeLast()
        }
    }
}
