/// A syntax error in JSON input, with the byte offset where it was found.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

/// A scalar JSON value seen while reading an object.
public enum JSONScalar {
    /// The string's bytes, unescaped (valid UTF-8).
    case string(UnsafeBufferPointer<UInt8>)
    /// The number's text (validated JSON number syntax).
    case number(UnsafeBufferPointer<UInt8>)
    case bool(Bool)
    case null
}

/// A strict, allocation-light JSON reader over bytes that reports every scalar of an object
/// with its dotted key path (`user.name`, `source.geo.country_iso_code`). Nested arrays are
/// validated and skipped, except a two-number array, which is reported as `path[0]`/`path[1]`
/// (GeoJSON `[lon, lat]`).
///
/// Built for throughput: no tree is materialised and strings without escapes are not copied.
public struct JSONReader: ~Copyable {
    private let p: UnsafeBufferPointer<UInt8>
    private var i: Int
    /// The current key path, in a buffer of our own: appending a key and cutting it off again
    /// for every member through an `Array` (uniqueness checks, generic range replacement) was
    /// a tenth of a JSON event's instructions.
    private var path: UnsafeMutablePointer<UInt8>
    private var pathCount = 0
    private var pathCapacity = 128
    /// Scratch for unescaped strings.
    private var scratch: [UInt8] = []
    /// Whether whitespace skipped so far held a line break (the object spans lines: a record
    /// reader that took it for one line hands it to its splitter instead).
    public private(set) var sawNewline = false
    private static let maxDepth = 32

    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        p = bytes
        i = 0
        path = .allocate(capacity: pathCapacity)
    }

    deinit { path.deallocate() }

    private var pathBytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: path, count: pathCount) }

    private mutating func appendToPath(_ bytes: UnsafeBufferPointer<UInt8>) {
        reservePath(bytes.count)
        if let base = bytes.baseAddress { (path + pathCount).update(from: base, count: bytes.count) }
        pathCount += bytes.count
    }

    @inline(__always) private mutating func appendToPath(_ byte: UInt8) {
        reservePath(1)
        path[pathCount] = byte
        pathCount += 1
    }

    @inline(__always) private mutating func reservePath(_ count: Int) {
        if pathCount + count > pathCapacity { growPath(pathCount + count) }
    }

    private mutating func growPath(_ needed: Int) {
        var capacity = pathCapacity * 2
        while capacity < needed { capacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.update(from: path, count: pathCount)
        path.deallocate()
        path = grown
        pathCapacity = capacity
    }

    /// Reads a key (at `"`) onto the path.
    private mutating func appendKeyToPath() throws(JSONSyntaxError) {
        if let direct = try Self.readStringDirect(p, &i) {
            // A key in the input: when 16 bytes from its start lie in the input too, it is
            // copied as two word moves instead of a call to memmove (keys are a few bytes). The
            // bytes moved past its end are scratch: the count leaves them out, and the path
            // has room for them.
            guard let key = direct.baseAddress, let input = p.baseAddress, direct.count <= 16,
                input + p.count - key >= 16
            else {
                appendToPath(direct)
                return
            }
            reservePath(16)
            let to = UnsafeMutableRawPointer(path + pathCount)
            let from = UnsafeRawPointer(key)
            to.storeBytes(of: from.loadUnaligned(as: UInt64.self), as: UInt64.self)
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self)
            pathCount += direct.count
        } else {
            scratch.removeAll(keepingCapacity: true)
            try Self.appendString(p, &i, to: &scratch)
            scratch.withUnsafeBufferPointer { appendToPath($0) }
        }
    }

    /// Reads exactly one object (surrounded by optional whitespace) and calls `visit` for each
    /// scalar with its key path.
    public mutating func readObject(_ visit: (UnsafeBufferPointer<UInt8>, JSONScalar) -> Void) throws(JSONSyntaxError) {
        skipWhitespace()
        guard i < p.count else { throw error("empty input") }
        guard p[i] == UInt8(ascii: "{") else { throw error("expected an object, found \(describe(p[i]))") }
        try readValue(depth: 0, visit)
        skipWhitespace()
        guard i == p.count else { throw error("unexpected \(describe(p[i])) after the object") }
    }

    /// Reads exactly one object and returns each member's key with the byte range of its value
    /// (validated, not decoded): for envelopes whose members are handled apart, such as an API
    /// request's `logs` array, fed on to the record reader as it stands.
    public mutating func readMembers() throws(JSONSyntaxError) -> [(key: String, value: Range<Int>)] {
        skipWhitespace()
        guard i < p.count else { throw error("empty input") }
        guard p[i] == UInt8(ascii: "{") else { throw error("expected an object, found \(describe(p[i]))") }
        i += 1
        var members: [(key: String, value: Range<Int>)] = []
        skipWhitespace()
        if i < p.count, p[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipWhitespace()
                guard i < p.count, p[i] == UInt8(ascii: "\"") else {
                    throw i < p.count
                        ? error("expected a key string, found \(describe(p[i]))") : error("unterminated object")
                }
                var key: [UInt8] = []
                try Self.appendString(p, &i, to: &key)
                skipWhitespace()
                guard i < p.count, p[i] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                i += 1
                skipWhitespace()
                let start = i
                try readValue(depth: 1) { _, _ in }
                members.append((String(decoding: key, as: UTF8.self), start..<i))
                skipWhitespace()
                guard i < p.count else { throw error("unterminated object") }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "}") {
                    i += 1
                    break
                }
                throw error("expected ',' or '}', found \(describe(p[i]))")
            }
        }
        skipWhitespace()
        guard i == p.count else { throw error("unexpected \(describe(p[i])) after the object") }
        return members
    }

    /// The text of a JSON string literal that is all of `bytes` (escapes decoded); nil when
    /// `bytes` is some other value.
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> [UInt8]? {
        guard bytes.first == UInt8(ascii: "\"") else { return nil }
        var i = 0
        var out: [UInt8] = []
        try appendString(bytes, &i, to: &out)
        guard i == bytes.count else { return nil }
        return out
    }

    private static var index0: UnsafeBufferPointer<UInt8> { bytes("[0]") }
    private static var index1: UnsafeBufferPointer<UInt8> { bytes("[1]") }

    @inline(__always) private static func bytes(_ text: StaticString) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
    }

    private func error(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, reason: reason) }

    private func describe(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    @inline(__always) private mutating func skipWhitespace() {
        // Compact JSON has none: one comparison settles the common case.
        guard i < p.count, p[i] <= 0x20 else { return }
        while i < p.count {
            let c = p[i]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            if c == 0x0A { sawNewline = true }
            i += 1
        }
    }

    private mutating func readValue(
        depth: Int, _ visit: (UnsafeBufferPointer<UInt8>, JSONScalar) -> Void
    ) throws(JSONSyntaxError) {
        guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        skipWhitespace()
        guard i < p.count else { throw error("unexpected end of input") }
        switch p[i] {
        case UInt8(ascii: "{"):
            i += 1
            skipWhitespace()
            if i < p.count, p[i] == UInt8(ascii: "}") {
                i += 1
                return
            }
            let base = pathCount
            while true {
                skipWhitespace()
                guard i < p.count, p[i] == UInt8(ascii: "\"") else {
                    throw i < p.count
                        ? error("expected a key string, found \(describe(p[i]))") : error("unterminated object")
                }
                if base > 0 { appendToPath(UInt8(ascii: ".")) }
                try appendKeyToPath()
                skipWhitespace()
                guard i < p.count, p[i] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                i += 1
                skipWhitespace()
                // Most members are strings without escapes: read here, not in a call per member.
                if i < p.count, p[i] == UInt8(ascii: "\""), let direct = try Self.readStringDirect(p, &i) {
                    visit(pathBytes, .string(direct))
                } else {
                    try readValue(depth: depth + 1, visit)
                }
                pathCount = base
                skipWhitespace()
                guard i < p.count else { throw error("unterminated object") }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "}") {
                    i += 1
                    return
                }
                throw error("expected ',' or '}', found \(describe(p[i]))")
            }
        case UInt8(ascii: "["):
            i += 1
            skipWhitespace()
            if i < p.count, p[i] == UInt8(ascii: "]") {
                i += 1
                return
            }
            // Only a pair of numbers ([lon, lat]) is reported, element by element: kept in
            // two locals, not an array allocated for every array in every record.
            var numbers = (first: (0, 0), second: (0, 0), count: 0)
            var onlyNumbers = true
            while true {
                skipWhitespace()
                let start = i
                if i < p.count, p[i] == UInt8(ascii: "-") || (p[i] >= 48 && p[i] <= 57) {
                    try skipNumber()
                    if numbers.count == 0 { numbers.first = (start, i - start) }
                    if numbers.count == 1 { numbers.second = (start, i - start) }
                    numbers.count += 1
                } else {
                    onlyNumbers = false
                    try readValue(depth: depth + 1) { _, _ in }
                }
                skipWhitespace()
                guard i < p.count else { throw error("unterminated array") }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "]") {
                    i += 1
                    break
                }
                throw error("expected ',' or ']', found \(describe(p[i]))")
            }
            if onlyNumbers && numbers.count == 2 {
                let base = pathCount
                appendToPath(Self.index0)
                visit(
                    pathBytes,
                    .number(UnsafeBufferPointer(rebasing: p[numbers.first.0..<numbers.first.0 + numbers.first.1])))
                pathCount = base
                appendToPath(Self.index1)
                visit(
                    pathBytes,
                    .number(UnsafeBufferPointer(rebasing: p[numbers.second.0..<numbers.second.0 + numbers.second.1])))
                pathCount = base
            }
        case UInt8(ascii: "\""):
            if let direct = try Self.readStringDirect(p, &i) {
                visit(pathBytes, .string(direct))
            } else {
                scratch.removeAll(keepingCapacity: true)
                try Self.appendString(p, &i, to: &scratch)
                let key = pathBytes
                scratch.withUnsafeBufferPointer { visit(key, .string($0)) }
            }
        case UInt8(ascii: "t"):
            try literal("true")
            visit(pathBytes, .bool(true))
        case UInt8(ascii: "f"):
            try literal("false")
            visit(pathBytes, .bool(false))
        case UInt8(ascii: "n"):
            try literal("null")
            visit(pathBytes, .null)
        case UInt8(ascii: "-"), 48...57:
            let start = i
            try skipNumber()
            visit(pathBytes, .number(UnsafeBufferPointer(rebasing: p[start..<i])))
        default:
            throw error("unexpected \(describe(p[i]))")
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard p.count - i >= count else { throw error("invalid literal") }
        for k in 0..<count where p[i + k] != word.utf8Start[k] { throw error("invalid literal") }
        i += count
    }

    private mutating func skipNumber() throws(JSONSyntaxError) {
        if p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < p.count, p[i] >= 48 && p[i] <= 57 else { throw error("invalid number") }
        if p[i] == 48 { i += 1 } else { while i < p.count, p[i] >= 48 && p[i] <= 57 { i += 1 } }
        if i < p.count, p[i] == UInt8(ascii: ".") {
            i += 1
            guard i < p.count, p[i] >= 48 && p[i] <= 57 else { throw error("invalid number: no digits after '.'") }
            while i < p.count, p[i] >= 48 && p[i] <= 57 { i += 1 }
        }
        if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            i += 1
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            guard i < p.count, p[i] >= 48 && p[i] <= 57 else { throw error("invalid number exponent") }
            while i < p.count, p[i] >= 48 && p[i] <= 57 { i += 1 }
        }
    }

    /// A string without escapes, returned in place (no copy); nil (position unchanged) if the
    /// string has escapes. Validates UTF-8 and control characters.
    ///
    /// Scans eight bytes at a time: a word with no quote, backslash, control or non-ASCII byte
    /// is skipped whole (the common case for log fields).
    @inline(__always) private static func readStringDirect(
        _ p: UnsafeBufferPointer<UInt8>, _ i: inout Int
    ) throws(JSONSyntaxError) -> UnsafeBufferPointer<UInt8>? {
        let start = i + 1
        var j = start
        var ascii = true
        let n = p.count
        if let base = p.baseAddress {
            let raw = UnsafeRawPointer(base)
            while n - j >= 8 {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: j, as: UInt64.self))
                let flags = Self.attention(word)
                if flags == 0 {
                    j += 8
                } else {
                    // The lowest flag is exact (borrows only flag bytes above a true one):
                    // the byte loop starts at the quote that usually ends the string.
                    j += flags.trailingZeroBitCount >> 3
                    break
                }
            }
        }
        while j < n {
            let c = p[j]
            if c == UInt8(ascii: "\"") {
                let bytes = UnsafeBufferPointer(rebasing: p[start..<j])
                if !ascii { try validateUTF8(bytes, at: start) }
                i = j + 1
                return bytes
            }
            if c == UInt8(ascii: "\\") { return nil }
            if c < 0x20 { throw JSONSyntaxError(offset: j, reason: "control character in string") }
            if c >= 0x80 { ascii = false }
            j += 1
        }
        throw JSONSyntaxError(offset: i, reason: "unterminated string")
    }

    @inline(__always) private static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var combined: UInt8 = 0
        for b in bytes { combined |= b }
        return combined < 0x80
    }

    /// The high bit of each byte of the word that is a quote, a backslash, a control byte or
    /// non-ASCII (zero: none is); bytes above the first flagged one may be flagged wrongly.
    @inline(__always)
    private static func attention(_ x: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = x ^ (ones &* 0x22)
        let backslash = x ^ (ones &* 0x5C)
        let zeroQuote = (quote &- ones) & ~quote & highs
        let zeroBackslash = (backslash &- ones) & ~backslash & highs
        let control = (x &- ones &* 0x20) & ~x & highs
        return zeroQuote | zeroBackslash | control | (x & highs)
    }

    private static func validateUTF8(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) throws(JSONSyntaxError) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: break loop
            case .error: throw JSONSyntaxError(offset: offset, reason: "invalid UTF-8 in string")
            }
        }
    }

    /// Reads a string (at `"`) and appends its unescaped bytes.
    private static func appendString(
        _ p: UnsafeBufferPointer<UInt8>, _ i: inout Int, to out: inout [UInt8]
    ) throws(JSONSyntaxError) {
        if let direct = try readStringDirect(p, &i) {
            out.append(contentsOf: direct)
            return
        }
        i += 1
        var runStart = i
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: p[runStart..<i])
                if !Self.isASCII(run) { try validateUTF8(run, at: runStart) }
                out.append(contentsOf: run)
                i += 1
                return
            }
            if c < 0x20 { throw JSONSyntaxError(offset: i, reason: "control character in string") }
            if c != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            let run = UnsafeBufferPointer(rebasing: p[runStart..<i])
            if !Self.isASCII(run) { try validateUTF8(run, at: runStart) }
            out.append(contentsOf: run)
            i += 1
            guard i < p.count else { throw JSONSyntaxError(offset: i, reason: "unterminated string") }
            let e = p[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(p, &i)
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard p.count - i >= 6, p[i] == 0x5C, p[i + 1] == UInt8(ascii: "u") else {
                        throw JSONSyntaxError(offset: i, reason: "unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4(p, &i)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw JSONSyntaxError(offset: i, reason: "invalid low surrogate")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw JSONSyntaxError(offset: i, reason: "unpaired surrogate")
                }
                guard let unicode = Unicode.Scalar(scalar), let encoded = UTF8.encode(unicode) else {
                    throw JSONSyntaxError(offset: i, reason: "invalid \\u escape")
                }
                out.append(contentsOf: encoded)
            default:
                throw JSONSyntaxError(offset: i, reason: "invalid escape '\\\(Character(Unicode.Scalar(e)))'")
            }
            runStart = i
        }
        throw JSONSyntaxError(offset: i, reason: "unterminated string")
    }

    private static func hex4(_ p: UnsafeBufferPointer<UInt8>, _ i: inout Int) throws(JSONSyntaxError) -> UInt32 {
        guard p.count - i >= 4 else { throw JSONSyntaxError(offset: i, reason: "truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = p[i]
            let digit: UInt32
            switch c {
            case 48...57: digit = UInt32(c - 48)
            case 97...102: digit = UInt32(c - 87)
            case 65...70: digit = UInt32(c - 55)
            default: throw JSONSyntaxError(offset: i, reason: "invalid \\u escape")
            }
            value = value << 4 | digit
            i += 1
        }
        return value
    }
}

extension JSONScalar {
    /// The value as text: strings as-is, numbers as written, booleans as `true`/`false`.
    public var text: String? {
        switch self {
        case .string(let bytes), .number(let bytes): String(decoding: bytes, as: UTF8.self)
        case .bool(let value): value ? "true" : "false"
        case .null: nil
        }
    }

    /// The value as a number: JSON numbers, and strings holding one.
    public var double: Double? {
        switch self {
        case .number(let bytes), .string(let bytes): parseDouble(bytes)
        default: nil
        }
    }
}

/// Parses a decimal number (integer fast path, else strtod semantics via Double(String)).
func parseDouble(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
    guard !bytes.isEmpty, bytes.count < 40 else { return nil }
    var value: Int64 = 0
    var negative = false
    var k = 0
    if bytes[0] == UInt8(ascii: "-") {
        negative = true
        k = 1
    }
    guard k < bytes.count else { return nil }
    var integer = true
    while k < bytes.count {
        let c = bytes[k]
        guard c >= 48 && c <= 57, value < 100_000_000_000_000_000 else {
            integer = false
            break
        }
        value = value * 10 + Int64(c - 48)
        k += 1
    }
    if integer { return Double(negative ? -value : value) }
    return Double(String(decoding: bytes, as: UTF8.self))
}
