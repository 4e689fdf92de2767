import CVigilSupport

/// The detection engine: feed it events in (roughly) event-time order and it returns the
/// anomalies each one completes.
///
/// Pure and deterministic: no clock, no I/O, no randomness — the same events with the same
/// model and configuration give the same anomalies, byte for byte. Not thread-safe: use one
/// engine per stream of events (the stream detector keeps one per partition). Windowed state
/// advances on event time, tolerates events up to `latenessMs` out of order, and is bounded by
/// `maxEntities` per kind of state.
///
/// The detectors live in `Detectors/`, one file per family, as extensions of this type; their
/// state is ``EngineState``. They take the event `inout` although none of them changes it:
/// taken by value, each one copied the whole event (over 300 bytes) onto its stack on entry,
/// ~4% of an sshd line's instructions; `inout` hands on the caller's address instead.
public struct DetectionEngine: Sendable {
    /// The configuration in force: the given one, with a model's calibrated thresholds applied.
    public private(set) var config: DetectionConfig
    public private(set) var model: DetectionModel?
    public internal(set) var statistics = EngineStatistics()

    var state: EngineState
    /// Texts a repartitioned engine's decoded events share (not state: never in a snapshot).
    var decodedTexts = TextInterner()
    let privilegedKeys: KeySet
    let longestWindow: Int64

    /// Creates an engine. A model's calibrated thresholds raise the configured ones.
    public init(config: DetectionConfig = .default, model: DetectionModel? = nil) {
        self.config = Self.effective(config, model)
        self.model = model
        state = EngineState(capacity: config.maxEntities)
        privilegedKeys = KeySet(config.privileged.accounts.map(EntityKey.user))
        longestWindow =
            [
                config.bruteForce.windowMs, config.bruteForce.slowWindowMs, config.passwordSpraying.windowMs,
                config.credentialStuffing.windowMs, config.successAfterFailures.windowMs,
                config.accountEnumeration.windowMs, config.privileged.windowMs,
            ].max() ?? 0
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
        if let thresholds = model?.thresholds {
            effective.bruteForce.failures = max(config.bruteForce.failures, thresholds.bruteForceFailures)
            effective.passwordSpraying.distinctUsers = max(
                config.passwordSpraying.distinctUsers, thresholds.sprayingUsers)
            effective.credentialStuffing.distinctSources = max(
                config.credentialStuffing.distinctSources,
                thresholds.stuffingSources)
            effective.accountEnumeration.distinctUnknownUsers = max(
                config.accountEnumeration.distinctUnknownUsers,
                thresholds.enumerationUsers)
            effective.privileged.failures = max(config.privileged.failures, thresholds.privilegedFailures)
            effective.successAfterFailures.failures = max(
                config.successAfterFailures.failures,
                thresholds.successAfterFailures)
            effective.unusualHour.maxShare = min(config.unusualHour.maxShare, thresholds.unusualHourMaxShare)
            effective.volumeSpike.k = max(config.volumeSpike.k, thresholds.volumeK)
            effective.outlier.threshold = max(config.outlier.threshold, thresholds.outlierThreshold)
        }
        return effective
    }

    /// Processes one event and returns the anomalies it triggers, in detector order.
    public mutating func process(_ event: LogEvent) -> [Anomaly] {
        var event = event
        return process(&event)
    }

    /// ``process(_:)`` without copying the event: a copy retains each of its text fields, a
    /// cost per event on the stream's hot path. Callers that are done with the event after
    /// this use it (the stream, `analyze`). The event is left as detection saw it: its time
    /// clamped into the supported range, and the source and account its sshd connection named
    /// filled in where the line itself leaves them out.
    public mutating func process(_ event: inout LogEvent) -> [Anomaly] {
        var observation = Observation()
        // Parsers never make out-of-range times; an event built by hand can. Clamped, so that
        // no window or suppression period can overflow.
        if !UTC.supportedRange.contains(event.timestamp) { event.timestamp = UTC.clamp(event.timestamp) }
        return process(&event, observing: &observation, collectFeatures: false)
    }

    mutating func process(
        _ event: inout LogEvent, observing observation: inout Observation, collectFeatures: Bool
    ) -> [Anomaly] {
        let time = event.timestamp
        if time > state.watermark { state.watermark = time }
        return process(
            &event, late: time < state.watermark - config.latenessMs, observing: &observation,
            collectFeatures: collectFeatures)
    }

    /// Processes an event whose lateness the caller decided (a repartitioned stream judges it
    /// against the event's own input partition, see ``process(_:from:)``).
    mutating func process(
        _ event: inout LogEvent, late: Bool, observing observation: inout Observation, collectFeatures: Bool
    ) -> [Anomaly] {
        statistics.events += 1
        if late { statistics.lateEvents += 1 }
        if statistics.events & 1023 == 0 { expireIdleState() }
        guard !late, event.failureReport != nil || event.isFailedAttempt else {
            return detect(&event, attempts: 0, late: late, observing: &observation, collectFeatures: collectFeatures)
        }
        let attempts = countAttempts(&event)
        // The line itself may not name its source or account (or names the source by a host
        // name its connection tied to an address): detect on the event as its connection says.
        if attempts.source != event.sourceIP { event.sourceIP = attempts.source }
        if attempts.user != event.user { event.user = attempts.user }
        return detect(
            &event, attempts: attempts.weight, late: late, observing: &observation, collectFeatures: collectFeatures)
    }

    /// Runs the detectors on one event; `attempts` is how many new failed attempts it reports.
    private mutating func detect(
        _ event: inout LogEvent, attempts: Int, late: Bool, observing observation: inout Observation,
        collectFeatures: Bool
    ) -> [Anomaly] {
        var found: [Anomaly] = []
        let userKey = event.user.map(EntityKey.user)
        let sourceKey = event.sourceIP.map(EntityKey.source)
        let weight = max(1, event.repeatCount)
        // An engine that reports one side only (see DetectionConfig.EntityScope) skips the
        // detectors and the state only the other side's anomalies read (off, some detectors
        // still count into state only they read): for `sources` every account detector and the
        // account's failures, volume, profile and distinct sources, and the outlier scores of
        // events with an account; for `accounts` brute force, enumeration, privileged failures,
        // the source's volume, and the outlier scores of events without an account.
        let scope = config.entityScope
        let accountState = scope == .sources ? nil : userKey
        prefetchState(userKey: userKey, sourceKey: sourceKey, failed: attempts > 0 && !late)

        // Failed attempts: brute force, spraying, stuffing, privileged failures.
        if attempts > 0 && !late {
            countFailure(&event, userKey: accountState, sourceKey: sourceKey, weight: attempts)
            if let source = event.sourceIP, let sourceKey {
                let pair = event.user.flatMap { user in
                    userKey.map { FailedPair(user: user, source: source, userKey: $0, sourceKey: sourceKey) }
                }
                if scope != .accounts {
                    bruteForce(
                        &event, source: source, sourceKey: sourceKey, pair: pair, weight: attempts,
                        into: &found, &observation)
                }
                if let pair {
                    spraying(&event, pair, into: &found, &observation)
                    if scope != .sources { stuffing(&event, pair, into: &found, &observation) }
                    if privilegedKeys.contains(pair.userKey) && scope != .accounts {
                        privilegedFailures(&event, pair, weight: attempts, into: &found, &observation)
                    }
                }
            }
        }
        if event.accountUnknown, let user = event.user, let source = event.sourceIP, let sourceKey, !late,
            scope != .accounts
        {
            enumeration(&event, user: user, source: source, sourceKey: sourceKey, into: &found, &observation)
        }
        // Successful logins: what came before them, where from, when.
        if event.isSuccessfulLogin, let user = event.user, let userKey = accountState {
            successAfterFailures(&event, user: user, userKey: userKey, sourceKey: sourceKey, into: &found, &observation)
            newSource(&event, user: user, userKey: userKey, sourceKey: sourceKey, into: &found)
        }
        if let user = event.user, let userKey = accountState, isActivity(event) {
            unusualHour(&event, user: user, userKey: userKey, into: &found, &observation)
            impossibleTravel(&event, user: user, userKey: userKey, into: &found)
        }
        if event.kind == .sudo || event.kind == .su, let user = event.user, let userKey = accountState {
            escalation(&event, user: user, userKey: userKey, into: &found)
        }
        rareEvent(&event, into: &found)
        if !late {
            volume(
                &event, userKey: accountState, sourceKey: scope == .accounts ? nil : sourceKey, weight: weight,
                collect: collectFeatures, into: &found, &observation)
        }
        // The outlier score is about the account when the event names one, else the source.
        if event.isAttempt && (collectFeatures || model?.forest.isEmpty == false)
            && scope.reports(event.user != nil ? .user : .sourceIP)
        {
            let features = featureVector(&event, userKey: userKey, sourceKey: sourceKey)
            observation.features = features
            outlier(&event, features, into: &found)
        }
        if let accountState { learn(&event, userKey: accountState, sourceKey: sourceKey) }
        for anomaly in found { statistics.anomalies[anomaly.detector, default: 0] += 1 }
        return found
    }

    /// Requests from memory, together, the entries of the maps nearly every event reads (its
    /// account's profile, volume and failures, its source's volume and failures; for a failed
    /// attempt also the pair's failures and the distinct-count windows). Each is a cache miss
    /// or three in a large state, and taken one detector after another they were most of the
    /// detection time; in flight together they overlap. Three rounds: index lines, the entries
    /// they point to, what the entries point to. Hints only: nothing changes.
    @inline(__always)
    private func prefetchState(userKey: UInt64?, sourceKey: UInt64?, failed: Bool) {
        // Only what this engine's scope reads (see detect).
        let sources = config.entityScope != .accounts
        let accountKey = config.entityScope == .sources ? nil : userKey
        let pairKey =
            failed && sources
            ? userKey.flatMap { user in sourceKey.map { EntityKey.pair(source: $0, user: user) } } : nil
        // Index lines first, then the entries they point to.
        @inline(__always) func request(_ round: PrefetchRound) {
            if let accountKey {
                state.profiles.prefetch(accountKey, round)
                state.userVolume.prefetch(accountKey, round)
                state.userFailures.prefetch(accountKey, round)
                if failed { state.userSources.prefetch(accountKey, round) }
            }
            if let sourceKey {
                if sources { state.sourceVolume.prefetch(sourceKey, round) }
                state.sourceFailures.prefetch(sourceKey, round)
                if failed && sources { state.sourceUsers.prefetch(sourceKey, round) }
            }
            if let pairKey { state.pairFailures.prefetch(pairKey, round) }
        }
        request(.index)
        request(.entry)
        // Then what the entries point to: the profile's hour counts and its lookup of this
        // source, the volume rings. Reading the pointers waits for the entries above, which
        // are in flight together by now.
        if let accountKey {
            state.profiles.peek(accountKey) { online in
                online.profile.hours.withUnsafeBufferPointer { if let base = $0.baseAddress { vigil_prefetch(base) } }
                if let sourceKey { online.profile.sources.prefetch(sourceKey) }
            }
            state.userVolume.peek(accountKey) { $0.prefetchHistory() }
        }
        if let sourceKey, sources { state.sourceVolume.peek(sourceKey) { $0.prefetchHistory() } }
    }

    /// The earliest time any window still needs.
    /// Saturating: a repartitioned engine's clock is `Int64.min` until it has heard from every
    /// input partition.
    var windowCutoff: Int64 { state.watermark.subtractingSaturated(longestWindow + config.latenessMs) }

    /// The cut-off for one detector's window.
    func cutoff(window: Int64) -> Int64 { state.watermark.subtractingSaturated(window + config.latenessMs) }

    // MARK: Snapshots

    /// The engine's complete state as bytes. An engine with the same configuration and model
    /// that ``restore(_:)``s these bytes continues exactly as this one would (recency order
    /// and all), which is what makes crash recovery reproduce the same anomalies.
    public func snapshot() -> [UInt8] { SnapshotCodec.encode(state, statistics: statistics, config: config) }

    /// Replaces this engine's state with a snapshot's. The engine keeps its configuration and
    /// model; on any error it is left unchanged.
    public mutating func restore(_ bytes: [UInt8]) throws(ModelError) {
        (state, statistics) = try SnapshotCodec.decode(bytes, into: EngineState(capacity: config.maxEntities))
    }

    // MARK: Shared by the detectors

    private mutating func expireIdleState() {
        state.expire(config: config, longestWindow: longestWindow)
        statistics.evictions = state.evictions
    }

    /// True (and counted) when `detector` reported `entity` less than the suppression period ago;
    /// otherwise starts a new period and returns false.
    mutating func suppressed(
        _ detector: DetectorKind, _ entity: Entity, at time: Int64, key: UInt64? = nil,
        period: Int64? = nil
    ) -> Bool {
        let suppressionKey = StableHash.combine(
            StableHash.hash(detector.rawValue), key ?? StableHash.hash(entity.value))
        let until = time + (period ?? config.suppressionMs)
        let wasQuiet = state.suppressedUntil.update(suppressionKey, time: time, make: { Int64.min }) {
            current -> Bool in
            if current > time { return true }
            current = until
            return false
        }
        if wasQuiet { statistics.suppressed += 1 }
        return wasQuiet
    }

    /// Whether `detector` reported under `key` less than its suppression period ago (without
    /// starting a period).
    func isSuppressed(_ detector: DetectorKind, key: UInt64, at time: Int64) -> Bool {
        let suppressionKey = StableHash.combine(StableHash.hash(detector.rawValue), key)
        return (state.suppressedUntil.peek(suppressionKey) ?? .min) > time
    }

    func anomaly(
        _ detector: DetectorKind, _ event: LogEvent, entity: Entity, severity: Severity, score: Double,
        summary: String, evidence: [(String, EvidenceValue)], mitre: MITRE?
    ) -> Anomaly {
        var evidence = evidence
        // PAM's rhost= may be a host name: say which the source is.
        if let source = event.sourceIP {
            evidence.append(("source_form", .string(LogEvent.isAddress(source) ? "address" : "hostname")))
        }
        return Anomaly(
            id: Anomaly.makeID(detector: detector, entity: entity, fingerprint: event.fingerprint), detector: detector,
            severity: severity, score: rounded(score), entity: entity, user: event.user, sourceIP: event.sourceIP,
            host: event.host, eventTime: event.timestamp, summary: summary, evidence: evidence, mitre: mitre,
            event: event)
    }
}

/// The account and source of a failed attempt, with their state keys.
struct FailedPair {
    var user: String
    var source: String
    var userKey: UInt64
    var sourceKey: UInt64
}
