/// Finding a byte eight bytes at a time: the generic `firstIndex(of:)` looks at one byte per
/// step, and every log-line record is scanned for a newline before it is parsed (it was 5% of
/// a JSON event's instructions, measured with callgrind, before JSON records stopped needing
/// the scan).
enum ByteScan {
    /// The index of the first `byte` in `bytes` at or after `start`, if any.
    static func firstIndex(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, from start: Int = 0) -> Int? {
        var i = max(0, start)
        let n = bytes.count
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            let pattern = ones &* UInt64(byte)
            while n - i >= 8 {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ pattern
                // A zero byte in `word` is a match (the classic has-zero-byte test, exact for
                // the first match: borrows only run upward from a zero byte).
                let found = (word &- ones) & ~word & highs
                if found != 0 { return i + found.trailingZeroBitCount / 8 }
                i += 8
            }
        }
        while i < n {
            if bytes[i] == byte { return i }
            i += 1
        }
        return nil
    }
}
