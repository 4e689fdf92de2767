/// What is normal for one user: when they are active, where from, whether they escalate.
public struct UserProfile: Sendable, Hashable {
    /// Successful activity (logins, sessions, sudo, su) by hour of day, UTC.
    public var hours: [UInt32] = Array(repeating: 0, count: 24)
    public var activity: UInt32 = 0
    public var successes: UInt32 = 0
    /// Hashes of addresses and of their /24 (IPv6 /64) prefixes the user logged in from.
    public var sources = KeySet()
    public var prefixes = KeySet()
    /// su/sudo to a privileged account.
    public var escalations: UInt32 = 0
    /// Events per volume bucket: median and MAD over the buckets of the user's active span.
    public var rate = RateBaseline()

    public init() {}

    /// Most addresses remembered per user (the newest win).
    static let maxSources = 256

    mutating func addSource(_ source: UInt64, prefix: UInt64) {
        if sources.count < Self.maxSources { sources.insert(source) }
        if prefixes.count < Self.maxSources { prefixes.insert(prefix) }
    }

    /// The user's share of activity within ±1 hour of `hour`.
    func share(nearHour hour: Int) -> Double {
        guard activity > 0 else { return 0 }
        let around = hours[(hour + 23) % 24] + hours[hour] + hours[(hour + 1) % 24]
        return Double(around) / Double(activity)
    }

    /// Activity within an hour of `hour` (that hour and its neighbours).
    func activity(near hour: Int) -> Int {
        Int(hours[(hour + 23) % 24]) + Int(hours[hour]) + Int(hours[(hour + 1) % 24])
    }
}

/// A robust baseline of event counts per bucket.
public struct RateBaseline: Sendable, Hashable {
    public var median: Float = 0
    public var mad: Float = 0
    public var buckets: UInt32 = 0

    public init(median: Float = 0, mad: Float = 0, buckets: UInt32 = 0) {
        self.median = median
        self.mad = mad
        self.buckets = buckets
    }

    /// Median and median absolute deviation of `counts`.
    static func of(_ counts: [Int]) -> RateBaseline {
        guard !counts.isEmpty else { return RateBaseline() }
        let sorted = counts.sorted()
        let median = Self.median(sorted)
        let deviations = sorted.map { abs(Double($0) - median) }.sorted()
        return RateBaseline(median: Float(median), mad: Float(Self.median(deviations)), buckets: UInt32(counts.count))
    }

    /// Median and MAD of a volume history, as ``of(_:)-([Int])`` computes them (the same
    /// values), without copies of the history: it runs each time an entity opens a bucket, and
    /// sorting copies there was ~6% of an sshd event. The usual small counts are read off
    /// histograms (``ofSmall(_:)``); larger ones are sorted in a stack buffer. Works on doubled
    /// values, so the deviations from a median of k + 0.5 stay integers.
    static func of(history counts: [UInt32]) -> RateBaseline {
        let n = counts.count
        guard n > 0 else { return RateBaseline() }
        var largest: UInt32 = 0
        for c in counts where c > largest { largest = c }
        if largest < UInt32(smallCounts) { return ofSmall(counts, largest: Int(largest)) }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { buffer in
            var values = buffer
            for k in 0..<n { values.initializeElement(at: k, to: 2 * UInt64(counts[k])) }
            defer { values.deinitialize() }
            values.sort()
            let twiceMedian = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
            for k in 0..<n {
                let v = values[k]
                values[k] = v > twiceMedian ? v - twiceMedian : twiceMedian - v
            }
            values.sort()
            let twiceMAD =
                n % 2 == 1 ? Double(values[n / 2]) : (Double(values[n / 2 - 1]) + Double(values[n / 2])) / 2
            return RateBaseline(median: Float(Double(twiceMedian) / 2), mad: Float(twiceMAD / 2), buckets: UInt32(n))
        }
    }

    /// Counts per bucket below this are counted into bins instead of sorted.
    private static let smallCounts = 32

    /// ``of(history:)`` for counts below ``smallCounts`` (the usual case: a few events per entity
    /// per bucket): the median and the MAD are read off histograms of the doubled values and of
    /// the doubled deviations (|2x − 2·median| < 2·smallCounts), no sorting.
    /// Only the bins up to `largest` (and the deviations it allows) are cleared and scanned:
    /// a quiet entity's history is mostly zeros and ones.
    private static func ofSmall(_ counts: [UInt32], largest: Int) -> RateBaseline {
        let n = counts.count
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * smallCounts) { bins in
            // Values lie in 0...largest; deviations |2v − 2·median| in 0...2·largest.
            let values = UnsafeMutableBufferPointer(rebasing: bins[0...largest])
            let deviations = UnsafeMutableBufferPointer(rebasing: bins[smallCounts...(smallCounts + 2 * largest)])
            values.initialize(repeating: 0)
            deviations.initialize(repeating: 0)
            for c in counts { values[Int(c)] += 1 }
            /// The k-th smallest (from 0) of the histogram's items, as its bin.
            func kth(_ k: Int, _ histogram: UnsafeMutableBufferPointer<Int>) -> Int {
                var seen = 0
                for bin in histogram.indices {
                    seen += histogram[bin]
                    if seen > k { return bin }
                }
                return histogram.count - 1
            }
            let twiceMedian = n % 2 == 1 ? 2 * kth(n / 2, values) : kth(n / 2 - 1, values) + kth(n / 2, values)
            for v in values.indices where values[v] > 0 { deviations[abs(2 * v - twiceMedian)] += values[v] }
            let twiceMAD =
                n % 2 == 1
                ? Double(kth(n / 2, deviations))
                : (Double(kth(n / 2 - 1, deviations)) + Double(kth(n / 2, deviations))) / 2
            return RateBaseline(median: Float(Double(twiceMedian) / 2), mad: Float(twiceMAD / 2), buckets: UInt32(n))
        }
    }

    private static func median<T: BinaryInteger>(_ sorted: [T]) -> Double {
        let n = sorted.count
        return n % 2 == 1 ? Double(sorted[n / 2]) : (Double(sorted[n / 2 - 1]) + Double(sorted[n / 2])) / 2
    }

    private static func median(_ sorted: [Double]) -> Double {
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /// The count above which a bucket is a spike: median + k × 1.4826 × MAD (the MAD scaled to
    /// a standard deviation, and at least 1 so a flat baseline still has room).
    func threshold(k: Double, floor: Int) -> Int {
        let spread = max(1.0, 1.4826 * Double(mad))
        // A baseline read from a damaged model or snapshot can hold anything: no threshold.
        guard let value = Int(exactly: (Double(median) + k * spread).rounded(.up)) else { return Int.max }
        return max(floor, value)
    }
}

/// Keys of entities and their prefixes.
enum EntityKey {
    static func user(_ name: String) -> UInt64 { StableHash.hash(name, seed: 0x7573_6572) }
    static func source(_ address: String) -> UInt64 { StableHash.hash(address, seed: 0x7372_6370) }
    static func template(_ template: String) -> UInt64 { StableHash.hash(template, seed: 0x746D_706C) }
    /// A (source, account) pair's failures (brute force against one account).
    static func pair(source: UInt64, user: UInt64) -> UInt64 { StableHash.combine(source, user) }

    /// The /24 of an IPv4 address, the /64 of an IPv6 one, else the address itself.
    static func prefix(_ address: String) -> UInt64 {
        var text = address
        return text.withUTF8 { bytes -> UInt64 in
            if bytes.contains(UInt8(ascii: ":")) {
                // First four groups of an IPv6 address.
                var groups = 0
                var end = 0
                while end < bytes.count, groups < 4 {
                    if bytes[end] == UInt8(ascii: ":") { groups += 1 }
                    end += 1
                }
                return StableHash.hash(UnsafeBufferPointer(rebasing: bytes[..<end]), seed: 0x7066_7836)
            }
            guard let lastDot = bytes.lastIndex(of: UInt8(ascii: ".")) else { return source(address) }
            return StableHash.hash(UnsafeBufferPointer(rebasing: bytes[..<lastDot]), seed: 0x7066_7834)
        }
    }
}
