#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Counters a front end can report (metrics, summaries).
public struct EngineStatistics: Sendable, Hashable {
    public var events = 0
    /// Events further behind the latest event time than the allowed lateness: checked by the
    /// stateless detectors, not counted in windows.
    public var lateEvents = 0
    public var anomalies: [DetectorKind: Int] = [:]
    /// Alerts held back because the same detector had just reported the same entity.
    public var suppressed = 0
    /// Entities dropped from bounded state to keep memory flat.
    public var evictions = 0
}

/// What the engine measured for one event; the trainer calibrates thresholds from these.
struct Observation {
    var pairFailures = 0
    var sourceDistinctUsers = 0
    var userDistinctSources = 0
    var sourceUnknownUsers = 0
    var privilegedFailures = 0
    var failuresBeforeSuccess = 0
    /// Share of the user's activity near this hour, when the profile has enough history.
    var hourShare: Double? = nil
    var features: FeatureVector? = nil
    var volumeZ: [Double] = []
}

/// The detection engine: feed it events in (roughly) event-time order and it returns the
/// anomalies each one completes.
///
/// Pure and deterministic: no clock, no I/O, no randomness — the same events with the same
/// model and configuration give the same anomalies, byte for byte. Not thread-safe: use one
/// engine per stream of events (the stream detector keeps one per partition). Windowed state
/// advances on event time, tolerates events up to `latenessMs` out of order, and is bounded by
/// `maxEntities` per kind of state.
public struct DetectionEngine: Sendable {
    /// The configuration in force: the given one, with a model's calibrated thresholds applied.
    public private(set) var config: DetectionConfig
    public private(set) var model: DetectionModel?
    public private(set) var statistics = EngineStatistics()

    private var watermark = Int64.min
    private var pairFailures: LRUMap<TimeWindow>
    private var sourceFailures: LRUMap<TimeWindow>
    private var userFailures: LRUMap<TimeWindow>
    private var sourceUsers: LRUMap<DistinctWindow>
    private var userSources: LRUMap<DistinctWindow>
    private var sourceUnknownUsers: LRUMap<DistinctWindow>
    private var privilegedFailures: LRUMap<TimeWindow>
    private var profiles: LRUMap<OnlineProfile>
    private var userVolume: LRUMap<VolumeState>
    private var sourceVolume: LRUMap<VolumeState>
    private var templateCounts: LRUMap<UInt32>
    private var templateTotal: UInt64 = 0
    private var suppressedUntil: LRUMap<Int64>
    private let privilegedKeys: Set<UInt64>
    private let longestWindow: Int64

    /// Creates an engine. A model's calibrated thresholds raise the configured ones.
    public init(config: DetectionConfig = .default, model: DetectionModel? = nil) {
        self.config = Self.effective(config, model)
        self.model = model
        let n = config.maxEntities
        pairFailures = LRUMap(capacity: n)
        sourceFailures = LRUMap(capacity: n)
        userFailures = LRUMap(capacity: n)
        sourceUsers = LRUMap(capacity: n)
        userSources = LRUMap(capacity: n)
        sourceUnknownUsers = LRUMap(capacity: n)
        privilegedFailures = LRUMap(capacity: n)
        profiles = LRUMap(capacity: n)
        userVolume = LRUMap(capacity: n)
        sourceVolume = LRUMap(capacity: n)
        templateCounts = LRUMap(capacity: n)
        suppressedUntil = LRUMap(capacity: n)
        privilegedKeys = Set(config.privileged.accounts.map(EntityKey.user))
        longestWindow = [config.bruteForce.windowMs, config.passwordSpraying.windowMs, config.credentialStuffing.windowMs,
                         config.successAfterFailures.windowMs, config.accountEnumeration.windowMs, config.privileged.windowMs].max() ?? 0
    }

    /// Swaps the model (and the thresholds it calibrates) while keeping all state: a model
    /// reload must not forget the windows in progress. `config` is the configured (uncalibrated)
    /// configuration; privileged accounts, windows and capacities keep their current values.
    public mutating func replaceModel(_ model: DetectionModel?, config: DetectionConfig) {
        var next = Self.effective(config, model)
        next.privileged.accounts = self.config.privileged.accounts
        next.maxEntities = self.config.maxEntities
        self.config = next
        self.model = model
    }

    /// The configuration with a model's calibrated thresholds applied (they only raise counts).
    static func effective(_ config: DetectionConfig, _ model: DetectionModel?) -> DetectionConfig {
        var effective = config
        if let t = model?.thresholds {
            effective.bruteForce.failures = max(config.bruteForce.failures, t.bruteForceFailures)
            effective.passwordSpraying.distinctUsers = max(config.passwordSpraying.distinctUsers, t.sprayingUsers)
            effective.credentialStuffing.distinctSources = max(config.credentialStuffing.distinctSources, t.stuffingSources)
            effective.accountEnumeration.distinctUnknownUsers = max(config.accountEnumeration.distinctUnknownUsers, t.enumerationUsers)
            effective.privileged.failures = max(config.privileged.failures, t.privilegedFailures)
            effective.successAfterFailures.failures = max(config.successAfterFailures.failures, t.successAfterFailures)
            effective.unusualHour.maxShare = min(config.unusualHour.maxShare, t.unusualHourMaxShare)
            effective.volumeSpike.k = max(config.volumeSpike.k, t.volumeK)
            effective.outlier.threshold = max(config.outlier.threshold, t.outlierThreshold)
        }
        return effective
    }

    /// Processes one event and returns the anomalies it triggers, in detector order.
    public mutating func process(_ event: LogEvent) -> [Anomaly] {
        var observation = Observation()
        return process(event, observing: &observation, collectFeatures: false)
    }

    mutating func process(_ e: LogEvent, observing o: inout Observation, collectFeatures: Bool) -> [Anomaly] {
        statistics.events += 1
        let t = e.timestamp
        if t > watermark { watermark = t }
        let late = t < watermark - config.latenessMs
        if late { statistics.lateEvents += 1 }
        if statistics.events & 1023 == 0 { expireIdleState() }

        var out: [Anomaly] = []
        let userKey = e.user.map(EntityKey.user)
        let sourceKey = e.sourceIP.map(EntityKey.source)
        let weight = max(1, e.repeatCount)
        let windowCutoff = watermark - longestWindow - config.latenessMs

        // Failed attempts: brute force, spraying, stuffing, privileged failures.
        if e.isFailedAttempt && !late {
            if let sourceKey {
                sourceFailures.update(sourceKey, time: t, make: TimeWindow.init) {
                    $0.expire(before: windowCutoff)
                    $0.add(t, weight: weight, cap: 512)
                }
            }
            if let userKey {
                userFailures.update(userKey, time: t, make: TimeWindow.init) {
                    $0.expire(before: windowCutoff)
                    $0.add(t, weight: weight, cap: 512)
                }
            }
            if let user = e.user, let source = e.sourceIP, let userKey, let sourceKey {
                bruteForce(e, user: user, source: source, userKey: userKey, sourceKey: sourceKey, weight: weight, into: &out, &o)
                spraying(e, user: user, source: source, userKey: userKey, sourceKey: sourceKey, into: &out, &o)
                stuffing(e, user: user, source: source, userKey: userKey, sourceKey: sourceKey, into: &out, &o)
                if privilegedKeys.contains(userKey) {
                    privilegedFailures(e, user: user, source: source, sourceKey: sourceKey, weight: weight, into: &out, &o)
                }
            }
        }
        if e.accountUnknown, let user = e.user, let source = e.sourceIP, let sourceKey, !late {
            enumeration(e, user: user, source: source, sourceKey: sourceKey, into: &out, &o)
        }
        // Successful logins: what came before them, where from, when.
        if e.isSuccessfulLogin, let user = e.user, let userKey {
            successAfterFailures(e, user: user, userKey: userKey, sourceKey: sourceKey, into: &out, &o)
            newSource(e, user: user, userKey: userKey, into: &out)
        }
        if let user = e.user, let userKey, isActivity(e) {
            unusualHour(e, user: user, userKey: userKey, into: &out, &o)
            impossibleTravel(e, user: user, userKey: userKey, into: &out)
        }
        if e.kind == .sudo || e.kind == .su, let user = e.user, let userKey {
            escalation(e, user: user, userKey: userKey, into: &out)
        }
        rareEvent(e, into: &out)
        if !late { volume(e, userKey: userKey, sourceKey: sourceKey, weight: weight, collect: collectFeatures, into: &out, &o) }
        if e.isAttempt && (collectFeatures || model?.forest.isEmpty == false) {
            let features = featureVector(e, userKey: userKey, sourceKey: sourceKey)
            o.features = features
            outlier(e, features, into: &out)
        }
        learn(e, userKey: userKey, sourceKey: sourceKey)
        for anomaly in out { statistics.anomalies[anomaly.detector, default: 0] += 1 }
        return out
    }

    // MARK: Detectors

    private mutating func bruteForce(_ e: LogEvent, user: String, source: String, userKey: UInt64, sourceKey: UInt64,
                                     weight: Int, into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.bruteForce
        let key = StableHash.combine(sourceKey, userKey)
        let cutoff = watermark - c.windowMs - config.latenessMs
        let (count, first) = pairFailures.update(key, time: e.timestamp, make: TimeWindow.init) { w -> (Int, Int64?) in
            w.expire(before: cutoff)
            w.add(e.timestamp, weight: weight, cap: max(64, c.failures * 4))
            return (w.count(endingAt: e.timestamp, length: c.windowMs), w.first(endingAt: e.timestamp, length: c.windowMs))
        }
        o.pairFailures = count
        guard c.enabled, count >= c.failures else { return }
        let entity = Entity(.sourceIPUser, "\(user)@\(source)")
        guard !suppressed(.bruteForce, entity, at: e.timestamp) else { return }
        out.append(anomaly(.bruteForce, e, entity: entity, severity: .high, score: excess(count, c.failures),
                           summary: "\(count) failed logins for \(user) from \(source) within \(seconds(c.windowMs)) (threshold \(c.failures))",
                           evidence: [("failures", .int(count)), ("window_seconds", .int(Int(c.windowMs / 1000))),
                                      ("threshold", .int(c.failures)), ("first_seen", first.map(EvidenceValue.time) ?? .null),
                                      ("last_seen", .time(e.timestamp))],
                           mitre: .passwordGuessing))
    }

    private mutating func spraying(_ e: LogEvent, user: String, source: String, userKey: UInt64, sourceKey: UInt64,
                                   into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.passwordSpraying
        let cutoff = watermark - c.windowMs - config.latenessMs
        let (count, names, first) = Self.addDistinct(userKey, name: user, to: sourceKey, in: &sourceUsers, at: e.timestamp,
                                                    cutoff: cutoff, windowMs: c.windowMs, threshold: c.distinctUsers, enabled: c.enabled)
        o.sourceDistinctUsers = count
        guard c.enabled, count >= c.distinctUsers else { return }
        let entity = Entity(.sourceIP, source)
        guard !suppressed(.passwordSpraying, entity, at: e.timestamp) else { return }
        out.append(anomaly(.passwordSpraying, e, entity: entity, severity: .high, score: excess(count, c.distinctUsers),
                           summary: "\(source) failed against \(count) different accounts within \(seconds(c.windowMs)) (threshold \(c.distinctUsers)): \(sample(names))",
                           evidence: [("distinct_users", .int(count)), ("window_seconds", .int(Int(c.windowMs / 1000))),
                                      ("threshold", .int(c.distinctUsers)), ("users", .strings(Array(names.prefix(20)))),
                                      ("first_seen", first.map(EvidenceValue.time) ?? .null), ("last_seen", .time(e.timestamp))],
                           mitre: .passwordSpraying))
    }

    /// Adds `member` to the distinct-members window of `key` (spraying: users per source;
    /// stuffing: sources per user). Returns the distinct count in the window and, once it
    /// reaches `threshold` (when `enabled`), the members' names and the first one's time.
    private static func addDistinct(_ member: UInt64, name: String, to key: UInt64, in windows: inout LRUMap<DistinctWindow>,
                                    at time: Int64, cutoff: Int64, windowMs: Int64, threshold: Int,
                                    enabled: Bool) -> (count: Int, names: [String], first: Int64?) {
        windows.update(key, time: time, make: DistinctWindow.init) { w in
            w.expire(before: cutoff)
            w.add(member, name: name, at: time, cap: max(64, threshold * 4))
            let count = w.count(endingAt: time, length: windowMs)
            guard enabled, count >= threshold else { return (count, [], nil) }
            let (names, first) = w.members(endingAt: time, length: windowMs)
            return (count, names, first)
        }
    }

    private mutating func stuffing(_ e: LogEvent, user: String, source: String, userKey: UInt64, sourceKey: UInt64,
                                   into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.credentialStuffing
        let cutoff = watermark - c.windowMs - config.latenessMs
        let (count, names, first) = Self.addDistinct(sourceKey, name: source, to: userKey, in: &userSources, at: e.timestamp,
                                                    cutoff: cutoff, windowMs: c.windowMs, threshold: c.distinctSources, enabled: c.enabled)
        o.userDistinctSources = count
        guard c.enabled, count >= c.distinctSources else { return }
        let entity = Entity(.user, user)
        guard !suppressed(.credentialStuffing, entity, at: e.timestamp) else { return }
        out.append(anomaly(.credentialStuffing, e, entity: entity, severity: .high, score: excess(count, c.distinctSources),
                           summary: "Account \(user) failed from \(count) different sources within \(seconds(c.windowMs)) (threshold \(c.distinctSources))",
                           evidence: [("distinct_sources", .int(count)), ("window_seconds", .int(Int(c.windowMs / 1000))),
                                      ("threshold", .int(c.distinctSources)), ("sources", .strings(Array(names.prefix(20)))),
                                      ("first_seen", first.map(EvidenceValue.time) ?? .null), ("last_seen", .time(e.timestamp))],
                           mitre: .credentialStuffing))
    }

    private mutating func privilegedFailures(_ e: LogEvent, user: String, source: String, sourceKey: UInt64, weight: Int,
                                             into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.privileged
        let cutoff = watermark - c.windowMs - config.latenessMs
        let (count, first) = privilegedFailures.update(sourceKey, time: e.timestamp, make: TimeWindow.init) { w -> (Int, Int64?) in
            w.expire(before: cutoff)
            w.add(e.timestamp, weight: weight, cap: max(64, c.failures * 4))
            return (w.count(endingAt: e.timestamp, length: c.windowMs), w.first(endingAt: e.timestamp, length: c.windowMs))
        }
        o.privilegedFailures = count
        guard c.enabled, count >= c.failures else { return }
        let entity = Entity(.sourceIP, source)
        guard !suppressed(.privilegedAccount, entity, at: e.timestamp) else { return }
        out.append(anomaly(.privilegedAccount, e, entity: entity, severity: .high, score: excess(count, c.failures),
                           summary: "\(count) failed logins to privileged account \(user) from \(source) within \(seconds(c.windowMs)) (threshold \(c.failures))",
                           evidence: [("reason", .string("privileged_failures")), ("failures", .int(count)),
                                      ("window_seconds", .int(Int(c.windowMs / 1000))), ("threshold", .int(c.failures)),
                                      ("account", .string(user)), ("first_seen", first.map(EvidenceValue.time) ?? .null),
                                      ("last_seen", .time(e.timestamp))],
                           mitre: .passwordGuessing))
    }

    private mutating func enumeration(_ e: LogEvent, user: String, source: String, sourceKey: UInt64,
                                      into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.accountEnumeration
        let cutoff = watermark - c.windowMs - config.latenessMs
        let (count, names, first) = sourceUnknownUsers.update(sourceKey, time: e.timestamp, make: DistinctWindow.init) { w -> (Int, [String], Int64?) in
            w.expire(before: cutoff)
            w.add(EntityKey.user(user), name: user, at: e.timestamp, cap: max(64, c.distinctUnknownUsers * 4))
            let count = w.count(endingAt: e.timestamp, length: c.windowMs)
            guard c.enabled, count >= c.distinctUnknownUsers else { return (count, [], nil) }
            let (names, first) = w.members(endingAt: e.timestamp, length: c.windowMs)
            return (count, names, first)
        }
        o.sourceUnknownUsers = count
        guard c.enabled, count >= c.distinctUnknownUsers else { return }
        let entity = Entity(.sourceIP, source)
        guard !suppressed(.accountEnumeration, entity, at: e.timestamp) else { return }
        out.append(anomaly(.accountEnumeration, e, entity: entity, severity: count >= 3 * c.distinctUnknownUsers ? .high : .medium,
                           score: excess(count, c.distinctUnknownUsers),
                           summary: "\(source) tried \(count) unknown accounts within \(seconds(c.windowMs)) (threshold \(c.distinctUnknownUsers)): \(sample(names))",
                           evidence: [("unknown_users", .int(count)), ("window_seconds", .int(Int(c.windowMs / 1000))),
                                      ("threshold", .int(c.distinctUnknownUsers)), ("users", .strings(Array(names.prefix(20)))),
                                      ("first_seen", first.map(EvidenceValue.time) ?? .null), ("last_seen", .time(e.timestamp))],
                           mitre: .accountDiscovery))
    }

    private mutating func successAfterFailures(_ e: LogEvent, user: String, userKey: UInt64, sourceKey: UInt64?,
                                               into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.successAfterFailures
        let userCount = userFailures.peek(userKey) { $0.count(endingAt: e.timestamp, length: c.windowMs) } ?? 0
        let sourceCount = sourceKey.flatMap { sourceFailures.peek($0) { $0.count(endingAt: e.timestamp, length: c.windowMs) } } ?? 0
        let count = max(userCount, sourceCount)
        o.failuresBeforeSuccess = count
        guard c.enabled, count >= c.failures else { return }
        let byUser = userCount >= sourceCount
        let entity = Entity(.user, user)
        guard !suppressed(.successAfterFailures, entity, at: e.timestamp) else { return }
        let from = e.sourceIP.map { " from \($0)" } ?? ""
        let what = byUser ? "failures for the account" : "failures from \(e.sourceIP ?? "the source")"
        out.append(anomaly(.successAfterFailures, e, entity: entity, severity: .critical,
                           score: min(1, 0.8 + 0.2 * (1 - Double(c.failures) / Double(count))),
                           summary: "Successful login for \(user)\(from) after \(count) \(what) within \(seconds(c.windowMs)) (threshold \(c.failures))",
                           evidence: [("failures_for_user", .int(userCount)), ("failures_from_source", .int(sourceCount)),
                                      ("window_seconds", .int(Int(c.windowMs / 1000))), ("threshold", .int(c.failures)),
                                      ("success_at", .time(e.timestamp))],
                           mitre: .validAccounts))
    }

    private mutating func newSource(_ e: LogEvent, user: String, userKey: UInt64, into out: inout [Anomaly]) {
        let c = config.newSource
        guard c.enabled, let source = e.sourceIP else { return }
        let trained = model?.users[userKey]
        let online = profiles.peek(userKey)?.profile
        let history = Int(trained?.successes ?? 0) + Int(online?.successes ?? 0)
        guard history >= c.minHistory else { return }
        let sourceKey = EntityKey.source(source)
        if trained?.sources.contains(sourceKey) == true || online?.sources.contains(sourceKey) == true { return }
        let prefix = EntityKey.prefix(source)
        let prefixKnown = trained?.prefixes.contains(prefix) == true || online?.prefixes.contains(prefix) == true
        if c.samePrefixIsKnown && prefixKnown { return }
        let entity = Entity(.user, user)
        guard !suppressed(.newSource, entity, at: e.timestamp, key: StableHash.combine(userKey, sourceKey)) else { return }
        let privileged = privilegedKeys.contains(userKey)
        out.append(anomaly(.newSource, e, entity: entity, severity: privileged ? .high : .medium, score: privileged ? 0.8 : 0.6,
                           summary: "\(user) logged in from \(source), an address\(prefixKnown ? "" : " and network") never seen for this user in \(history) earlier logins",
                           evidence: [("source", .string(source)), ("known_address", .bool(false)), ("known_network", .bool(prefixKnown)),
                                      ("earlier_logins", .int(history)), ("min_history", .int(c.minHistory))],
                           mitre: .validAccounts))
    }

    private mutating func unusualHour(_ e: LogEvent, user: String, userKey: UInt64, into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.unusualHour
        let hour = UTC.hour(e.timestamp)
        // Read in place: copying the profiles (sets and arrays) per event is measurable.
        let online = profiles.peek(userKey) { (Int($0.profile.activity), $0.profile.activity(near: hour)) } ?? (0, 0)
        let trained = model?.profileStats(userKey, hour: hour) ?? (0, 0)
        let activity = trained.0 + online.0
        guard activity >= c.minHistory else { return }
        let near = trained.1 + online.1
        let share = Double(near) / Double(activity)
        o.hourShare = share
        guard c.enabled, share < c.maxShare else { return }
        let entity = Entity(.user, user)
        guard !suppressed(.unusualHour, entity, at: e.timestamp) else { return }
        let hh = hour < 10 ? "0\(hour)" : "\(hour)"
        out.append(anomaly(.unusualHour, e, entity: entity, severity: near == 0 ? .medium : .low,
                           score: min(1, 0.5 + 0.5 * (1 - share / c.maxShare)),
                           summary: "\(user) active at \(hh):00 UTC; \(percent(share)) of this user's \(activity) earlier actions were within an hour of that time (threshold \(percent(c.maxShare)))",
                           evidence: [("hour_utc", .int(hour)), ("share_near_hour", .double(rounded(share))),
                                      ("threshold", .double(c.maxShare)), ("history", .int(activity))],
                           mitre: .validAccounts))
    }

    private mutating func impossibleTravel(_ e: LogEvent, user: String, userKey: UInt64, into out: inout [Anomaly]) {
        let c = config.impossibleTravel
        guard let here = Geography.location(of: e) else { return }
        let label = e.country ?? "\(rounded(here.lat)),\(rounded(here.lon))"
        let last = profiles.peek(userKey)?.lastLocation
        profiles.update(userKey, time: e.timestamp, make: OnlineProfile.init) { p in
            if p.lastLocation.map({ $0.time <= e.timestamp }) ?? true {
                p.lastLocation = (here.lat, here.lon, e.timestamp, label, here.precise)
            }
        }
        guard c.enabled, let last, last.time <= e.timestamp else { return }
        let distance = Geography.distanceKm((last.lat, last.lon), (here.lat, here.lon))
        guard distance >= c.minDistanceKm else { return }
        let hours = max(Double(e.timestamp - last.time) / 3_600_000, 1.0 / 60) // a minute at least
        let speed = distance / hours
        guard speed > c.maxSpeedKmh else { return }
        let entity = Entity(.user, user)
        guard !suppressed(.impossibleTravel, entity, at: e.timestamp) else { return }
        let minutes = Int((Double(e.timestamp - last.time) / 60_000).rounded())
        out.append(anomaly(.impossibleTravel, e, entity: entity, severity: .high, score: min(1, 0.6 + 0.4 * (1 - c.maxSpeedKmh / speed)),
                           summary: "\(user) seen in \(label) \(minutes) minutes after \(last.label): \(Int(distance)) km apart, \(Int(speed)) km/h (limit \(Int(c.maxSpeedKmh)) km/h)",
                           evidence: [("from", .string(last.label)), ("to", .string(label)), ("distance_km", .int(Int(distance))),
                                      ("minutes", .int(minutes)), ("speed_kmh", .int(Int(speed))), ("limit_kmh", .int(Int(c.maxSpeedKmh))),
                                      ("previous_seen", .time(last.time)), ("precise", .bool(here.precise && last.precise))],
                           mitre: .validAccounts))
    }

    private mutating func escalation(_ e: LogEvent, user: String, userKey: UInt64, into out: inout [Anomaly]) {
        let c = config.privileged
        guard c.enabled else { return }
        let target = e.targetUser ?? (e.kind == .sudo ? "root" : nil)
        guard let target, c.accounts.contains(target), user != target else { return }
        let entity = Entity(.user, user)
        let how = e.kind == .sudo ? "sudo" : "su"
        if e.outcome == .failure {
            guard !suppressed(.privilegedAccount, entity, at: e.timestamp) else { return }
            out.append(anomaly(.privilegedAccount, e, entity: entity, severity: .medium, score: 0.6,
                               summary: "\(user) was refused \(how) to \(target)\(e.repeatCount > 1 ? " (\(e.repeatCount) attempts)" : "")",
                               evidence: [("reason", .string("\(how)_refused")), ("target_user", .string(target)),
                                          ("attempts", .int(e.repeatCount)), ("command", e.command.map(EvidenceValue.string) ?? .null)],
                               mitre: e.kind == .sudo ? .sudo : .elevation))
            return
        }
        // Without a model, wait for a baseline of activity before calling anyone's escalation new.
        guard model != nil || statistics.events > config.rareEvent.minHistory else { return }
        let before = Int(model?.users[userKey]?.escalations ?? 0) + Int(profiles.peek(userKey)?.profile.escalations ?? 0)
        guard before < c.minEscalations else { return }
        guard !suppressed(.privilegedAccount, entity, at: e.timestamp) else { return }
        out.append(anomaly(.privilegedAccount, e, entity: entity, severity: .high, score: 0.75,
                           summary: "\(user) became \(target) with \(how) for the first time (\(before) earlier escalations in the profile)\(e.command.map { ": \($0)" } ?? "")",
                           evidence: [("reason", .string("unusual_escalation")), ("method", .string(how)), ("target_user", .string(target)),
                                      ("earlier_escalations", .int(before)), ("command", e.command.map(EvidenceValue.string) ?? .null)],
                           mitre: e.kind == .sudo ? .sudo : .elevation))
    }

    private mutating func rareEvent(_ e: LogEvent, into out: inout [Anomaly]) {
        let c = config.rareEvent
        let key = EntityKey.template(e.template)
        let seen = UInt64(model?.templates[key] ?? 0) + UInt64(templateCounts.peek(key) ?? 0)
        let total = (model?.templateTotal ?? 0) + templateTotal
        templateTotal += 1
        templateCounts.update(key, time: e.timestamp, make: { 0 }) { $0 &+= 1 }
        guard c.enabled, total >= UInt64(c.minHistory) else { return }
        let share = Double(seen) / Double(total)
        guard seen == 0 || share < c.maxShare else { return }
        let entity = Entity(.template, e.template)
        // A template is news once a day at most.
        guard !suppressed(.rareEvent, entity, at: e.timestamp, period: 86_400_000) else { return }
        let source = e.service.map { " from \($0)" } ?? ""
        out.append(anomaly(.rareEvent, e, entity: entity, severity: seen == 0 ? .medium : .low,
                           score: seen == 0 ? 0.7 : min(1, 0.4 + 0.3 * (1 - share / c.maxShare)),
                           summary: seen == 0
                               ? "Never-seen kind of message\(source) (0 of \(total) earlier events): \(e.template)"
                               : "Rare kind of message\(source) (\(seen) of \(total) earlier events): \(e.template)",
                           evidence: [("template", .string(e.template)), ("seen_before", .int(Int(seen))),
                                      ("events_before", .int(Int(total))), ("threshold_share", .double(c.maxShare))],
                           mitre: e.service == "sshd" ? .ssh : nil))
    }

    private mutating func volume(_ e: LogEvent, userKey: UInt64?, sourceKey: UInt64?, weight: Int, collect: Bool,
                                 into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.volumeSpike
        let bucket = e.timestamp.floorDiv(c.bucketMs)
        if let userKey { volume(e, kind: .user, key: userKey, bucket: bucket, weight: weight, collect: collect, into: &out, &o) }
        if let sourceKey { volume(e, kind: .sourceIP, key: sourceKey, bucket: bucket, weight: weight, collect: collect, into: &out, &o) }
    }

    private mutating func volume(_ e: LogEvent, kind: Entity.Kind, key: UInt64, bucket: Int64, weight: Int, collect: Bool,
                                 into out: inout [Anomaly], _ o: inout Observation) {
        let c = config.volumeSpike
        let fallback: RateBaseline? = kind == .user
            ? (model?.users[key]?.rate).flatMap { $0.buckets > 0 ? $0 : nil } ?? model?.populationUserRate
            : model?.sources[key] ?? model?.populationSourceRate
        let (count, threshold, crossed, baseline) = kind == .user
            ? Self.countVolume(&userVolume, c, key: key, bucket: bucket, time: e.timestamp, weight: weight, fallback: fallback, collect: collect, o: &o)
            : Self.countVolume(&sourceVolume, c, key: key, bucket: bucket, time: e.timestamp, weight: weight, fallback: fallback, collect: collect, o: &o)
        guard c.enabled, crossed else { return }
        let value = kind == .user ? (e.user ?? "") : (e.sourceIP ?? "")
        let entity = Entity(kind, value)
        guard !suppressed(.volumeSpike, entity, at: e.timestamp) else { return }
        let failures = e.isFailedAttempt
        out.append(anomaly(.volumeSpike, e, entity: entity, severity: count >= 3 * threshold ? .high : .medium,
                           score: excess(count, threshold),
                           summary: "\(value) produced \(count) events in \(seconds(c.bucketMs)); baseline median \(rounded(Double(baseline.median))), MAD \(rounded(Double(baseline.mad))), threshold \(threshold)",
                           evidence: [("events", .int(count)), ("bucket_seconds", .int(Int(c.bucketMs / 1000))),
                                      ("baseline_median", .double(rounded(Double(baseline.median)))),
                                      ("baseline_mad", .double(rounded(Double(baseline.mad)))), ("k", .double(c.k)),
                                      ("threshold", .int(threshold)), ("bucket_start", .time(bucket * c.bucketMs))],
                           mitre: failures ? .bruteForce : nil))
    }

    /// Counts one event into an entity's bucket. Returns the count, the bucket's threshold,
    /// whether this event crossed it, and the baseline used.
    private static func countVolume(_ map: inout LRUMap<VolumeState>, _ c: DetectionConfig.VolumeSpike, key: UInt64, bucket: Int64,
                                    time: Int64, weight: Int, fallback: RateBaseline?, collect: Bool,
                                    o: inout Observation) -> (Int, Int, Bool, RateBaseline) {
        map.update(key, time: time, make: VolumeState.init) { v -> (Int, Int, Bool, RateBaseline) in
            if bucket > v.bucket {
                if v.bucket != .min {
                    if collect, v.threshold != Int.max {
                        // How far the finished bucket was from its baseline, for calibrating k.
                        o.volumeZ.append((Double(v.count) - Double(v.baseline.median)) / max(1.0, 1.4826 * Double(v.baseline.mad)))
                    }
                    v.history.append(UInt32(clamping: v.count))
                    if v.count > 0 { v.activeBuckets += 1 }
                    let gap = min(Int(bucket - v.bucket - 1), c.historyBuckets)
                    if gap > 0 { v.history.append(contentsOf: repeatElement(0, count: gap)) }
                    if v.history.count > c.historyBuckets {
                        let excess = v.history.count - c.historyBuckets
                        v.activeBuckets -= v.history.prefix(excess).filter { $0 > 0 }.count
                        v.history.removeFirst(excess)
                    }
                }
                v.bucket = bucket
                v.count = 0
                v.alerted = false
                // The baseline is fixed when the bucket opens: the entity's own recent history
                // once it has one, else the trained baseline.
                let own = v.history.count >= c.minHistoryBuckets && v.activeBuckets >= 2 ? RateBaseline.of(v.history.map(Int.init)) : nil
                if let baseline = own ?? fallback {
                    v.baseline = baseline
                    v.threshold = baseline.threshold(k: c.k, floor: c.minCount)
                } else {
                    v.threshold = Int.max
                }
            } else if bucket < v.bucket {
                return (0, v.threshold, false, v.baseline) // a late event for a closed bucket
            }
            let before = v.count
            v.count += weight
            let crossed = !v.alerted && before < v.threshold && v.count >= v.threshold
            if crossed { v.alerted = true }
            return (v.count, v.threshold, crossed, v.baseline)
        }
    }

    private func featureVector(_ e: LogEvent, userKey: UInt64?, sourceKey: UInt64?) -> FeatureVector {
        var f = FeatureVector()
        let t = e.timestamp
        if let userKey {
            let trained = model?.users[userKey]
            let online = profiles.peek(userKey)?.profile
            let activity = Int(trained?.activity ?? 0) + Int(online?.activity ?? 0)
            if activity >= config.unusualHour.minHistory {
                let hour = UTC.hour(t)
                let near = (trained?.activity(near: hour) ?? 0) + (online?.activity(near: hour) ?? 0)
                f[0] = Float(1 - min(1, Double(near) / Double(activity) / 0.1))
            }
            f[4] = scaled(userFailures.peek(userKey)?.count(endingAt: t, length: config.credentialStuffing.windowMs) ?? 0, 100)
            let successes = Int(trained?.successes ?? 0) + Int(online?.successes ?? 0)
            if successes >= config.newSource.minHistory, let sourceKey {
                let known = trained?.sources.contains(sourceKey) == true || online?.sources.contains(sourceKey) == true
                f[5] = known ? 0 : 1
            }
            f[7] = privilegedKeys.contains(userKey) ? 1 : 0
            f[9] = scaled(userVolume.peek(userKey)?.count ?? 0, 200)
        }
        f[1] = e.outcome == .failure ? 1 : 0
        if let sourceKey {
            f[2] = scaled(sourceFailures.peek(sourceKey)?.count(endingAt: t, length: config.bruteForce.windowMs) ?? 0, 100)
            f[3] = scaled(sourceUsers.peek(sourceKey)?.count(endingAt: t, length: config.passwordSpraying.windowMs) ?? 0, 50)
        }
        let key = EntityKey.template(e.template)
        let seen = Double(model?.templates[key] ?? 0) + Double(templateCounts.peek(key) ?? 0)
        let total = Double(model?.templateTotal ?? 0) + Double(templateTotal)
        if total > 0 { f[6] = Float(min(1, -log10(max(seen, 0.5) / total) / 8)) }
        f[8] = e.accountUnknown ? 1 : 0
        return f
    }

    private mutating func outlier(_ e: LogEvent, _ f: FeatureVector, into out: inout [Anomaly]) {
        guard config.outlier.enabled, let model, !model.forest.isEmpty else { return }
        let score = model.forest.score(f)
        guard score >= config.outlier.threshold else { return }
        let unusual = (0..<FeatureVector.count).filter { i in
            i < model.featureHigh.count && f[i] > model.featureHigh[i]
        }.map { FeatureVector.names[$0] }
        let key = e.user ?? e.sourceIP ?? e.template
        let entity = Entity(e.user != nil ? .user : (e.sourceIP != nil ? .sourceIP : .template), key)
        guard !suppressed(.outlier, entity, at: e.timestamp) else { return }
        let features = (0..<FeatureVector.count).map { (FeatureVector.names[$0], EvidenceValue.double(rounded(Double(f[$0])))) }
        out.append(anomaly(.outlier, e, entity: entity, severity: score >= 0.8 ? .high : .medium, score: rounded(score),
                           summary: "Unusual combination for \(key) (isolation-forest score \(rounded(score)), threshold \(rounded(config.outlier.threshold)))"
                               + (unusual.isEmpty ? "" : ": \(unusual.joined(separator: ", ")) above training's 99th percentile"),
                           evidence: [("forest_score", .double(rounded(score))), ("threshold", .double(config.outlier.threshold)),
                                      ("unusual_features", .strings(unusual)), ("features", .object(features))],
                           mitre: nil))
    }

    // MARK: Learning

    private func isActivity(_ e: LogEvent) -> Bool {
        e.isSuccessfulLogin || e.kind == .sessionOpen || ((e.kind == .sudo || e.kind == .su) && e.outcome == .success)
    }

    /// Updates the online profile after the detectors ran, so an event never vouches for itself.
    private mutating func learn(_ e: LogEvent, userKey: UInt64?, sourceKey: UInt64?) {
        guard let userKey else { return }
        let activity = isActivity(e)
        let success = e.isSuccessfulLogin
        let escalated = (e.kind == .sudo || e.kind == .su) && e.outcome == .success
            && config.privileged.accounts.contains(e.targetUser ?? (e.kind == .sudo ? "root" : ""))
        guard activity || success || escalated else { return }
        let hour = UTC.hour(e.timestamp)
        profiles.update(userKey, time: e.timestamp, make: OnlineProfile.init) { p in
            if activity {
                p.profile.hours[hour] &+= 1
                p.profile.activity &+= 1
            }
            if success {
                p.profile.successes &+= 1
                if let source = e.sourceIP, let sourceKey { p.profile.addSource(sourceKey, prefix: EntityKey.prefix(source)) }
            }
            if escalated { p.profile.escalations &+= 1 }
        }
    }

    /// The learnt profile of a user (online part only).
    func onlineProfile(_ userKey: UInt64) -> UserProfile? { profiles.peek(userKey)?.profile }

    /// Every online profile (for the trainer).
    func forEachProfile(_ body: (UInt64, UserProfile) -> Void) { profiles.forEach { body($0, $1.profile) } }

    // MARK: Snapshots

    private static let snapshotMagic: [UInt8] = Array("VGLSTATE".utf8)
    private static let snapshotVersion: UInt32 = 1

    /// The engine's complete state as bytes. An engine with the same configuration and model
    /// that ``restore(_:)``s these bytes continues exactly as this one would (recency order
    /// and all), which is what makes crash recovery reproduce the same anomalies.
    public func snapshot() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes(Self.snapshotMagic)
        w.u32(Self.snapshotVersion)
        w.i64(watermark)
        w.u64(templateTotal)
        w.u64(UInt64(statistics.events)); w.u64(UInt64(statistics.lateEvents)); w.u64(UInt64(statistics.suppressed))
        let counts = statistics.anomalies.sorted { $0.key < $1.key }
        w.u32(UInt32(counts.count))
        for (detector, n) in counts { w.string(detector.rawValue); w.u64(UInt64(n)) }
        func windows(_ map: LRUMap<TimeWindow>) {
            w.u32(UInt32(map.count)); w.u64(UInt64(map.evictions))
            map.forEachWithTime { key, time, value in
                w.u64(key); w.i64(time)
                w.u32(UInt32(value.times.count)); for t in value.times { w.i64(t) }
            }
        }
        func distinct(_ map: LRUMap<DistinctWindow>) {
            w.u32(UInt32(map.count)); w.u64(UInt64(map.evictions))
            map.forEachWithTime { key, time, value in
                w.u64(key); w.i64(time)
                w.u32(UInt32(value.members.count))
                for k in 0..<value.members.count { w.u64(value.members[k]); w.string(value.names[k]); w.i64(value.times[k]) }
            }
        }
        func volume(_ map: LRUMap<VolumeState>) {
            w.u32(UInt32(map.count)); w.u64(UInt64(map.evictions))
            map.forEachWithTime { key, time, v in
                w.u64(key); w.i64(time)
                w.i64(v.bucket); w.i64(Int64(v.count)); w.i64(Int64(v.threshold == Int.max ? -1 : v.threshold))
                w.rate(v.baseline); w.u8(v.alerted ? 1 : 0); w.u32(UInt32(v.activeBuckets))
                w.u32(UInt32(v.history.count)); for h in v.history { w.u32(h) }
            }
        }
        windows(pairFailures); windows(sourceFailures); windows(userFailures)
        distinct(sourceUsers); distinct(userSources); distinct(sourceUnknownUsers)
        windows(privilegedFailures)
        w.u32(UInt32(profiles.count)); w.u64(UInt64(profiles.evictions))
        profiles.forEachWithTime { key, time, p in
            w.u64(key); w.i64(time)
            let u = p.profile
            for h in u.hours { w.u32(h) }
            w.u32(u.activity); w.u32(u.successes); w.u32(u.escalations)
            w.u32(UInt32(u.sources.count)); for s in u.sources.sorted() { w.u64(s) }
            w.u32(UInt32(u.prefixes.count)); for s in u.prefixes.sorted() { w.u64(s) }
            w.rate(u.rate)
            if let l = p.lastLocation {
                w.u8(1); w.f64(l.lat); w.f64(l.lon); w.i64(l.time); w.string(l.label); w.u8(l.precise ? 1 : 0)
            } else {
                w.u8(0)
            }
        }
        volume(userVolume); volume(sourceVolume)
        w.u32(UInt32(templateCounts.count)); w.u64(UInt64(templateCounts.evictions))
        templateCounts.forEachWithTime { key, time, n in w.u64(key); w.i64(time); w.u32(n) }
        w.u32(UInt32(suppressedUntil.count)); w.u64(UInt64(suppressedUntil.evictions))
        suppressedUntil.forEachWithTime { key, time, until in w.u64(key); w.i64(time); w.i64(until) }
        w.bytes(Array("END.".utf8))
        return w.data
    }

    /// Replaces this engine's state with a snapshot's. The engine keeps its configuration and
    /// model; on any error it is left unchanged.
    public mutating func restore(_ bytes: [UInt8]) throws(ModelError) {
        var restored = DetectionEngine(config: config, model: model)
        var r = BinaryReader(bytes)
        guard try r.bytes(Self.snapshotMagic.count) == Self.snapshotMagic else { throw .corrupt("not an engine snapshot") }
        let version = try r.u32()
        guard version == Self.snapshotVersion else { throw .incompatible("snapshot version \(version), expected \(Self.snapshotVersion)") }
        restored.watermark = try r.i64()
        restored.templateTotal = try r.u64()
        restored.statistics.events = Int(try r.u64()); restored.statistics.lateEvents = Int(try r.u64())
        restored.statistics.suppressed = Int(try r.u64())
        for _ in 0..<(try r.count(max: 64)) {
            let name = try r.string()
            guard let detector = DetectorKind(rawValue: name) else { throw .corrupt("unknown detector \(name)") }
            restored.statistics.anomalies[detector] = Int(try r.u64())
        }
        func windows(_ map: inout LRUMap<TimeWindow>) throws(ModelError) {
            let n = try r.count(max: 50_000_000)
            map.setEvictions(Int(try r.u64()))
            for _ in 0..<n {
                let key = try r.u64(), time = try r.i64()
                var w = TimeWindow()
                for _ in 0..<(try r.count(max: 1_000_000)) { w.appendSorted(try r.i64()) }
                map.restore(key, time: time, value: w)
            }
        }
        func distinct(_ map: inout LRUMap<DistinctWindow>) throws(ModelError) {
            let n = try r.count(max: 50_000_000)
            map.setEvictions(Int(try r.u64()))
            for _ in 0..<n {
                let key = try r.u64(), time = try r.i64()
                var w = DistinctWindow()
                for _ in 0..<(try r.count(max: 1_000_000)) {
                    let member = try r.u64(), name = try r.string(), t = try r.i64()
                    w.appendRaw(member, name: name, at: t)
                }
                map.restore(key, time: time, value: w)
            }
        }
        func volume(_ map: inout LRUMap<VolumeState>) throws(ModelError) {
            let n = try r.count(max: 50_000_000)
            map.setEvictions(Int(try r.u64()))
            for _ in 0..<n {
                let key = try r.u64(), time = try r.i64()
                var v = VolumeState()
                v.bucket = try r.i64(); v.count = Int(try r.i64())
                let threshold = try r.i64(); v.threshold = threshold < 0 ? Int.max : Int(threshold)
                v.baseline = try r.rate(); v.alerted = try r.u8() == 1; v.activeBuckets = Int(try r.u32())
                for _ in 0..<(try r.count(max: 100_000)) { v.history.append(try r.u32()) }
                map.restore(key, time: time, value: v)
            }
        }
        try windows(&restored.pairFailures); try windows(&restored.sourceFailures); try windows(&restored.userFailures)
        try distinct(&restored.sourceUsers); try distinct(&restored.userSources); try distinct(&restored.sourceUnknownUsers)
        try windows(&restored.privilegedFailures)
        let profileCount = try r.count(max: 50_000_000)
        restored.profiles.setEvictions(Int(try r.u64()))
        for _ in 0..<profileCount {
            let key = try r.u64(), time = try r.i64()
            var p = OnlineProfile()
            for h in 0..<24 { p.profile.hours[h] = try r.u32() }
            p.profile.activity = try r.u32(); p.profile.successes = try r.u32(); p.profile.escalations = try r.u32()
            for _ in 0..<(try r.count(max: 1_000_000)) { p.profile.sources.insert(try r.u64()) }
            for _ in 0..<(try r.count(max: 1_000_000)) { p.profile.prefixes.insert(try r.u64()) }
            p.profile.rate = try r.rate()
            if try r.u8() == 1 {
                let lat = try r.f64(), lon = try r.f64(), t = try r.i64(), label = try r.string(), precise = try r.u8() == 1
                p.lastLocation = (lat, lon, t, label, precise)
            }
            restored.profiles.restore(key, time: time, value: p)
        }
        try volume(&restored.userVolume); try volume(&restored.sourceVolume)
        let templateCount = try r.count(max: 50_000_000)
        restored.templateCounts.setEvictions(Int(try r.u64()))
        for _ in 0..<templateCount {
            let key = try r.u64(), time = try r.i64()
            restored.templateCounts.restore(key, time: time, value: try r.u32())
        }
        let suppressionCount = try r.count(max: 50_000_000)
        restored.suppressedUntil.setEvictions(Int(try r.u64()))
        for _ in 0..<suppressionCount {
            let key = try r.u64(), time = try r.i64()
            restored.suppressedUntil.restore(key, time: time, value: try r.i64())
        }
        guard try r.bytes(4) == Array("END.".utf8), r.atEnd else { throw .corrupt("snapshot has trailing or missing data") }
        self = restored
    }

    // MARK: Helpers

    private mutating func expireIdleState() {
        let cutoff = watermark - longestWindow - config.latenessMs
        pairFailures.expire(before: cutoff)
        sourceFailures.expire(before: cutoff)
        userFailures.expire(before: cutoff)
        sourceUsers.expire(before: cutoff)
        userSources.expire(before: cutoff)
        sourceUnknownUsers.expire(before: cutoff)
        privilegedFailures.expire(before: cutoff)
        suppressedUntil.expire(before: watermark - 86_400_000)
        let volumeCutoff = watermark - config.volumeSpike.bucketMs * Int64(config.volumeSpike.historyBuckets + 1)
        userVolume.expire(before: volumeCutoff)
        sourceVolume.expire(before: volumeCutoff)
        statistics.evictions = pairFailures.evictions + sourceFailures.evictions + userFailures.evictions + sourceUsers.evictions
            + userSources.evictions + sourceUnknownUsers.evictions + privilegedFailures.evictions + profiles.evictions
            + userVolume.evictions + sourceVolume.evictions + templateCounts.evictions + suppressedUntil.evictions
    }

    /// True (and counted) when `detector` reported `entity` less than the suppression period ago;
    /// otherwise starts a new period and returns false.
    private mutating func suppressed(_ detector: DetectorKind, _ entity: Entity, at time: Int64, key: UInt64? = nil,
                                     period: Int64? = nil) -> Bool {
        let k = StableHash.combine(StableHash.hash(detector.rawValue), key ?? StableHash.hash(entity.value))
        let until = time + (period ?? config.suppressionMs)
        let wasQuiet = suppressedUntil.update(k, time: time, make: { Int64.min }) { current -> Bool in
            if current > time { return true }
            current = until
            return false
        }
        if wasQuiet { statistics.suppressed += 1 }
        return wasQuiet
    }

    private func anomaly(_ detector: DetectorKind, _ e: LogEvent, entity: Entity, severity: Severity, score: Double,
                         summary: String, evidence: [(String, EvidenceValue)], mitre: MITRE?) -> Anomaly {
        Anomaly(id: Anomaly.makeID(detector: detector, entity: entity, fingerprint: e.fingerprint), detector: detector,
                severity: severity, score: rounded(score), entity: entity, user: e.user, sourceIP: e.sourceIP, host: e.host,
                eventTime: e.timestamp, summary: summary, evidence: evidence, mitre: mitre, event: e)
    }
}

/// 0.5 at the threshold, rising towards 1 as the count grows past it.
func excess(_ count: Int, _ threshold: Int) -> Double {
    guard count > 0 else { return 0 }
    return min(1, 0.5 + 0.5 * (1 - Double(threshold) / Double(count)))
}

func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

func seconds(_ ms: Int64) -> String { "\(ms / 1000) s" }

func percent(_ share: Double) -> String {
    let p = share * 100
    return p >= 10 ? "\(Int(p.rounded()))%" : "\((p * 10).rounded() / 10)%"
}

func scaled(_ count: Int, _ ceiling: Int) -> Float {
    Float(min(1, log1p(Double(count)) / log1p(Double(ceiling))))
}

func sample(_ names: [String], limit: Int = 5) -> String {
    names.count <= limit ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + ", …"
}
