/// A fixed string → value table looked up by raw bytes, without building a String: open
/// addressing on a 64-bit hash of the bytes, then a byte comparison with the stored key, so a
/// colliding hash can never alias one key for another.
///
/// Every JSON member goes through one lookup, so it is laid out for that: a slot's hash,
/// length, key position and value in one entry (one cache line per probe, one bounds check),
/// and keys of up to 16 bytes — nearly all of them — compared as two words, not by `memcmp`.
struct KeyTable<Value> {
    fileprivate struct Entry {
        var hash: UInt64
        /// The key's first and second eight bytes, zero-padded (keys of up to 16 bytes).
        var word0: UInt64
        var word1: UInt64
        var start: Int32
        /// -1: an empty slot.
        var length: Int32
        var value: Value?
    }
    private var entries: [Entry]
    /// Every key's bytes in one array (`start`, `length` of an entry): only keys longer than
    /// 16 bytes are compared against it.
    private var keyBytes: [UInt8] = []
    private let mask: Int

    init(_ entries: [String: Value]) {
        var capacity = 16
        while capacity < entries.count * 4 { capacity *= 2 }
        mask = capacity - 1
        self.entries = Array(
            repeating: Entry(hash: 0, word0: 0, word1: 0, start: 0, length: -1, value: nil), count: capacity)
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(key.utf8)
            let words = bytes.withUnsafeBufferPointer { Self.words($0) }
            let h = bytes.withUnsafeBufferPointer { Self.hash($0, words) }
            var slot = Int(truncatingIfNeeded: h) & mask
            while self.entries[slot].length >= 0 { slot = (slot + 1) & mask }
            self.entries[slot] = Entry(
                hash: h, word0: words.0, word1: words.1, start: Int32(keyBytes.count), length: Int32(bytes.count),
                value: value)
            keyBytes.append(contentsOf: bytes)
        }
    }

    /// The first 16 bytes of `key` as two little-endian words, zero above its end.
    @inline(__always)
    private static func words(_ key: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64) {
        let raw = UnsafeRawBufferPointer(key)
        let n = key.count
        if n >= 16 {
            return (
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
        if n >= 8 {
            let first = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            return (first, n == 8 ? 0 : StableHash.tail(raw, from: 8))
        }
        return (n == 0 ? 0 : StableHash.tail(raw, from: 0), 0)
    }

    /// The table's own hash of a key (never stored or sent anywhere): keys of up to 16 bytes
    /// are mixed once from the words already loaded for the comparison, which costs a lookup a
    /// fraction of a full ``StableHash`` of the bytes.
    @inline(__always)
    private static func hash(_ key: UnsafeBufferPointer<UInt8>, _ words: (UInt64, UInt64)) -> UInt64 {
        guard key.count <= 16 else { return StableHash.hash(key) }
        let product = (words.0 ^ 0xa076_1d64_78bd_642f).multipliedFullWidth(
            by: words.1 ^ 0xe703_7ed1_a0b4_28db ^ UInt64(key.count) &* 0x9E37_79B9_7F4A_7C15)
        return product.high ^ product.low
    }

    subscript(_ key: UnsafeBufferPointer<UInt8>) -> Value? {
        let words = Self.words(key)
        let h = Self.hash(key, words)
        let length = Int32(truncatingIfNeeded: key.count)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = entries[slot]
            if entry.length < 0 { return nil }
            if entry.hash == h, entry.length == length, entry.word0 == words.0, entry.word1 == words.1,
                length <= 16 || isRestEqual(key, start: Int(entry.start))
            {
                return entry.value
            }
            slot = (slot + 1) & mask
        }
    }

    /// Whether the bytes of `key` past its first 16 equal those of the stored key at `start`.
    private func isRestEqual(_ key: UnsafeBufferPointer<UInt8>, start: Int) -> Bool {
        for k in 16..<key.count where keyBytes[start + k] != key[k] { return false }
        return true
    }
}

extension KeyTable: Sendable where Value: Sendable {}
extension KeyTable.Entry: Sendable where Value: Sendable {}
