/// A map from 64-bit entity keys to state, bounded two ways: entries idle for longer than the
/// retention (in event time) are dropped, and beyond `capacity` the least recently used go.
struct LRUMap<Value> {
    private var index = SlotIndex()
    private var keys: [UInt64] = []
    private var values: [Value?] = []
    private var times: [Int64] = []
    private var prev: [Int32] = []
    private var next: [Int32] = []
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

    /// Mutates the value for `key` (created by `make` if absent), marks it used at `time`.
    @inline(__always)
    mutating func update<R>(_ key: UInt64, time: Int64, make: () -> Value, _ body: (inout Value) -> R) -> R {
        let slot: Int
        if let existing = index.find(key) {
            slot = Int(existing)
            if times[slot] < time { times[slot] = time }
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
            if let value = values[Int(slot)] { body(keys[Int(slot)], value) }
            slot = prev[Int(slot)]
        }
    }

    /// Every entry with its last-use time, least recently used first (the order `restore`
    /// needs to rebuild the same recency).
    func forEachWithTime(_ body: (UInt64, Int64, Value) -> Void) {
        var slot = tail
        while slot >= 0 {
            if let value = values[Int(slot)] { body(keys[Int(slot)], times[Int(slot)], value) }
            slot = prev[Int(slot)]
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
        while tail >= 0, times[Int(tail)] < cutoff { evictTail() }
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
            keys[Int(slot)] = key
            values[Int(slot)] = value
            times[Int(slot)] = time
        } else {
            slot = Int32(keys.count)
            keys.append(key)
            values.append(value)
            times.append(time)
            prev.append(-1)
            next.append(-1)
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
        index.remove(keys[Int(slot)])
        values[Int(slot)] = nil
        free.append(slot)
    }

    private mutating func linkFront(_ slot: Int32) {
        prev[Int(slot)] = -1
        next[Int(slot)] = head
        if head >= 0 { prev[Int(head)] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    private mutating func unlink(_ slot: Int32) {
        let p = prev[Int(slot)]
        let n = next[Int(slot)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        prev[Int(slot)] = -1
        next[Int(slot)] = -1
    }

    private mutating func moveToFront(_ slot: Int32) {
        guard head != slot else { return }
        unlink(slot)
        linkFront(slot)
    }
}

extension LRUMap: Sendable where Value: Sendable {}
