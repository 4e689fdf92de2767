/// One record of an input, as the splitter found it: a line, an element of a top-level JSON
/// array, or one of several top-level JSON objects.
public struct RawRecord {
    public enum Kind: Sendable {
        /// A line (without its line break). JSON lines and log lines alike.
        case line
        /// An element of a top-level JSON array.
        case element
        /// A top-level JSON object spanning lines (pretty-printed, or several concatenated).
        case object
    }

    public var bytes: UnsafeBufferPointer<UInt8>
    public var kind: Kind
    /// 0-based position among the input's records (blank lines are not records).
    public var index: Int
    /// 1-based line where the record starts.
    public var line: Int

    public init(bytes: UnsafeBufferPointer<UInt8>, kind: Kind, index: Int, line: Int) {
        self.bytes = bytes
        self.kind = kind
        self.index = index
        self.line = line
    }
}

/// What the splitter hands over: a record, or a problem with the input's structure.
public enum SplitItem {
    case record(RawRecord)
    /// A record that could not be split off (too long, an unclosed array, content after it).
    case error(index: Int, line: Int?, reason: String)
}

/// Splits an input, fed in chunks, into records — without parsing them, and with memory
/// bounded by the longest record it keeps (``maxRecordBytes``), never by the input's size.
///
/// The container is detected from the start of the input:
/// - `[` — a JSON array: each element is a record, handed over as soon as it is complete;
/// - `{` on a first line that is a whole object — lines (NDJSON, log lines mixed in freely);
/// - `{` starting an object that spans lines and is valid JSON — a sequence of top-level
///   objects (one pretty-printed object, or several concatenated); anything else after them is
///   read as lines;
/// - anything else — lines.
///
/// A broken first line does not make the whole input one record: it is read as lines, so the
/// broken line is one error and the rest is analysed.
public struct RecordSplitter: Sendable {
    public enum Container: Sendable { case lines, array, objects }

    /// Records longer than this are reported and skipped, so one huge record cannot take
    /// unbounded memory.
    public let maxRecordBytes: Int
    /// nil until the start of the input decided it.
    public private(set) var container: Container?

    private var buffer: [UInt8] = []
    /// Bytes of the input before `buffer[0]`.
    private var consumed = 0
    /// Line number at `buffer[0]` (objects mode).
    private var line = 1
    /// The next line's number (lines mode).
    private var lineNumber = 1
    /// Position in `buffer` where scanning resumes.
    private var scanned = 0
    /// Start (in `buffer`) of the record being scanned.
    private var recordStart = 0
    private var recordLine = 1
    private var index = 0
    private var nesting = JSONNesting()
    /// The record being scanned is too long: its bytes are dropped until it ends.
    private var oversized: Int? = nil
    /// After a closed top-level array: content there is reported once.
    private var afterArray = false
    private var reportedTrailing = false

    public init(maxRecordBytes: Int = 4 << 20) {
        self.maxRecordBytes = max(1024, maxRecordBytes)
    }

    /// Splits what `chunk` completes. With `final`, the input ends here: what is left is
    /// handed over too (and an unclosed array reported).
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, final: Bool, _ emit: (SplitItem) -> Void) {
        var bytes = buffer
        buffer = []
        bytes.append(contentsOf: chunk)
        bytes.withUnsafeBufferPointer { process($0, final: final, emit) }
        // Keep only what is not handed over yet.
        let keep = container == nil ? 0 : min(recordStart, scanned)
        if keep > 0 {
            countLines(bytes, upTo: keep)
            bytes.removeFirst(keep)
            consumed += keep
            scanned -= keep
            recordStart -= keep
        }
        buffer = bytes
    }

    private mutating func countLines(_ bytes: [UInt8], upTo end: Int) {
        guard container == .objects else { return }
        for index in 0..<end where bytes[index] == 0x0A { line += 1 }
    }

    private mutating func process(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, _ emit: (SplitItem) -> Void) {
        if container == nil {
            guard let decided = detect(bytes, final: final) else { return }
            container = decided
        }
        switch container {
        case .lines: splitLines(bytes, final: final, emit)
        case .array: splitArray(bytes, final: final, emit)
        case .objects: splitObjects(bytes, final: final, emit)
        case nil: break
        }
    }

    // MARK: Container detection

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    /// Decides the container, or returns nil to wait for more input.
    private mutating func detect(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool) -> Container? {
        var start = 0
        if consumed == 0, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            start = 3
        }  // BOM
        else if consumed == 0, bytes.count < 3, !final, bytes.first == 0xEF {
            return nil
        }
        var first = start
        while first < bytes.count, Self.isSpace(bytes[first]) { first += 1 }
        guard first < bytes.count else { return final || bytes.count > maxRecordBytes ? .lines : nil }
        switch bytes[first] {
        case UInt8(ascii: "["):
            // Elements start after the bracket; what precedes it is whitespace.
            scanned = first + 1
            recordStart = first + 1
            nesting.depth = 1
            return .array
        case UInt8(ascii: "{"):
            guard let end = Self.endOfFirstObject(bytes, from: first, limit: maxRecordBytes) else {
                // Not closed yet: wait for more, unless the limit or the input's end says otherwise.
                return !final && bytes.count - first < maxRecordBytes ? nil : .lines
            }
            let lineEnd =
                ByteScan.firstIndex(of: 0x0A, in: bytes, from: first) ?? bytes.count
            if end <= lineEnd {
                return .lines  // the first line is a whole object: NDJSON (with log lines mixed in, perhaps)
            }
            var reader = JSONReader(UnsafeBufferPointer(rebasing: bytes[first..<end]))
            guard (try? reader.readObject { _, _ in }) != nil else { return .lines }
            scanned = start
            recordStart = start
            return .objects
        default:
            return .lines
        }
    }

    /// The end (exclusive) of the object starting at `start`, found by nesting alone.
    private static func endOfFirstObject(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, limit: Int) -> Int? {
        var nesting = JSONNesting()
        for index in start..<min(bytes.count, start + limit) {
            guard let byte = nesting.structural(bytes[index]) else { continue }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                nesting.depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                nesting.depth -= 1
                if nesting.depth == 0 { return index + 1 }
            }
        }
        return nil
    }

    // MARK: Lines

    private mutating func splitLines(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, _ emit: (SplitItem) -> Void) {
        var position = scanned
        if consumed == 0 && position == 0, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            position = 3
        }
        while position < bytes.count {
            guard let newline = ByteScan.firstIndex(of: 0x0A, in: bytes, from: position).map({ $0 - position }) else {
                break
            }
            let end = position + newline
            emitLine(bytes, position..<end, emit)
            position = end + 1
        }
        if position < bytes.count {
            if final {
                emitLine(bytes, position..<bytes.count, emit)
                position = bytes.count
            } else if oversized != nil || bytes.count - position > maxRecordBytes {
                // Too long to keep: count it and drop its bytes until its line ends.
                oversized = (oversized ?? 0) + bytes.count - position
                position = bytes.count
            }
        } else if final, oversized != nil {
            emitLine(bytes, position..<position, emit)
        }
        scanned = position
        recordStart = position
    }

    /// Hands over one line (blank lines are not records), or reports it when it was too long.
    private mutating func emitLine(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ emit: (SplitItem) -> Void
    ) {
        let number = lineNumber
        lineNumber += 1
        if let skipped = oversized {
            oversized = nil
            emit(
                .error(
                    index: index, line: number,
                    reason:
                        "line of \(skipped + range.count) bytes is longer than the \(maxRecordBytes)-byte limit; skipped"
                ))
            index += 1
            return
        }
        // Trailing blanks go; leading ones stay (a syslog parser may care), but a line of
        // nothing else is not a record.
        var end = range.upperBound
        while end > range.lowerBound, bytes[end - 1] == 0x0D || bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 {
            end -= 1
        }
        guard end > range.lowerBound else { return }
        emit(
            .record(
                RawRecord(
                    bytes: UnsafeBufferPointer(rebasing: bytes[range.lowerBound..<end]), kind: .line,
                    index: index, line: number)))
        index += 1
    }

    // MARK: Arrays

    private mutating func splitArray(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, _ emit: (SplitItem) -> Void) {
        var position = scanned
        if afterArray {
            trailing(bytes, from: position, emit)
            scanned = bytes.count
            recordStart = bytes.count
            return
        }
        while position < bytes.count {
            defer { position += 1 }
            guard let byte = nesting.structural(bytes[position]) else { continue }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["): nesting.depth += 1
            case UInt8(ascii: "}"): nesting.depth -= 1
            case UInt8(ascii: "]") where nesting.depth == 1:
                // The array closes: its last element, unless the array is empty.
                if index > 0 || oversized != nil || !Self.isBlank(bytes, recordStart..<position) {
                    emitRecord(bytes, end: position, kind: .element, emit)
                }
                afterArray = true
                trailing(bytes, from: position + 1, emit)
                scanned = bytes.count
                recordStart = bytes.count
                return
            case UInt8(ascii: "]"): nesting.depth -= 1
            case UInt8(ascii: ",") where nesting.depth == 1:
                emitRecord(bytes, end: position, kind: .element, emit)
                recordStart = position + 1
            default: break
            }
        }
        scanned = position
        if final {
            if oversized != nil || !Self.isBlank(bytes, recordStart..<position) {
                emitRecord(bytes, end: position, kind: .element, emit)
            }
            emit(.error(index: index, line: nil, reason: "the array is not closed (input ends inside it)"))
            recordStart = position
        } else {
            dropIfOversized(bytes.count)
        }
    }

    /// Hands over the record from `recordStart` to `end` — or, if it grew past the limit, an
    /// error saying so.
    private mutating func emitRecord(
        _ bytes: UnsafeBufferPointer<UInt8>, end: Int, kind: RawRecord.Kind,
        _ emit: (SplitItem) -> Void
    ) {
        let line = kind == .object ? recordLine : nil
        if let skipped = oversized {
            oversized = nil
            let what = kind == .object ? "object" : "array element"
            emit(
                .error(
                    index: index, line: line,
                    reason:
                        "\(what) of \(skipped + end - recordStart) bytes is longer than the \(maxRecordBytes)-byte limit; skipped"
                ))
        } else {
            emit(
                .record(
                    RawRecord(
                        bytes: UnsafeBufferPointer(rebasing: bytes[recordStart..<end]), kind: kind,
                        index: index, line: recordLine)))
        }
        index += 1
    }

    /// Content after a closed array is an error (reported once); whitespace is fine.
    private mutating func trailing(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ emit: (SplitItem) -> Void) {
        guard !reportedTrailing else { return }
        var position = start
        while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
        if position < bytes.count {
            reportedTrailing = true
            emit(
                .error(
                    index: index, line: nil, reason: "unexpected content after the array at byte \(consumed + position)"
                ))
        }
    }

    // MARK: Concatenated objects

    private mutating func splitObjects(_ bytes: UnsafeBufferPointer<UInt8>, final: Bool, _ emit: (SplitItem) -> Void) {
        var position = scanned
        var lineAt = line
        // Line numbers: count the line breaks between the buffer start and `position`.
        for offset in 0..<position where bytes[offset] == 0x0A { lineAt += 1 }
        while position < bytes.count {
            let byte = bytes[position]
            if nesting.depth == 0 {
                if byte == 0x0A { lineAt += 1 }
                if Self.isSpace(byte) {
                    position += 1
                    recordStart = position
                    continue
                }
                guard byte == UInt8(ascii: "{") else {
                    // Not an object: the rest of the input is read as lines.
                    container = .lines
                    lineNumber = lineAt
                    scanned = position
                    recordStart = position
                    splitLines(bytes, final: final, emit)
                    return
                }
                recordStart = position
                recordLine = lineAt
            }
            if byte == 0x0A { lineAt += 1 }
            defer { position += 1 }
            guard let structural = nesting.structural(byte) else { continue }
            if structural == UInt8(ascii: "{") || structural == UInt8(ascii: "[") {
                nesting.depth += 1
            } else if structural == UInt8(ascii: "}") || structural == UInt8(ascii: "]") {
                nesting.depth -= 1
                if nesting.depth == 0 {
                    emitRecord(bytes, end: position + 1, kind: .object, emit)
                    recordStart = position + 1
                }
            }
        }
        scanned = position
        if final {
            if nesting.depth > 0 || oversized != nil { emitRecord(bytes, end: position, kind: .object, emit) }
            nesting = JSONNesting()
            recordStart = position
        } else if nesting.depth == 0 {
            recordStart = position
        } else {
            dropIfOversized(bytes.count)
        }
    }

    /// A record still open past the limit: count its bytes and drop them (its end is still
    /// found, since the scan state survives).
    private mutating func dropIfOversized(_ end: Int) {
        let open = end - recordStart
        guard oversized != nil || open > maxRecordBytes else { return }
        oversized = (oversized ?? 0) + open
        // Line breaks inside the dropped part still count (objects mode).
        recordStart = end
        scanned = end
    }

    private static func isBlank(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        range.allSatisfy { isSpace(bytes[$0]) }
    }
}

/// Where a scan of JSON bytes is: inside a string (after an escape?) and how deep in brackets.
private struct JSONNesting: Sendable {
    var depth = 0
    private var inString = false
    private var escaped = false

    /// Feeds one byte: returns it when it is structural (outside strings), nil otherwise.
    @inline(__always)
    mutating func structural(_ byte: UInt8) -> UInt8? {
        if inString {
            if escaped {
                escaped = false
            } else if byte == 0x5C {
                escaped = true
            } else if byte == 0x22 {
                inString = false
            }
            return nil
        }
        if byte == 0x22 {
            inString = true
            return nil
        }
        return byte
    }
}
