/// A successful login from an address (and network) the user's profile has never seen (T1078;
/// Elastic's "rare source IP for a user").
extension DetectionEngine {
    mutating func newSource(
        _ event: inout LogEvent, user: String, userKey: UInt64, sourceKey: UInt64?, into found: inout [Anomaly]
    ) {
        let rule = config.newSource
        guard rule.enabled, let source = event.sourceIP, let sourceKey else { return }
        let trained = model?.users[userKey]
        // The online profile is read in place: a copy of it (its sets) per login was a
        // measurable share of the engine.
        let online =
            state.profiles.peek(userKey) {
                (successes: Int($0.profile.successes), knowsSource: $0.profile.sources.contains(sourceKey))
            } ?? (successes: 0, knowsSource: false)
        let history = Int(trained?.successes ?? 0) + online.successes
        guard history >= rule.minHistory else { return }
        if trained?.sources.contains(sourceKey) == true || online.knowsSource { return }
        let prefix = EntityKey.prefix(source)
        let prefixKnown =
            trained?.prefixes.contains(prefix) == true
            || state.profiles.peek(userKey) { $0.profile.prefixes.contains(prefix) } == true
        if rule.samePrefixIsKnown && prefixKnown { return }
        let entity = Entity(.user, user)
        guard !suppressed(.newSource, entity, at: event.timestamp, key: StableHash.combine(userKey, sourceKey)) else {
            return
        }
        let privileged = privilegedKeys.contains(userKey)
        found.append(
            anomaly(
                .newSource, event, entity: entity, severity: privileged ? .high : .medium,
                score: privileged ? 0.8 : 0.6,
                summary:
                    "\(user) logged in from \(source), an address\(prefixKnown ? "" : " and network") never seen for this user in \(history) earlier logins",
                evidence: [
                    ("source", .string(source)), ("known_address", .bool(false)), ("known_network", .bool(prefixKnown)),
                    ("earlier_logins", .int(history)), ("min_history", .int(rule.minHistory)),
                ],
                mitre: .validAccounts))
    }
}
