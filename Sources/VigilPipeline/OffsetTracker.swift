/// Which offsets of one partition may be committed: records finish out of order (their
/// anomalies are acknowledged whenever the broker answers), but a commit must never pass a
/// record whose work is unfinished. Ranges are registered in offset order and the committable
/// position is the end of the longest finished prefix.
struct OffsetTracker: Sendable {
    private struct Range {
        var first: Int64
        var last: Int64
        var done: Bool
    }
    private var pending: [Range] = []
    private var head = 0
    /// The next offset to read after everything finished so far (what to store and commit).
    private(set) var committable: Int64? = nil

    var unfinished: Int { pending.count - head }

    /// The last offset registered.
    private(set) var lastStarted: Int64? = nil

    /// Registers records `first...last` as started. Ranges must come in offset order: one at
    /// or before a range already registered is refused (false), since finishing it could move
    /// the committable position past records that are not finished.
    mutating func start(first: Int64, last: Int64) -> Bool {
        guard first <= last, lastStarted.map({ first > $0 }) ?? true else { return false }
        pending.append(Range(first: first, last: last, done: false))
        lastStarted = last
        return true
    }

    /// Marks the range starting at `first` finished; returns the new committable offset if it
    /// advanced.
    mutating func finish(first: Int64) -> Int64? {
        guard let index = pending[head...].firstIndex(where: { $0.first == first }) else { return nil }
        pending[index].done = true
        var advanced: Int64? = nil
        while head < pending.count, pending[head].done {
            advanced = pending[head].last + 1
            head += 1
        }
        if head > 64 && head * 2 > pending.count {
            pending.removeFirst(head)
            head = 0
        }
        if let advanced { committable = advanced }
        return advanced
    }
}
