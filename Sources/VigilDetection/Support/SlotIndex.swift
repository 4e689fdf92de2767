import CVigilSupport

/// Open-addressing hash index from 64-bit keys (already well-mixed hashes) to slot numbers.
/// Cheaper than `Dictionary` on the engine's hot path: no re-hashing through `Hasher`, linear
/// probing, deletion by backward shift (no tombstones), growth by doubling.
struct SlotIndex: Sendable {
    /// A key and its slot side by side, so a probe reads one cache line, not one per array
    /// (the engine's lookups miss the cache; their count is what its time is made of).
    private struct Entry: Sendable {
        var key: UInt64
        var slot: Int32
    }
    private var entries: [Entry]
    private var mask: Int
    private(set) var count = 0

    init() {
        entries = Array(repeating: Entry(key: 0, slot: -1), count: 64)
        mask = 63
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        // Fold the high bits in: keys are hashes, but some are combinations of two.
        Int(truncatingIfNeeded: key ^ (key >> 29)) & mask
    }

    func find(_ key: UInt64) -> Int32? {
        var i = home(key)
        while true {
            let entry = entries[i]
            if entry.slot < 0 { return nil }
            if entry.key == key { return entry.slot }
            i = (i + 1) & mask
        }
    }

    /// Requests the line `key`'s probe starts at from memory (a hint; see ``LRUMap/prefetch(_:_:)``).
    @inline(__always)
    func prefetch(_ key: UInt64) {
        entries.withUnsafeBufferPointer { entries in
            if let base = entries.baseAddress { vigil_prefetch(base + home(key)) }
        }
    }

    mutating func insert(_ key: UInt64, _ slot: Int32) {
        if (count + 1) * 2 > entries.count { grow() }
        var i = home(key)
        while entries[i].slot >= 0 {
            if entries[i].key == key {
                entries[i].slot = slot
                return
            }
            i = (i + 1) & mask
        }
        entries[i] = Entry(key: key, slot: slot)
        count += 1
    }

    mutating func remove(_ key: UInt64) {
        var i = home(key)
        while true {
            if entries[i].slot < 0 { return }
            if entries[i].key == key { break }
            i = (i + 1) & mask
        }
        // Backward-shift deletion keeps every probe chain unbroken.
        var hole = i
        var j = (i + 1) & mask
        while entries[j].slot >= 0 {
            let h = home(entries[j].key)
            // Move j into the hole if its home is not in (hole, j] (cyclically).
            let between = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !between {
                entries[hole] = entries[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        entries[hole].slot = -1
        count -= 1
    }

    private mutating func grow() {
        let old = entries
        let size = old.count * 2
        entries = Array(repeating: Entry(key: 0, slot: -1), count: size)
        mask = size - 1
        count = 0
        for entry in old where entry.slot >= 0 { insert(entry.key, entry.slot) }
    }
}

/// A small insert-only map from already well-mixed 64-bit keys (``StableHash`` values) to
/// values: a ``SlotIndex`` over an array. For caches a caller empties by replacing it.
struct HashedMap<Value> {
    private var index = SlotIndex()
    private var values: [Value] = []

    var count: Int { values.count }

    subscript(_ key: UInt64) -> Value? {
        guard let slot = index.find(key) else { return nil }
        return values[Int(slot)]
    }

    /// Adds `value` under `key` (replacing the value a key already had).
    mutating func insert(_ key: UInt64, _ value: Value) {
        if let slot = index.find(key) {
            values[Int(slot)] = value
            return
        }
        index.insert(key, Int32(values.count))
        values.append(value)
    }
}

extension HashedMap: Sendable where Value: Sendable {}
