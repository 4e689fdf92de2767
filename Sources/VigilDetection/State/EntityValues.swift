import CVigilSupport

/// Event counts per time bucket for one entity, with a short history for an online baseline.
struct VolumeState: Sendable {
    var bucket: Int64 = .min
    var count = 0
    /// Counts of the buckets before the current one: a ring, whose oldest count is at
    /// `oldest` (0 until the ring is full) — so a bucket that opens overwrites the oldest count
    /// in place instead of shifting the others down. ``orderedHistory`` reads it oldest first.
    private(set) var history: [UInt32] = []
    private(set) var oldest = 0
    /// The spike threshold for the current bucket and the baseline behind it (chosen when the
    /// bucket opens; an own baseline is computed later, see ``ownBaselinePending``).
    var threshold = Int.max
    var baseline = RateBaseline()
    var alerted = false
    /// Non-zero buckets in the history (an entity needs a real history to have a baseline).
    var activeBuckets = 0
    /// The bucket's baseline is the entity's own history (decided when the bucket opened) but
    /// `baseline` and `threshold` are not computed yet: below the rule's floor no threshold can
    /// be crossed, and most buckets never reach it (see ``settle(_:)``).
    var ownBaselinePending = false

    /// Computes a pending own baseline and its threshold (the history does not change while
    /// the bucket is open, so this is what computing it at the opening gave).
    mutating func settle(_ rule: DetectionConfig.VolumeSpike) {
        guard ownBaselinePending else { return }
        (threshold, baseline) = settled(rule)
        ownBaselinePending = false
    }

    /// The threshold and baseline of the open bucket, pending or not, without computing them
    /// into the state (for snapshots, which hold them computed).
    func settled(_ rule: DetectionConfig.VolumeSpike) -> (threshold: Int, baseline: RateBaseline) {
        guard ownBaselinePending else { return (threshold, baseline) }
        let own = RateBaseline.of(history: history)
        return (own.threshold(k: rule.k, floor: rule.minCount), own)
    }

    /// Requests the ring's next slot (the one a bucket opening overwrites) from memory; a hint.
    @inline(__always)
    func prefetchHistory() {
        history.withUnsafeBufferPointer { ring in
            if let base = ring.baseAddress { vigil_prefetch(base + oldest) }
        }
    }

    /// The history, oldest first (as snapshots hold it).
    var orderedHistory: [UInt32] { oldest == 0 ? history : Array(history[oldest...] + history[..<oldest]) }

    /// Restores a history read oldest first.
    mutating func restoreHistory(_ counts: [UInt32]) {
        history = counts
        oldest = 0
    }

    /// Adds a closed bucket's count, then `zeros` empty buckets, keeping the newest `limit`
    /// (``activeBuckets`` follows what is dropped).
    mutating func record(_ value: UInt32, thenZeros zeros: Int, limit: Int) {
        let limit = max(1, limit)
        if history.count != limit && oldest != 0 {
            // The limit changed while the ring was full: back to oldest first.
            restoreHistory(orderedHistory)
        }
        if history.count > limit {
            let excess = history.count - limit
            for k in 0..<excess where history[k] > 0 { activeBuckets -= 1 }
            history.removeFirst(excess)
        }
        if history.isEmpty { history.reserveCapacity(limit) }
        push(value, limit: limit)
        if zeros >= limit {
            // Only empty buckets are left.
            activeBuckets = 0
            history = Array(repeating: 0, count: limit)
            oldest = 0
            return
        }
        for _ in 0..<zeros { push(0, limit: limit) }
    }

    private mutating func push(_ value: UInt32, limit: Int) {
        if value > 0 { activeBuckets += 1 }
        guard history.count == limit else {
            history.append(value)
            return
        }
        if history[oldest] > 0 { activeBuckets -= 1 }
        history[oldest] = value
        oldest = oldest + 1 == limit ? 0 : oldest + 1
    }
}

/// Online additions to a user's profile, plus where the user was last seen.
struct OnlineProfile: Sendable {
    var profile = UserProfile()
    var lastLocation: (lat: Double, lon: Double, time: Int64, label: String, precise: Bool)? = nil
}
