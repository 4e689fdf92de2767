/// Every piece of per-entity state the detectors keep, with the engine's event-time clock.
///
/// Each kind of state is one bounded ``LRUMap``; ``visitMaps(_:)`` lists them once, with their
/// expiry rule, and expiry, eviction counts and the snapshot codec all go through that list.
/// Adding a kind of state is a property and a line in ``visitMaps(_:)``.
struct EngineState: Sendable {
    /// The latest event time seen: windows advance on it, and events further behind it than
    /// the allowed lateness are late.
    var watermark = Int64.min
    /// Events seen by the rare-message detector (the denominator of a template's share).
    var templateTotal: UInt64 = 0
    /// A repartitioned engine's input partitions (see ``DetectionEngine/process(_:from:)``):
    /// each one's watermark and the position of its latest event processed here.
    var origins: [UInt64: OriginClock] = [:]
    /// How many input partitions feed this engine (the clock waits until it knows them all).
    var originStreams = 0
    /// Events received from each input partition and not processed yet, and how many in all
    /// (see ``DetectionEngine/receive(_:from:)``).
    var queues: [UInt64: OriginQueue] = [:]
    var queued = 0

    /// Failure times per (source, user) pair: brute force.
    var pairFailures: LRUMap<TimeWindow>
    /// Failure times per source and per user: success after failures, features.
    var sourceFailures: LRUMap<TimeWindow>
    var userFailures: LRUMap<TimeWindow>
    /// Distinct users failing from one source: password spraying.
    var sourceUsers: LRUMap<DistinctWindow>
    /// Distinct sources failing against one user: credential stuffing.
    var userSources: LRUMap<DistinctWindow>
    /// Distinct unknown accounts tried from one source: account enumeration.
    var sourceUnknownUsers: LRUMap<DistinctWindow>
    /// Failures against privileged accounts per source.
    var privilegedFailures: LRUMap<TimeWindow>
    /// What each user did before (hours, sources, escalations) and where they were last seen.
    var profiles: LRUMap<OnlineProfile>
    /// Event counts per time bucket, per user and per source: volume spikes.
    var userVolume: LRUMap<VolumeState>
    var sourceVolume: LRUMap<VolumeState>
    /// How often each message template occurred: rare events.
    var templateCounts: LRUMap<UInt32>
    /// Until when a (detector, entity) pair stays quiet after reporting.
    var suppressedUntil: LRUMap<Int64>
    /// What each sshd connection reported about failed attempts (see ``SessionReports``).
    var sessions: LRUMap<SessionReports>
    /// Host names seen to stand for an address.
    var sourceAliases: LRUMap<SourceAlias>

    /// Maps hold at most `capacity` entities each.
    init(capacity: Int) {
        pairFailures = LRUMap(capacity: capacity)
        sourceFailures = LRUMap(capacity: capacity)
        userFailures = LRUMap(capacity: capacity)
        sourceUsers = LRUMap(capacity: capacity)
        userSources = LRUMap(capacity: capacity)
        sourceUnknownUsers = LRUMap(capacity: capacity)
        privilegedFailures = LRUMap(capacity: capacity)
        profiles = LRUMap(capacity: capacity)
        userVolume = LRUMap(capacity: capacity)
        sourceVolume = LRUMap(capacity: capacity)
        templateCounts = LRUMap(capacity: capacity)
        suppressedUntil = LRUMap(capacity: capacity)
        sessions = LRUMap(capacity: capacity)
        sourceAliases = LRUMap(capacity: capacity)
    }

    /// Calls `visitor` for every map, in the fixed order snapshots store them.
    mutating func visitMaps<Visitor: StateMapVisitor>(_ visitor: inout Visitor) throws(Visitor.Failure) {
        try visitor.visit(&pairFailures, expiry: .window)
        try visitor.visit(&sourceFailures, expiry: .window)
        try visitor.visit(&userFailures, expiry: .window)
        try visitor.visit(&sourceUsers, expiry: .window)
        try visitor.visit(&userSources, expiry: .window)
        try visitor.visit(&sourceUnknownUsers, expiry: .window)
        try visitor.visit(&privilegedFailures, expiry: .window)
        try visitor.visit(&profiles, expiry: .never)
        try visitor.visit(&userVolume, expiry: .volume)
        try visitor.visit(&sourceVolume, expiry: .volume)
        try visitor.visit(&templateCounts, expiry: .never)
        try visitor.visit(&suppressedUntil, expiry: .suppression)
        try visitor.visit(&sessions, expiry: .window)
        try visitor.visit(&sourceAliases, expiry: .suppression)
    }

    /// Drops entries idle for longer than their kind of state needs them.
    mutating func expire(config: DetectionConfig, longestWindow: Int64) {
        var expiry = ExpiryVisitor(
            window: watermark.subtractingSaturated(longestWindow + config.latenessMs),
            volume: watermark.subtractingSaturated(
                config.volumeSpike.bucketMs * Int64(config.volumeSpike.historyBuckets + 1)),
            suppression: watermark.subtractingSaturated(86_400_000))
        visitMaps(&expiry)
    }

    /// Entities dropped from all maps so far, by capacity or expiry.
    var evictions: Int {
        var counter = EvictionCounter()
        var copy = self  // visiting needs `inout`; counting mutates nothing, so nothing is copied
        copy.visitMaps(&counter)
        return counter.total
    }
}

/// When a kind of state may be forgotten.
enum StateExpiry {
    /// Once idle for longer than the longest detection window (plus lateness).
    case window
    /// Once idle for longer than the volume history.
    case volume
    /// A day after it was last used.
    case suppression
    /// Only by capacity (profiles and template counts are the long-term memory).
    case never
}

/// Something done to every map of ``EngineState`` (see ``EngineState/visitMaps(_:)``).
protocol StateMapVisitor {
    associatedtype Failure: Error
    mutating func visit<Value: SnapshotValue>(_ map: inout LRUMap<Value>, expiry: StateExpiry) throws(Failure)
}

private struct ExpiryVisitor: StateMapVisitor {
    typealias Failure = Never
    let window: Int64, volume: Int64, suppression: Int64

    mutating func visit<Value: SnapshotValue>(_ map: inout LRUMap<Value>, expiry: StateExpiry) {
        switch expiry {
        case .window: map.expire(before: window)
        case .volume: map.expire(before: volume)
        case .suppression: map.expire(before: suppression)
        case .never: break
        }
    }
}

private struct EvictionCounter: StateMapVisitor {
    typealias Failure = Never
    var total = 0

    mutating func visit<Value: SnapshotValue>(_ map: inout LRUMap<Value>, expiry: StateExpiry) {
        total += map.evictions
    }
}
