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
        let p = prev[Int(slot)], n = next[Int(slot)]
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

/// Event times in a sliding window, kept sorted so late events slot in where they belong.
/// Bounded: beyond `cap` entries the oldest go (a count that large is past any threshold).
struct TimeWindow {
    private(set) var times: [Int64] = []

    mutating func add(_ time: Int64, weight: Int = 1, cap: Int) {
        for _ in 0..<min(max(1, weight), cap) {
            var position = times.count
            while position > 0, times[position - 1] > time { position -= 1 }
            times.insert(time, at: position)
        }
        // Trim in bulk (amortised O(1)); a count this large is past any threshold anyway.
        if times.count >= cap * 2 { times.removeFirst(times.count - cap) }
    }

    /// Events in (`end` − `length`, `end`].
    func count(endingAt end: Int64, length: Int64) -> Int {
        upperBound(end) - upperBound(end - length)
    }

    /// Appends a time known to be in order (restoring a snapshot).
    mutating func appendSorted(_ time: Int64) { times.append(time) }

    /// The earliest event in (`end` − `length`, `end`].
    func first(endingAt end: Int64, length: Int64) -> Int64? {
        let start = upperBound(end - length)
        return start < upperBound(end) ? times[start] : nil
    }

    mutating func expire(before cutoff: Int64) {
        let k = upperBound(cutoff - 1)
        if k > 0 { times.removeFirst(k) }
    }

    var isEmpty: Bool { times.isEmpty }

    /// Number of entries ≤ `time`.
    private func upperBound(_ time: Int64) -> Int {
        var low = 0, high = times.count
        while low < high {
            let mid = (low + high) / 2
            if times[mid] <= time { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// Distinct members (users, sources) seen in a sliding window, each with its latest time and
/// its name (for the evidence).
struct DistinctWindow {
    private(set) var members: [UInt64] = []
    private(set) var names: [String] = []
    private(set) var times: [Int64] = []

    mutating func add(_ member: UInt64, name: String, at time: Int64, cap: Int) {
        if let k = members.firstIndex(of: member) {
            if times[k] < time { times[k] = time }
            return
        }
        if members.count >= cap * 2 {
            // Keep the newest `cap` (amortised: one sort per `cap` insertions).
            let keep = times.indices.sorted { times[$0] > times[$1] }.prefix(cap)
            members = keep.map { members[$0] }
            names = keep.map { names[$0] }
            times = keep.map { times[$0] }
        }
        members.append(member)
        names.append(name)
        times.append(time)
    }

    /// Appends a member as stored (restoring a snapshot).
    mutating func appendRaw(_ member: UInt64, name: String, at time: Int64) {
        members.append(member); names.append(name); times.append(time)
    }

    /// Members seen in (`end` − `length`, `end`].
    func count(endingAt end: Int64, length: Int64) -> Int {
        var n = 0
        for t in times where t > end - length && t <= end { n += 1 }
        return n
    }

    /// Names of the members seen in (`end` − `length`, `end`], earliest first, and the
    /// earliest time.
    func members(endingAt end: Int64, length: Int64) -> (names: [String], first: Int64?) {
        let inWindow = times.indices.filter { times[$0] > end - length && times[$0] <= end }
            .sorted { (times[$0], names[$0]) < (times[$1], names[$1]) }
        return (inWindow.map { names[$0] }, inWindow.first.map { times[$0] })
    }

    func contains(_ member: UInt64) -> Bool { members.contains(member) }

    mutating func expire(before cutoff: Int64) {
        var k = 0
        while k < members.count {
            if times[k] < cutoff { remove(at: k) } else { k += 1 }
        }
    }

    private mutating func remove(at k: Int) {
        let last = members.count - 1
        members.swapAt(k, last); names.swapAt(k, last); times.swapAt(k, last)
        members.removeLast(); names.removeLast(); times.removeLast()
    }
}

extension LRUMap: Sendable where Value: Sendable {}

/// Event counts per time bucket for one entity, with a short history for an online baseline.
struct VolumeState: Sendable {
    var bucket: Int64 = .min
    var count = 0
    /// Counts of the buckets before the current one, oldest first.
    var history: [UInt32] = []
    /// The spike threshold for the current bucket and the baseline behind it (fixed when the
    /// bucket opens).
    var threshold = Int.max
    var baseline = RateBaseline()
    var alerted = false
    /// Non-zero buckets in the history (an entity needs a real history to have a baseline).
    var activeBuckets = 0
}

/// Online additions to a user's profile, plus where the user was last seen.
struct OnlineProfile: Sendable {
    var profile = UserProfile()
    var lastLocation: (lat: Double, lon: Double, time: Int64, label: String, precise: Bool)? = nil
}
