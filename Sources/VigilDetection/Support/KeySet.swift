import CVigilSupport

/// A set of entity keys — 64-bit ``StableHash`` values, already well mixed — kept in one
/// open-addressing array.
///
/// `Set<UInt64>` hashes every key again with SipHash on each insert and lookup; the engine asks
/// a user's profile whether it knows a source on every successful login and adds the source
/// after it, so that hashing was a measurable share of an event. Iteration order is unspecified
/// (encoders sort); equality and hashing ignore it.
public struct KeySet: Sendable, Hashable, Sequence, ExpressibleByArrayLiteral {
    /// Slots; `empty` marks a free one (the key equal to it is kept in `holdsEmpty`).
    private var slots: [UInt64] = []
    private var holdsEmpty = false
    public private(set) var count = 0
    private static let empty: UInt64 = 0

    public init() {}

    public init(arrayLiteral keys: UInt64...) { self.init(keys) }

    public init<S: Sequence>(_ keys: S) where S.Element == UInt64 {
        for key in keys { insert(key) }
    }

    public var isEmpty: Bool { count == 0 }

    @inline(__always)
    private static func home(_ key: UInt64, mask: Int) -> Int {
        // Fold the high bits in, as ``SlotIndex`` does: some keys are combinations of two hashes.
        Int(truncatingIfNeeded: key ^ (key >> 29)) & mask
    }

    /// Requests the line a lookup of `key` starts at from memory (a hint; see
    /// `DetectionEngine.prefetchState`).
    @inline(__always)
    func prefetch(_ key: UInt64) {
        slots.withUnsafeBufferPointer { slots in
            if let base = slots.baseAddress { vigil_prefetch(base + Self.home(key, mask: slots.count - 1)) }
        }
    }

    public func contains(_ key: UInt64) -> Bool {
        if key == Self.empty { return holdsEmpty }
        guard !slots.isEmpty else { return false }
        let mask = slots.count - 1
        var i = Self.home(key, mask: mask)
        while true {
            let slot = slots[i]
            if slot == key { return true }
            if slot == Self.empty { return false }
            i = (i + 1) & mask
        }
    }

    /// Adds `key`; true if it was not there yet.
    @discardableResult
    public mutating func insert(_ key: UInt64) -> Bool {
        if key == Self.empty {
            if holdsEmpty { return false }
            holdsEmpty = true
            count += 1
            return true
        }
        // At most half full, so probes stay short and always end at a free slot.
        if (count + 1) * 2 > slots.count { grow() }
        let mask = slots.count - 1
        var i = Self.home(key, mask: mask)
        while true {
            let slot = slots[i]
            if slot == key { return false }
            if slot == Self.empty { break }
            i = (i + 1) & mask
        }
        slots[i] = key
        count += 1
        return true
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Self.empty, count: Swift.max(8, old.count * 2))
        let mask = slots.count - 1
        for key in old where key != Self.empty {
            var i = Self.home(key, mask: mask)
            while slots[i] != Self.empty { i = (i + 1) & mask }
            slots[i] = key
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(slots: slots, holdsEmpty: holdsEmpty)
    }

    /// The keys, in slot order (unspecified).
    public struct Iterator: IteratorProtocol {
        fileprivate let slots: [UInt64]
        fileprivate var holdsEmpty: Bool
        fileprivate var position = 0

        public mutating func next() -> UInt64? {
            if holdsEmpty {
                holdsEmpty = false
                return KeySet.empty
            }
            while position < slots.count {
                let key = slots[position]
                position += 1
                if key != KeySet.empty { return key }
            }
            return nil
        }
    }

    public static func == (lhs: KeySet, rhs: KeySet) -> Bool {
        lhs.count == rhs.count && lhs.allSatisfy(rhs.contains)
    }

    public func hash(into hasher: inout Hasher) {
        // Independent of slot order, which depends on the order of insertion.
        hasher.combine(count)
        for key in sorted() { hasher.combine(key) }
    }
}
