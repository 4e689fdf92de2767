/// Detectors that count distinct members in a sliding window: one source against many accounts
/// (password spraying, T1110.003), one account from many sources (credential stuffing,
/// T1110.004) and unknown accounts tried from one source (account enumeration, T1087).
extension DetectionEngine {
    /// Adds `member` to the distinct-members window of `key`. Returns the distinct count in the
    /// window and, once it reaches `threshold` (when `enabled`), the members' names and the
    /// first one's time.
    static func addDistinct(
        _ member: UInt64, name: String, to key: UInt64, in windows: inout LRUMap<DistinctWindow>,
        at time: Int64, cutoff: Int64, windowMs: Int64, threshold: Int,
        enabled: Bool
    ) -> (count: Int, names: [String], first: Int64?) {
        windows.update(key, time: time, make: DistinctWindow.init) { window in
            window.expire(before: cutoff)
            window.add(member, name: name, at: time, cap: max(64, threshold * 4))
            let (count, end) = window.busiest(containing: time, length: windowMs)
            guard enabled, count >= threshold else { return (count, [], nil) }
            let (names, first) = window.members(endingAt: end, length: windowMs)
            return (count, names, first)
        }
    }

    mutating func spraying(
        _ event: inout LogEvent, _ pair: FailedPair, into found: inout [Anomaly],
        _ observation: inout Observation
    ) {
        let rule = config.passwordSpraying
        let (count, names, first) = Self.addDistinct(
            pair.userKey, name: pair.user, to: pair.sourceKey, in: &state.sourceUsers, at: event.timestamp,
            cutoff: cutoff(window: rule.windowMs), windowMs: rule.windowMs, threshold: rule.distinctUsers,
            enabled: rule.enabled)
        observation.sourceDistinctUsers = count
        guard rule.enabled, count >= rule.distinctUsers else { return }
        let entity = Entity(.sourceIP, pair.source)
        guard !suppressed(.passwordSpraying, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .passwordSpraying, event, entity: entity, severity: .high, score: excess(count, rule.distinctUsers),
                summary:
                    "\(pair.source) failed against \(count) different accounts within \(seconds(rule.windowMs)) (threshold \(rule.distinctUsers)): \(sample(names))",
                evidence: [
                    ("distinct_users", .int(count)), ("window_seconds", .int(Int(rule.windowMs / 1000))),
                    ("threshold", .int(rule.distinctUsers)), ("users", .strings(Array(names.prefix(20)))),
                    ("first_seen", first.map(EvidenceValue.time) ?? .null), ("last_seen", .time(event.timestamp)),
                ],
                mitre: .passwordSpraying))
    }

    mutating func stuffing(
        _ event: inout LogEvent, _ pair: FailedPair, into found: inout [Anomaly],
        _ observation: inout Observation
    ) {
        let rule = config.credentialStuffing
        let (count, names, first) = Self.addDistinct(
            pair.sourceKey, name: pair.source, to: pair.userKey, in: &state.userSources, at: event.timestamp,
            cutoff: cutoff(window: rule.windowMs), windowMs: rule.windowMs, threshold: rule.distinctSources,
            enabled: rule.enabled)
        observation.userDistinctSources = count
        guard rule.enabled, count >= rule.distinctSources else { return }
        let entity = Entity(.user, pair.user)
        guard !suppressed(.credentialStuffing, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .credentialStuffing, event, entity: entity, severity: .high, score: excess(count, rule.distinctSources),
                summary:
                    "Account \(pair.user) failed from \(count) different sources within \(seconds(rule.windowMs)) (threshold \(rule.distinctSources))",
                evidence: [
                    ("distinct_sources", .int(count)), ("window_seconds", .int(Int(rule.windowMs / 1000))),
                    ("threshold", .int(rule.distinctSources)), ("sources", .strings(Array(names.prefix(20)))),
                    ("first_seen", first.map(EvidenceValue.time) ?? .null), ("last_seen", .time(event.timestamp)),
                ],
                mitre: .credentialStuffing))
    }

    mutating func enumeration(
        _ event: inout LogEvent, user: String, source: String, sourceKey: UInt64,
        into found: inout [Anomaly], _ observation: inout Observation
    ) {
        let rule = config.accountEnumeration
        let (count, names, first) = Self.addDistinct(
            EntityKey.user(user), name: user, to: sourceKey, in: &state.sourceUnknownUsers, at: event.timestamp,
            cutoff: cutoff(window: rule.windowMs), windowMs: rule.windowMs, threshold: rule.distinctUnknownUsers,
            enabled: rule.enabled)
        observation.sourceUnknownUsers = count
        guard rule.enabled, count >= rule.distinctUnknownUsers else { return }
        let entity = Entity(.sourceIP, source)
        guard !suppressed(.accountEnumeration, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .accountEnumeration, event, entity: entity,
                severity: count >= 3 * rule.distinctUnknownUsers ? .high : .medium,
                score: excess(count, rule.distinctUnknownUsers),
                summary:
                    "\(source) tried \(count) unknown accounts within \(seconds(rule.windowMs)) (threshold \(rule.distinctUnknownUsers)): \(sample(names))",
                evidence: [
                    ("unknown_users", .int(count)), ("window_seconds", .int(Int(rule.windowMs / 1000))),
                    ("threshold", .int(rule.distinctUnknownUsers)), ("users", .strings(Array(names.prefix(20)))),
                    ("first_seen", first.map(EvidenceValue.time) ?? .null), ("last_seen", .time(event.timestamp)),
                ],
                mitre: .accountDiscovery))
    }
}
