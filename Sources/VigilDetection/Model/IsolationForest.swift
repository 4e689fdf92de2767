/// A seeded pseudo-random generator (SplitMix64): the same seed gives the same sequence on
/// every platform, so training and data generation are reproducible.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Per-event features the isolation forest scores, each scaled to about [0, 1].
public struct FeatureVector: Sendable, Hashable {
    public static let names = [
        "hour_rarity", "failure", "source_failures", "source_distinct_users", "user_failures",
        "new_source", "template_rarity", "privileged_target", "unknown_account", "user_rate",
    ]
    public static let count = names.count
    public var values: SIMD16<Float> = .zero

    public init() {}

    public subscript(_ index: Int) -> Float {
        get { values[index] }
        set { values[index] = newValue }
    }
}

/// An isolation forest (Liu, Ting & Zhou 2008): anomalies are isolated by fewer random splits.
/// Trees are stored flat, so scoring is a few hundred comparisons without allocation.
public struct IsolationForest: Sendable, Hashable {
    // Node arrays: feature < 0 marks a leaf, whose `threshold` holds the path-length correction.
    var feature: [Int8] = []
    var threshold: [Float] = []
    var left: [Int32] = []
    var right: [Int32] = []
    var roots: [Int32] = []
    var sampleSize: Int = 256

    public init() {}

    public var treeCount: Int { roots.count }
    public var isEmpty: Bool { roots.isEmpty }

    /// Average path length of an unsuccessful search in a binary search tree of `n` nodes.
    static func c(_ n: Int) -> Double {
        guard n > 1 else { return 0 }
        if n == 2 { return 1 }
        let h = log(Double(n - 1)) + 0.577_215_664_901_532_9
        return 2 * h - 2 * Double(n - 1) / Double(n)
    }

    /// Trains on `samples` (rows of features). Deterministic for a given seed.
    public static func train(
        _ samples: [FeatureVector], trees: Int = 100, sampleSize: Int = 256, seed: UInt64
    ) -> IsolationForest {
        var forest = IsolationForest()
        guard !samples.isEmpty else { return forest }
        var random = SeededRandom(seed: seed)
        let size = min(sampleSize, samples.count)
        forest.sampleSize = size
        let heightLimit = Int(ceil(log2(Double(max(size, 2)))))
        for _ in 0..<trees {
            // Sample without replacement (partial Fisher–Yates over indices).
            var indices = Array(0..<samples.count)
            for k in 0..<size {
                let j = k + Int(random.next() % UInt64(samples.count - k))
                indices.swapAt(k, j)
            }
            let chosen = Array(indices[0..<size])
            let root = forest.build(samples, chosen, depth: 0, limit: heightLimit, random: &random)
            forest.roots.append(root)
        }
        return forest
    }

    private mutating func build(
        _ samples: [FeatureVector], _ rows: [Int], depth: Int, limit: Int,
        random: inout SeededRandom
    ) -> Int32 {
        let node = Int32(feature.count)
        feature.append(-1)
        threshold.append(0)
        left.append(-1)
        right.append(-1)
        if depth >= limit || rows.count <= 1 {
            threshold[Int(node)] = Float(Self.c(rows.count))
            return node
        }
        // Pick a feature that varies among these rows; a leaf if none does.
        var candidates: [(Int, Float, Float)] = []
        for f in 0..<FeatureVector.count {
            var low = Float.infinity
            var high = -Float.infinity
            for r in rows {
                low = min(low, samples[r][f])
                high = max(high, samples[r][f])
            }
            if high > low { candidates.append((f, low, high)) }
        }
        guard !candidates.isEmpty else {
            threshold[Int(node)] = Float(Self.c(rows.count))
            return node
        }
        let (f, low, high) = candidates[Int(random.next() % UInt64(candidates.count))]
        let split = low + Float(random.unit()) * (high - low)
        let leftRows = rows.filter { samples[$0][f] < split }
        let rightRows = rows.filter { samples[$0][f] >= split }
        feature[Int(node)] = Int8(f)
        threshold[Int(node)] = split
        let l = build(samples, leftRows, depth: depth + 1, limit: limit, random: &random)
        let r = build(samples, rightRows, depth: depth + 1, limit: limit, random: &random)
        left[Int(node)] = l
        right[Int(node)] = r
        return node
    }

    /// The anomaly score in (0, 1]: near 1 is isolated quickly (anomalous), below 0.5 normal.
    public func score(_ x: FeatureVector) -> Double {
        guard !roots.isEmpty else { return 0 }
        var total = 0.0
        for root in roots {
            var node = Int(root)
            var depth = 0
            while feature[node] >= 0 {
                node = Int(x.values[Int(feature[node])] < threshold[node] ? left[node] : right[node])
                depth += 1
            }
            total += Double(depth) + Double(threshold[node])
        }
        let mean = total / Double(roots.count)
        return pow(2, -mean / Self.c(sampleSize))
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
