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

/// How to date and place events.
public struct ParseOptions: Sendable {
    /// Anchors the year of RFC 3164 syslog timestamps (see ``SyslogParser``). Clamped to
    /// ``UTC/supportedRange``: a Kafka record without a timestamp reports `Int64.min`.
    public var referenceTime: Int64 {
        didSet { referenceTime = UTC.clamp(referenceTime) }
    }
    /// Dates records that carry no timestamp of their own (a Kafka record's timestamp). Lines
    /// without one otherwise take the previous line's time (continuation lines), and JSON
    /// objects without one are errors. Clamped like ``referenceTime``.
    public var fallbackTime: Int64? {
        didSet { fallbackTime = fallbackTime.map(UTC.clamp) }
    }
    /// Events dated after this are refused (a ``RecordError`` saying so, counted in
    /// ``ParsedInput/futureEvents``): one far-future event would otherwise advance the
    /// detectors' event time so that every later event is late. nil: no bound.
    public var latestTime: Int64? {
        didSet { latestTime = latestTime.map(UTC.clamp) }
    }
    /// Where the input is (a hash of topic/partition/offset, or of the file's name). With each
    /// record's index it makes event fingerprints — and so anomaly ids — unique per position
    /// and identical on replay of the same input.
    public var origin: UInt64
    /// Added to each record's index in its fingerprint: an input that continues another (an
    /// API client's next chunk under the same context) numbers its records on from there, so
    /// the whole gives the ids one input would.
    public var firstIndex: Int = 0

    public init(referenceTime: Int64, fallbackTime: Int64? = nil, latestTime: Int64? = nil, origin: UInt64 = 0) {
        self.referenceTime = UTC.clamp(referenceTime)
        self.fallbackTime = fallbackTime.map(UTC.clamp)
        self.latestTime = latestTime.map(UTC.clamp)
        self.origin = origin
    }

    /// The origin of a Kafka partition's records, before the offset: see ``origin(partition:offset:)``.
    public static func origin(topic: String, partition: Int32) -> UInt64 {
        StableHash.combine(StableHash.hash(topic), UInt64(UInt32(bitPattern: partition)))
    }

    /// The origin of the Kafka record at `offset` of a partition (``origin(topic:partition:)``).
    public static func origin(partition: UInt64, offset: Int64) -> UInt64 {
        StableHash.combine(partition, UInt64(bitPattern: offset))
    }
}

/// The events and per-record errors of one input.
public struct ParsedInput: Sendable {
    public var events: [LogEvent] = []
    public var errors: [RecordError] = []
    /// Records seen (events + errors; a blank line is not a record).
    public var records = 0
    /// Records refused for being dated after ``ParseOptions/latestTime`` (also in ``errors``).
    public var futureEvents = 0
    /// Templates shared between events (kept by ``removeAll()``).
    var templates = TemplateCache()

    public init() {}

    /// Empties the result, keeping its storage for the next record.
    public mutating func removeAll() {
        events.removeAll(keepingCapacity: true)
        errors.removeAll(keepingCapacity: true)
        records = 0
        futureEvents = 0
    }
}

/// Turns input — one JSON object, a JSON array, NDJSON, several JSON objects, or plain log
/// lines (mixed with JSON lines if need be) — into events. Every record yields an event or a
/// ``RecordError``. Containers are told apart by ``RecordSplitter``.
public enum LogParser {
    /// Parses a whole input, detecting its container.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, options: ParseOptions) -> ParsedInput {
        var parser = InputParser(options: options)
        var result = ParsedInput()
        parser.feed(bytes, final: true, into: &result)
        return result
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// Parses one Kafka record value: a JSON object, a JSON array of them, a log line, or
    /// several NDJSON or log lines. A value that is not UTF-8 text is an error as a whole.
    public static func parseRecord(_ bytes: UnsafeBufferPointer<UInt8>, options: ParseOptions) -> ParsedInput {
        var result = ParsedInput()
        parseRecord(bytes, options: options, into: &result)
        return result
    }

    /// Like ``parseRecord(_:options:)``, appending to `result` — a caller parsing many records
    /// reuses one result (cleared between records) instead of allocating one per record.
    public static func parseRecord(
        _ bytes: UnsafeBufferPointer<UInt8>, options: ParseOptions, into result: inout ParsedInput
    ) {
        let recordsBefore = result.records
        var k = 0
        while k < bytes.count, isSpace(bytes[k]) { k += 1 }
        let first: UInt8? = k < bytes.count ? bytes[k] : nil
        var end = bytes.count
        while end > k, isSpace(bytes[end - 1]) { end -= 1 }
        if first == UInt8(ascii: "{") {
            // The usual record, one JSON object on one line, is decoded straight away (the
            // reader validates its UTF-8); an object that turns out to span lines (pretty-
            // printed, or NDJSON) goes to the splitter instead — found while reading, not by
            // scanning every record for line breaks first.
            var lines = LineParser(options: options)
            if !lines.parseObjectLine(UnsafeBufferPointer(rebasing: bytes[k..<end]), into: &result) {
                var parser = InputParser(options: options)
                parser.feed(bytes, final: true, into: &result)
            }
        } else if first == UInt8(ascii: "[") {
            // An array of objects.
            var parser = InputParser(options: options)
            parser.feed(bytes, final: true, into: &result)
        } else if hasInnerNewline(bytes, from: k) {
            guard isUTF8(bytes) else { return notText(into: &result) }
            var parser = InputParser(options: options)
            parser.feed(bytes, final: true, into: &result)
        } else {
            // One log line: the fast path.
            if !isUTF8(bytes) { return notText(into: &result) }
            if end > k {
                var lines = LineParser(options: options)
                lines.parseLine(UnsafeBufferPointer(rebasing: bytes[..<end]), index: 0, line: 1, into: &result)
            }
        }
        if result.records == recordsBefore {
            result.records += 1
            result.errors.append(RecordError(index: 0, line: nil, reason: "empty record"))
        }
    }

    private static func notText(into result: inout ParsedInput) {
        result.records += 1
        result.errors.append(RecordError(index: 0, line: nil, reason: "not UTF-8 text"))
    }

    /// A line break followed by more than whitespace.
    fileprivate static func hasInnerNewline(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        guard var i = ByteScan.firstIndex(of: 0x0A, in: bytes, from: start) else {
            return false
        }
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

/// Parses an input fed in chunks: ``RecordSplitter`` finds the records, and each becomes an
/// event or an error. Memory is bounded by the chunk and the longest record, never by the
/// input, so large files stream through.
public struct InputParser: Sendable {
    public var options: ParseOptions {
        get { lines.options }
        set { lines.options = newValue }
    }
    private var splitter: RecordSplitter
    private var lines: LineParser

    public init(options: ParseOptions, maxRecordBytes: Int = 4 << 20) {
        splitter = RecordSplitter(maxRecordBytes: maxRecordBytes)
        lines = LineParser(options: options)
    }

    /// The container found at the start of the input (nil until decided).
    public var container: RecordSplitter.Container? { splitter.container }

    /// Parses the records `chunk` completes (all that is left, with `final`) into `result`.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, final: Bool, into result: inout ParsedInput) {
        var lines = self.lines
        splitter.feed(chunk, final: final) { item in
            switch item {
            case .record(let record):
                switch record.kind {
                case .line: lines.parseLine(record.bytes, index: record.index, line: record.line, into: &result)
                case .element: lines.parseElement(record.bytes, index: record.index, into: &result)
                case .object: lines.parseObject(record.bytes, index: record.index, line: record.line, into: &result)
                }
            case .error(let index, let line, let reason):
                result.records += 1
                result.errors.append(RecordError(index: index, line: line, reason: reason))
            }
        }
        self.lines = lines
    }
}

/// Turns one record — a log line, a JSON line, an array element or an object — into an event
/// or an error. Keeps the last timestamp seen, to date continuation lines that have none.
public struct LineParser: Sendable {
    public var options: ParseOptions
    /// The last timestamp seen, for continuation lines without their own.
    private var lastTimestamp: Int64? = nil

    public init(options: ParseOptions) { self.options = options }

    /// Parses one line (without its line break; trailing blanks are ignored, and a blank line
    /// is not a record). `index` and `line` locate errors.
    public mutating func parseLine(
        _ raw: UnsafeBufferPointer<UInt8>, index: Int, line lineNumber: Int,
        into result: inout ParsedInput
    ) {
        let line = trimmingTrailing(raw) { $0 == 0x0D || $0 == 0x20 || $0 == 0x09 }
        var k = 0
        while k < line.count, line[k] == 0x20 || line[k] == 0x09 { k += 1 }
        guard k < line.count else { return }  // blank lines are not records
        if line[k] == UInt8(ascii: "{") {
            _ = parseJSONLine(
                UnsafeBufferPointer(rebasing: line[k...]), index: index, line: lineNumber, wholeRecord: false,
                into: &result)
            return
        }
        result.records += 1
        let slot = Self.appendBlank(&result)
        switch SyslogParser.parse(
            line, referenceTime: options.fallbackTime ?? options.referenceTime, latestTime: options.latestTime,
            into: &result.events[slot])
        {
        case nil:
            accept(line, index: index, line: lineNumber, into: &result)
        case .noTimestamp:
            // Not syslog-dated: a continuation or free-form line. Still an event, dated by
            // the record or the line before it.
            guard let time = options.fallbackTime ?? lastTimestamp else {
                result.events.removeLast()
                result.errors.append(
                    RecordError(
                        index: index, line: lineNumber,
                        reason: "no timestamp at the start of the line and no earlier line to date it by"))
                return
            }
            result.events[slot] = LogEvent(timestamp: time, kind: .unknown)
            SyslogParser.classify(
                UnsafeBufferPointer(rebasing: line[k...]), program: .other, into: &result.events[slot])
            accept(line, index: index, line: lineNumber, keepTime: false, into: &result)
        case .empty:
            result.events.removeLast()
        }
    }

    /// Parses a record that is one JSON object (`{` to `}`, trimmed) on one line, as
    /// ``parseLine(_:index:line:into:)`` would. False, with `result` untouched, if the JSON
    /// turns out to span lines: such a record is a pretty-printed object or NDJSON, for the
    /// ``RecordSplitter`` to take apart.
    public mutating func parseObjectLine(_ object: UnsafeBufferPointer<UInt8>, into result: inout ParsedInput) -> Bool {
        parseJSONLine(object, index: 0, line: 1, wholeRecord: true, into: &result)
    }

    /// Decodes an object that starts a line; with `wholeRecord`, returns false (adding nothing)
    /// if it spans lines.
    private mutating func parseJSONLine(
        _ object: UnsafeBufferPointer<UInt8>, index: Int, line lineNumber: Int, wholeRecord: Bool,
        into result: inout ParsedInput
    ) -> Bool {
        let slot = Self.appendBlank(&result)
        var sawNewline = false
        let failure = JSONEventDecoder.decode(
            object, into: &result.events[slot], fallbackTime: options.fallbackTime ?? lastTimestamp,
            templates: &result.templates, sawNewline: &sawNewline)
        // A failed read may have stopped before the line break (NDJSON: at the second object).
        if wholeRecord && (sawNewline || (failure != nil && LogParser.hasInnerNewline(object, from: 0))) {
            result.events.removeLast()
            return false
        }
        result.records += 1
        if let failure {
            result.events.removeLast()
            result.errors.append(RecordError(index: index, line: lineNumber, reason: failure.description))
        } else {
            accept(object, index: index, line: lineNumber, into: &result)
        }
        return true
    }

    /// Parses an element of a JSON array: an object, or an error naming the element.
    public mutating func parseElement(_ element: UnsafeBufferPointer<UInt8>, index: Int, into result: inout ParsedInput)
    {
        result.records += 1
        var k = 0
        while k < element.count, element[k] == 0x20 || element[k] == 0x0A || element[k] == 0x0D || element[k] == 0x09 {
            k += 1
        }
        guard k < element.count, element[k] == UInt8(ascii: "{") else {
            result.errors.append(RecordError(index: index, line: nil, reason: "array element is not an object"))
            return
        }
        decodeObject(element, index: index, line: nil, into: &result)
    }

    /// Parses a top-level object that spans lines.
    public mutating func parseObject(
        _ object: UnsafeBufferPointer<UInt8>, index: Int, line: Int, into result: inout ParsedInput
    ) {
        result.records += 1
        decodeObject(object, index: index, line: line, into: &result)
    }

    private mutating func decodeObject(
        _ bytes: UnsafeBufferPointer<UInt8>, index: Int, line: Int?, into result: inout ParsedInput
    ) {
        let slot = Self.appendBlank(&result)
        if let failure = JSONEventDecoder.decode(
            bytes, into: &result.events[slot], fallbackTime: options.fallbackTime, templates: &result.templates)
        {
            result.events.removeLast()
            result.errors.append(RecordError(index: index, line: line, reason: failure.description))
        } else {
            accept(bytes, index: index, line: line, into: &result)
        }
    }

    /// Appends a blank event for a parser to fill where it lies, returning its index (the caller
    /// removes it again if parsing fails). Building a fresh event per record, filling it and
    /// appending it made the compiler copy it (a retain per text field) and destroy the
    /// original: this way costs ~380 instructions less a record (callgrind, JSON and sshd).
    @inline(__always)
    private static func appendBlank(_ result: inout ParsedInput) -> Int {
        result.events.append(blankEvent)
        return result.events.count - 1
    }

    private static let blankEvent = LogEvent(timestamp: 0, kind: .unknown)

    /// Finishes the event just parsed into the last slot of `result.events` from `record`: it
    /// is refused if dated after ``ParseOptions/latestTime``, else fingerprinted by its bytes
    /// and its position (so identical records at different positions get different ids).
    private mutating func accept(
        _ record: UnsafeBufferPointer<UInt8>, index: Int, line: Int?, keepTime: Bool = true,
        into result: inout ParsedInput
    ) {
        let slot = result.events.count - 1
        let time = result.events[slot].timestamp
        if let latest = options.latestTime, time > latest {
            result.events.removeLast()
            result.futureEvents += 1
            result.errors.append(
                RecordError(
                    index: index, line: line,
                    reason: "event time \(UTC.format(time)) is after \(UTC.format(latest)), the latest accepted"
                        + " (max_future_skew past the current time): a clock or parsing error would otherwise"
                        + " make every later event late"))
            return
        }
        let position = StableHash.combine(
            options.origin, UInt64(truncatingIfNeeded: index.addingSaturated(options.firstIndex)))
        result.events[slot].fingerprint = StableHash.combine(StableHash.hash(record), position)
        if keepTime { lastTimestamp = time }
    }
}
