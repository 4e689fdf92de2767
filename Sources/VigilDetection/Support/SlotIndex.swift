/// Open-addressing hash index from 64-bit keys (already well-mixed hashes) to slot numbers.
/// Cheaper than `Dictionary` on the engine's hot path: no re-hashing through `Hasher`, linear
/// probing, deletion by backward shift (no tombstones), growth by doubling.
struct SlotIndex: Sendable {
    private var keys: [UInt64]
    private var slots: [Int32]
    private var mask: Int
    private(set) var count = 0

    init() {
        keys = Array(repeating: 0, count: 64)
        slots = Array(repeating: -1, count: 64)
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
            let slot = slots[i]
            if slot < 0 { return nil }
            if keys[i] == key { return slot }
            i = (i + 1) & mask
        }
    }

    mutating func insert(_ key: UInt64, _ slot: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        var i = home(key)
        while slots[i] >= 0 {
            if keys[i] == key {
                slots[i] = slot
                return
            }
            i = (i + 1) & mask
        }
        keys[i] = key
        slots[i] = slot
        count += 1
    }

    mutating func remove(_ key: UInt64) {
        var i = home(key)
        while true {
            if slots[i] < 0 { return }
            if keys[i] == key { break }
            i = (i + 1) & mask
        }
        // Backward-shift deletion keeps every probe chain unbroken.
        var hole = i
        var j = (i + 1) & mask
        while slots[j] >= 0 {
            let h = home(keys[j])
            // Move j into the hole if its home is not in (hole, j] (cyclically).
            let between = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !between {
                keys[hole] = keys[j]
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = -1
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldSlots = slots
        let size = oldSlots.count * 2
        keys = Array(repeating: 0, count: size)
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        count = 0
        for k in 0..<oldSlots.count where oldSlots[k] >= 0 { insert(oldKeys[k], oldSlots[k]) }
    }
}
