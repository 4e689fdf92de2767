#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fixed string → value table looked up by raw bytes, without building a String: open
/// addressing on a 64-bit hash of the bytes, then a byte comparison with the stored key, so a
/// colliding hash can never alias one key for another.
struct KeyTable<Value> {
    private var hashes: [UInt64]
    /// Every key's bytes in one array (`starts[slot]`, `lengths[slot]`): an array per key
    /// made each probe retain and release it.
    private var keyBytes: [UInt8] = []
    private var starts: [Int]
    private var lengths: [Int]
    private var values: [Value?]
    private let mask: Int

    init(_ entries: [String: Value]) {
        var capacity = 16
        while capacity < entries.count * 4 { capacity *= 2 }
        mask = capacity - 1
        hashes = Array(repeating: 0, count: capacity)
        starts = Array(repeating: 0, count: capacity)
        lengths = Array(repeating: -1, count: capacity)
        values = Array(repeating: nil, count: capacity)
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(key.utf8)
            let h = StableHash.hash(bytes)
            var slot = Int(truncatingIfNeeded: h) & mask
            while values[slot] != nil { slot = (slot + 1) & mask }
            hashes[slot] = h
            starts[slot] = keyBytes.count
            lengths[slot] = bytes.count
            keyBytes.append(contentsOf: bytes)
            values[slot] = value
        }
    }

    subscript(_ key: UnsafeBufferPointer<UInt8>) -> Value? {
        let h = StableHash.hash(key)
        var slot = Int(truncatingIfNeeded: h) & mask
        while let value = values[slot] {
            if hashes[slot] == h, lengths[slot] == key.count {
                let start = starts[slot]
                let equal = keyBytes.withUnsafeBufferPointer { stored in
                    key.count == 0 || memcmp(stored.baseAddress! + start, key.baseAddress!, key.count) == 0
                }
                if equal { return value }
            }
            slot = (slot + 1) & mask
        }
        return nil
    }
}

extension KeyTable: Sendable where Value: Sendable {}
