/// Forward-only reading of a byte buffer, for the log-line parsers: no allocation until a
/// field is turned into a String.
struct ByteCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var i: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int = 0) {
        self.bytes = bytes
        self.i = start
    }

    var atEnd: Bool { i >= bytes.count }
    var rest: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[min(i, bytes.count)...]) }
    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    /// Consumes `literal` if the remaining bytes start with it.
    @inline(__always)
    mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - i >= count else { return false }
        let start = literal.utf8Start
        for k in 0..<count where bytes[i + k] != start[k] { return false }
        i += count
        return true
    }

    func startsWith(_ literal: StaticString) -> Bool {
        var copy = self
        return copy.skip(literal)
    }

    mutating func skipSpaces() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
    }

    /// Bytes up to (not including) the next space; at least one byte.
    mutating func token() -> UnsafeBufferPointer<UInt8>? {
        let start = i
        while i < bytes.count, bytes[i] != 0x20, bytes[i] != 0x09 { i += 1 }
        return i > start ? UnsafeBufferPointer(rebasing: bytes[start..<i]) : nil
    }

    /// Bytes up to `delimiter` (consumed); nil if it does not occur.
    mutating func upTo(_ delimiter: UInt8) -> UnsafeBufferPointer<UInt8>? {
        var j = i
        while j < bytes.count, bytes[j] != delimiter { j += 1 }
        guard j < bytes.count else { return nil }
        defer { i = j + 1 }
        return UnsafeBufferPointer(rebasing: bytes[i..<j])
    }

    /// Bytes up to the first occurrence of `literal` (consumed); nil if it does not occur.
    mutating func upTo(_ literal: StaticString) -> UnsafeBufferPointer<UInt8>? {
        guard let at = find(literal, from: i) else { return nil }
        defer { i = at + literal.utf8CodeUnitCount }
        return UnsafeBufferPointer(rebasing: bytes[i..<at])
    }

    func find(_ literal: StaticString, from start: Int) -> Int? {
        let count = literal.utf8CodeUnitCount
        guard count > 0, bytes.count >= count else { return nil }
        let needle = literal.utf8Start
        // Candidates are found a word at a time (ByteScan), by a byte of the needle that is not
        // a space when there is one among its first two: spaces are everywhere in a log line,
        // and a byte loop over them was most of an sshd line's `… from IP` search.
        let anchor = count > 1 && needle[0] == 0x20 ? 1 : 0
        var j = start
        let last = bytes.count - count
        while j <= last {
            guard let at = ByteScan.firstIndex(of: needle[anchor], in: bytes, from: j + anchor) else { return nil }
            let candidate = at - anchor
            guard candidate <= last else { return nil }
            var k = 0
            while k < count, bytes[candidate + k] == needle[k] { k += 1 }
            if k == count { return candidate }
            j = candidate + 1
        }
        return nil
    }

    func contains(_ literal: StaticString) -> Bool { find(literal, from: i) != nil }

    /// An unsigned decimal number.
    mutating func number() -> Int? {
        var value = 0
        let start = i
        while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57, i - start < 18 {
            value = value * 10 + Int(bytes[i] - 48)
            i += 1
        }
        return i > start ? value : nil
    }
}

extension String {
    /// Decodes bytes as UTF-8 (invalid sequences become U+FFFD).
    init(bytes: UnsafeBufferPointer<UInt8>) {
        self = String(decoding: bytes, as: UTF8.self)
    }
}

/// Trims trailing characters from a byte slice.
func trimmingTrailing(_ bytes: UnsafeBufferPointer<UInt8>, _ isTrimmed: (UInt8) -> Bool) -> UnsafeBufferPointer<UInt8> {
    var end = bytes.count
    while end > 0, isTrimmed(bytes[end - 1]) { end -= 1 }
    return UnsafeBufferPointer(rebasing: bytes[0..<end])
}
