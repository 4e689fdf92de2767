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
