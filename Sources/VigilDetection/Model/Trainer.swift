#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Training settings.
public struct TrainingOptions: Sendable {
    /// The share of normal (training) events each detector may flag; thresholds are raised
    /// until they do not exceed it.
    public var targetFalsePositiveRate = 0.001
    public var seed: UInt64 = 0x5EED
    public var trees = 100
    public var sampleSize = 256
    /// Feature vectors kept (reservoir sample) to train the isolation forest on.
    public var maxFeatureSamples = 50_000
    public var config = DetectionConfig.default

    public init() {}
}

/// Learns a ``DetectionModel`` from historical events assumed to be mostly normal. Feed events
/// in (roughly) chronological order, like log files; then call ``finish()``.
public struct Trainer {
    public let options: TrainingOptions
    private var engine: DetectionEngine
    private var random: SeededRandom
    private var info = TrainingInfo()
    private var templates: [UInt64: UInt32] = [:]
    private var templateTotal: UInt64 = 0
    private var userRates: [UInt64: RateTracker] = [:]
    private var sourceRates: [UInt64: RateTracker] = [:]
    private var features = Reservoir<FeatureVector>(capacity: 50_000)
    private var pairFailures = Reservoir<Int>(capacity: 200_000)
    private var sourceUsers = Reservoir<Int>(capacity: 200_000)
    private var userSources = Reservoir<Int>(capacity: 200_000)
    private var unknownUsers = Reservoir<Int>(capacity: 200_000)
    private var privilegedFailures = Reservoir<Int>(capacity: 200_000)
    private var failuresBeforeSuccess = Reservoir<Int>(capacity: 200_000)
    private var hourShares = Reservoir<Double>(capacity: 200_000)
    private var volumeZ = Reservoir<Double>(capacity: 200_000)

    public init(options: TrainingOptions = TrainingOptions()) {
        self.options = options
        var config = options.config
        // Training keeps every entity: the model is only as good as its coverage.
        config.maxEntities = max(config.maxEntities, 5_000_000)
        engine = DetectionEngine(config: config)
        random = SeededRandom(seed: options.seed)
        features = Reservoir(capacity: options.maxFeatureSamples)
        info.targetFalsePositiveRate = options.targetFalsePositiveRate
        info.seed = options.seed
    }

    public var eventsSeen: Int { info.events }

    /// Counts a record that could not be parsed.
    public mutating func addError() { info.errors += 1 }

    public mutating func add(_ event: LogEvent) {
        if info.events == 0 || event.timestamp < info.firstEvent { info.firstEvent = event.timestamp }
        if info.events == 0 || event.timestamp > info.lastEvent { info.lastEvent = event.timestamp }
        info.events += 1
        templates[EntityKey.template(event.template), default: 0] &+= 1
        templateTotal += 1
        var o = Observation()
        var processed = event  // the rates below count the event as written
        _ = engine.process(&processed, observing: &o, collectFeatures: true)
        let bucket = event.timestamp.floorDiv(options.config.volumeSpike.bucketMs)
        let weight = max(1, event.repeatCount)
        if let user = event.user {
            userRates[EntityKey.user(user), default: RateTracker()].add(bucket: bucket, weight: weight)
        }
        if let source = event.sourceIP {
            sourceRates[EntityKey.source(source), default: RateTracker()].add(bucket: bucket, weight: weight)
        }
        if event.isFailedAttempt {
            pairFailures.add(o.pairFailures, &random)
            sourceUsers.add(o.sourceDistinctUsers, &random)
            userSources.add(o.userDistinctSources, &random)
            if o.privilegedFailures > 0 { privilegedFailures.add(o.privilegedFailures, &random) }
        }
        if event.accountUnknown { unknownUsers.add(o.sourceUnknownUsers, &random) }
        if event.isSuccessfulLogin { failuresBeforeSuccess.add(o.failuresBeforeSuccess, &random) }
        if let share = o.hourShare { hourShares.add(share, &random) }
        for z in o.volumeZ { volumeZ.add(z, &random) }
        if let f = o.features { features.add(f, &random) }
    }

    /// Builds the model: profiles, rate baselines, template frequencies, the isolation forest
    /// and thresholds calibrated to the target false-positive rate.
    public func finish() -> DetectionModel {
        let fpr = options.targetFalsePositiveRate
        let defaults = options.config
        var users: [UInt64: UserProfile] = [:]
        engine.forEachProfile { key, profile in users[key] = profile }
        var activeCounts = Reservoir<Int>(capacity: 100_000)
        var sampler = SeededRandom(seed: options.seed ^ 0xBA5E)
        for (key, tracker) in userRates {
            let rate = tracker.baseline()
            users[key, default: UserProfile()].rate = rate
            for c in tracker.counts { activeCounts.add(Int(c), &sampler) }
        }
        let populationUserRate = RateBaseline.of(activeCounts.items.sorted())
        var sourceActive = Reservoir<Int>(capacity: 100_000)
        var sources: [UInt64: RateBaseline] = [:]
        for (key, tracker) in sourceRates {
            for c in tracker.counts { sourceActive.add(Int(c), &sampler) }
            // Sources seen in a single bucket get the population baseline at run time.
            if tracker.counts.count >= 2 { sources[key] = tracker.baseline() }
        }
        let populationSourceRate = RateBaseline.of(sourceActive.items.sorted())

        var t = CalibratedThresholds(defaults)
        t.bruteForceFailures = max(defaults.bruteForce.failures, pairFailures.quantile(1 - fpr).map { $0 + 1 } ?? 0)
        t.sprayingUsers = max(
            defaults.passwordSpraying.distinctUsers, sourceUsers.quantile(1 - fpr).map { $0 + 1 } ?? 0)
        t.stuffingSources = max(
            defaults.credentialStuffing.distinctSources, userSources.quantile(1 - fpr).map { $0 + 1 } ?? 0)
        t.enumerationUsers = max(
            defaults.accountEnumeration.distinctUnknownUsers, unknownUsers.quantile(1 - fpr).map { $0 + 1 } ?? 0)
        t.privilegedFailures = max(
            defaults.privileged.failures, privilegedFailures.quantile(1 - fpr).map { $0 + 1 } ?? 0)
        t.successAfterFailures = max(
            defaults.successAfterFailures.failures, failuresBeforeSuccess.quantile(1 - fpr).map { $0 + 1 } ?? 0)
        // Hours: flag at most `fpr` of normal activity, but never stop flagging the very rare.
        if let q = hourShares.quantile(fpr) {
            t.unusualHourMaxShare = max(defaults.unusualHour.maxShare / 10, min(defaults.unusualHour.maxShare, q))
        }
        if let z = volumeZ.quantile(1 - fpr) { t.volumeK = max(defaults.volumeSpike.k, (z + 0.5).rounded(.up)) }

        let samples = features.items
        let forest = IsolationForest.train(
            samples, trees: options.trees, sampleSize: options.sampleSize, seed: options.seed)
        var featureHigh: [Float] = []
        if !samples.isEmpty {
            for i in 0..<FeatureVector.count {
                let column = samples.map { $0[i] }.sorted()
                featureHigh.append(column[min(column.count - 1, Int(Double(column.count) * 0.99))])
            }
            let scores = samples.map { forest.score($0) }.sorted()
            let q = scores[min(scores.count - 1, Int(Double(scores.count) * (1 - fpr)))]
            t.outlierThreshold = max(0.55, (q * 1000).rounded(.up) / 1000)
        }
        return DetectionModel(
            users: users, sources: sources, populationUserRate: populationUserRate,
            populationSourceRate: populationSourceRate, templates: templates, templateTotal: templateTotal,
            thresholds: t, forest: forest, featureHigh: featureHigh, info: info)
    }
}

/// Event counts of one entity per bucket over its active span.
struct RateTracker {
    var firstBucket = Int64.max
    var lastBucket = Int64.min
    /// Counts of the active buckets, in order.
    var counts: [UInt32] = []

    mutating func add(bucket: Int64, weight: Int) {
        if bucket == lastBucket, !counts.isEmpty {
            counts[counts.count - 1] &+= UInt32(clamping: weight)
        } else {
            counts.append(UInt32(clamping: weight))
        }
        firstBucket = min(firstBucket, bucket)
        lastBucket = max(lastBucket, bucket)
    }

    /// Median and MAD over every bucket of the span (idle buckets count as zero), without
    /// materialising the zeros.
    func baseline() -> RateBaseline {
        guard !counts.isEmpty else { return RateBaseline() }
        let span = Int(min(Int64(Int32.max), lastBucket - firstBucket + 1))
        let zeros = max(0, span - counts.count)
        let sorted = counts.map(Double.init).sorted()
        let median = Self.median(sorted, extra: 0, extraCount: zeros)
        let deviations = sorted.map { abs($0 - median) }.sorted()
        let mad = Self.median(deviations, extra: median, extraCount: zeros)
        return RateBaseline(median: Float(median), mad: Float(mad), buckets: UInt32(clamping: span))
    }

    /// The median of `sorted` plus `extraCount` copies of `extra`.
    static func median(_ sorted: [Double], extra: Double, extraCount: Int) -> Double {
        let n = sorted.count + extraCount
        func element(_ rank: Int) -> Double {
            // Rank in the merge of `sorted` with the run of `extra` values.
            let below = sorted.firstIndex { $0 >= extra } ?? sorted.count
            if rank < below { return sorted[rank] }
            if rank < below + extraCount { return extra }
            return sorted[rank - extraCount]
        }
        return n % 2 == 1 ? element(n / 2) : (element(n / 2 - 1) + element(n / 2)) / 2
    }
}

/// A uniform sample of at most `capacity` items (Vitter's algorithm R), seeded.
struct Reservoir<T> {
    let capacity: Int
    private(set) var items: [T] = []
    private var seen = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    mutating func add(_ item: T, _ random: inout SeededRandom) {
        seen += 1
        if items.count < capacity {
            items.append(item)
        } else {
            let j = Int(random.next() % UInt64(seen))
            if j < capacity { items[j] = item }
        }
    }
}

extension Reservoir where T: Comparable {
    /// The `q` quantile (nearest rank), nil when empty.
    func quantile(_ q: Double) -> T? {
        guard !items.isEmpty else { return nil }
        let sorted = items.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.down))))]
    }
}
