import CVigilSupport

/// A map from 64-bit entity keys to state, bounded two ways: entries idle for longer than the
/// retention (in event time) are dropped, and beyond `capacity` the least recently used go.
struct LRUMap<Value> {
    /// An entry's key, last use and list links together: a use touches one cache line for
    /// them instead of four (one per array), and the engine's time goes to cache misses.
    private struct Node: Sendable {
        var key: UInt64
        var time: Int64
        var prev: Int32 = -1
        var next: Int32 = -1
    }
    private var index = SlotIndex()
    private var nodes: [Node] = []
    private var values: [Value?] = []
    private var free: [Int32] = []
    /// Most recently used.
    private var head: Int32 = -1
    /// Least recently used.
    private var tail: Int32 = -1
    let capacity: Int
    private(set) var evictions = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { index.count }

    /// Reads without touching recency.
    func peek(_ key: UInt64) -> Value? {
        guard let slot = index.find(key) else { return nil }
        return values[Int(slot)]
    }

    /// Reads part of a value in place (no copy of the value), without touching recency.
    @inline(__always)
    func peek<R>(_ key: UInt64, _ body: (Value) -> R) -> R? {
        guard let slot = index.find(key) else { return nil }
        return values[Int(slot)].map(body)
    }

    /// Requests part of `key`'s entry from memory, so that the requests of several maps overlap
    /// their cache misses instead of taking them one by one: its index line (`.index`), then,
    /// once that is on its way, the entry's links and value (`.entry`). A hint only.
    @inline(__always)
    func prefetch(_ key: UInt64, _ round: PrefetchRound) {
        switch round {
        case .index:
            index.prefetch(key)
        case .entry:
            guard let slot = index.find(key) else { return }
            nodes.withUnsafeBufferPointer { if let base = $0.baseAddress { vigil_prefetch(base + Int(slot)) } }
            values.withUnsafeBufferPointer { if let base = $0.baseAddress { vigil_prefetch(base + Int(slot)) } }
        }
    }

    /// Mutates the value for `key` (created by `make` if absent), marks it used at `time`.
    @inline(__always)
    mutating func update<R>(_ key: UInt64, time: Int64, make: () -> Value, _ body: (inout Value) -> R) -> R {
        let slot: Int
        if let existing = index.find(key) {
            slot = Int(existing)
            if nodes[slot].time < time { nodes[slot].time = time }
            moveToFront(Int32(slot))
        } else {
            if index.count >= capacity { evictTail() }
            slot = Int(allocate(key: key, value: make(), time: time))
        }
        return body(&values[slot]!)
    }

    /// Calls `body` for every entry, least recently used first.
    func forEach(_ body: (UInt64, Value) -> Void) {
        var slot = tail
        while slot >= 0 {
            if let value = values[Int(slot)] { body(nodes[Int(slot)].key, value) }
            slot = nodes[Int(slot)].prev
        }
    }

    /// Every entry with its last-use time, least recently used first (the order `restore`
    /// needs to rebuild the same recency).
    func forEachWithTime(_ body: (UInt64, Int64, Value) -> Void) {
        var slot = tail
        while slot >= 0 {
            if let value = values[Int(slot)] { body(nodes[Int(slot)].key, nodes[Int(slot)].time, value) }
            slot = nodes[Int(slot)].prev
        }
    }

    /// Re-inserts an entry as the most recently used (for restoring a snapshot).
    mutating func restore(_ key: UInt64, time: Int64, value: Value) {
        if index.count >= capacity { evictTail() }
        _ = allocate(key: key, value: value, time: time)
    }

    /// Restores the eviction counter of a snapshot.
    mutating func setEvictions(_ n: Int) { evictions = n }

    /// Drops entries last used before `cutoff`.
    mutating func expire(before cutoff: Int64) {
        // Recency order is close to time order; stop at the first entry still in use.
        while tail >= 0, nodes[Int(tail)].time < cutoff { evictTail() }
    }

    mutating func remove(_ key: UInt64) {
        guard let slot = index.find(key) else { return }
        unlink(slot)
        release(slot)
    }

    private mutating func allocate(key: UInt64, value: Value, time: Int64) -> Int32 {
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            nodes[Int(slot)].key = key
            nodes[Int(slot)].time = time
            values[Int(slot)] = value
        } else {
            slot = Int32(nodes.count)
            nodes.append(Node(key: key, time: time))
            values.append(value)
        }
        index.insert(key, slot)
        linkFront(slot)
        return slot
    }

    private mutating func evictTail() {
        guard tail >= 0 else { return }
        let slot = tail
        unlink(slot)
        release(slot)
        evictions += 1
    }

    private mutating func release(_ slot: Int32) {
        index.remove(nodes[Int(slot)].key)
        values[Int(slot)] = nil
        free.append(slot)
    }

    private mutating func linkFront(_ slot: Int32) {
        nodes[Int(slot)].prev = -1
        nodes[Int(slot)].next = head
        if head >= 0 { nodes[Int(head)].prev = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    private mutating func unlink(_ slot: Int32) {
        let p = nodes[Int(slot)].prev
        let n = nodes[Int(slot)].next
        if p >= 0 { nodes[Int(p)].next = n } else { head = n }
        if n >= 0 { nodes[Int(n)].prev = p } else { tail = p }
        nodes[Int(slot)].prev = -1
        nodes[Int(slot)].next = -1
    }

    private mutating func moveToFront(_ slot: Int32) {
        guard head != slot else { return }
        unlink(slot)
        linkFront(slot)
    }
}

extension LRUMap: Sendable where Value: Sendable {}

/// The part of an entry ``LRUMap/prefetch(_:_:)`` requests: its index line, or the entry the
/// index points to (read from the index line, so requested after it).
enum PrefetchRound {
    case index
    case entry
}
