/// Event times in a sliding window, kept sorted so late events slot in where they belong.
/// Bounded: beyond `cap` entries the oldest go (a count that large is past any threshold).
struct TimeWindow: Sendable {
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

    /// The fullest window of `length` that holds `time`, among those ending at `time` or at a
    /// later entry: its count and earliest time. An event that arrives after later ones (late,
    /// or from another input partition of a repartitioned stream) may complete a window that
    /// ends after it; in time order no entry is later and this is the window ending at `time`.
    func busiest(containing time: Int64, length: Int64) -> (count: Int, first: Int64?) {
        var best = count(endingAt: time, length: length)
        var end = time
        var k = upperBound(time)
        while k < times.count, times[k] < time.addingSaturated(length) {
            let candidate = upperBound(times[k]) - upperBound(times[k] - length)
            if candidate > best {
                best = candidate
                end = times[k]
            }
            k += 1
        }
        return (best, first(endingAt: end, length: length))
    }

    /// Appends a time known to be in order (restoring a snapshot).
    mutating func appendSorted(_ time: Int64) { times.append(time) }

    /// The earliest event in (`end` − `length`, `end`].
    func first(endingAt end: Int64, length: Int64) -> Int64? {
        let start = upperBound(end - length)
        return start < upperBound(end) ? times[start] : nil
    }

    mutating func expire(before cutoff: Int64) {
        guard cutoff != .min else { return }  // a clock not started yet
        let k = upperBound(cutoff - 1)
        if k > 0 { times.removeFirst(k) }
    }

    var isEmpty: Bool { times.isEmpty }

    /// Number of entries ≤ `time`.
    private func upperBound(_ time: Int64) -> Int {
        var low = 0
        var high = times.count
        while low < high {
            let mid = (low + high) / 2
            if times[mid] <= time { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// Distinct members (users, sources) seen in a sliding window, each with its latest time and
/// its name (for the evidence).
struct DistinctWindow: Sendable {
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
        members.append(member)
        names.append(name)
        times.append(time)
    }

    /// Members seen in (`end` − `length`, `end`].
    func count(endingAt end: Int64, length: Int64) -> Int {
        var n = 0
        for t in times where t > end - length && t <= end { n += 1 }
        return n
    }

    /// The fullest window of `length` holding `time` (see ``TimeWindow/busiest(containing:length:)``):
    /// its distinct count and where it ends.
    func busiest(containing time: Int64, length: Int64) -> (count: Int, end: Int64) {
        var best = count(endingAt: time, length: length)
        var end = time
        for t in times where t > time && t < time.addingSaturated(length) {
            let candidate = count(endingAt: t, length: length)
            if candidate > best || (candidate == best && t < end) {
                best = candidate
                end = t
            }
        }
        return (best, end)
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
        members.swapAt(k, last)
        names.swapAt(k, last)
        times.swapAt(k, last)
        members.removeLast()
        names.removeLast()
        times.removeLast()
    }
}
