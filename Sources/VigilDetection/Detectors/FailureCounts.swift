/// Detectors that count failed attempts in a sliding window: brute force against one account
/// from one source (T1110.001), and failures against privileged accounts from one source.
extension DetectionEngine {
    /// Counts a failed attempt for its source and its account (read by success-after-failures
    /// and the outlier features).
    mutating func countFailure(_ event: LogEvent, userKey: UInt64?, sourceKey: UInt64?, weight: Int) {
        let cutoff = windowCutoff
        let time = event.timestamp
        if let sourceKey {
            state.sourceFailures.update(sourceKey, time: time, make: TimeWindow.init) { window in
                window.expire(before: cutoff)
                window.add(time, weight: weight, cap: 512)
            }
        }
        if let userKey {
            state.userFailures.update(userKey, time: time, make: TimeWindow.init) { window in
                window.expire(before: cutoff)
                window.add(time, weight: weight, cap: 512)
            }
        }
    }

    /// Adds a failure at `time` to `key`'s window in `windows`; returns the failures in the
    /// window ending at `time` and the earliest of them.
    static func addFailure(
        _ key: UInt64, in windows: inout LRUMap<TimeWindow>, at time: Int64, weight: Int,
        cutoff: Int64, windowMs: Int64, threshold: Int
    ) -> (count: Int, first: Int64?) {
        windows.update(key, time: time, make: TimeWindow.init) { window -> (Int, Int64?) in
            window.expire(before: cutoff)
            window.add(time, weight: weight, cap: max(64, threshold * 4))
            return (window.count(endingAt: time, length: windowMs), window.first(endingAt: time, length: windowMs))
        }
    }

    mutating func bruteForce(
        _ event: LogEvent, _ pair: FailedPair, weight: Int, into found: inout [Anomaly],
        _ observation: inout Observation
    ) {
        let rule = config.bruteForce
        let (count, first) = Self.addFailure(
            StableHash.combine(pair.sourceKey, pair.userKey), in: &state.pairFailures,
            at: event.timestamp, weight: weight, cutoff: cutoff(window: rule.windowMs),
            windowMs: rule.windowMs, threshold: rule.failures)
        observation.pairFailures = count
        guard rule.enabled, count >= rule.failures else { return }
        let entity = Entity(.sourceIPUser, "\(pair.user)@\(pair.source)")
        guard !suppressed(.bruteForce, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .bruteForce, event, entity: entity, severity: .high, score: excess(count, rule.failures),
                summary:
                    "\(count) failed logins for \(pair.user) from \(pair.source) within \(seconds(rule.windowMs)) (threshold \(rule.failures))",
                evidence: [
                    ("failures", .int(count)), ("window_seconds", .int(Int(rule.windowMs / 1000))),
                    ("threshold", .int(rule.failures)), ("first_seen", first.map(EvidenceValue.time) ?? .null),
                    ("last_seen", .time(event.timestamp)),
                ],
                mitre: .passwordGuessing))
    }

    mutating func privilegedFailures(
        _ event: LogEvent, _ pair: FailedPair, weight: Int, into found: inout [Anomaly],
        _ observation: inout Observation
    ) {
        let rule = config.privileged
        let (count, first) = Self.addFailure(
            pair.sourceKey, in: &state.privilegedFailures, at: event.timestamp,
            weight: weight, cutoff: cutoff(window: rule.windowMs),
            windowMs: rule.windowMs, threshold: rule.failures)
        observation.privilegedFailures = count
        guard rule.enabled, count >= rule.failures else { return }
        let entity = Entity(.sourceIP, pair.source)
        guard !suppressed(.privilegedAccount, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .privilegedAccount, event, entity: entity, severity: .high, score: excess(count, rule.failures),
                summary:
                    "\(count) failed logins to privileged account \(pair.user) from \(pair.source) within \(seconds(rule.windowMs)) (threshold \(rule.failures))",
                evidence: [
                    ("reason", .string("privileged_failures")), ("failures", .int(count)),
                    ("window_seconds", .int(Int(rule.windowMs / 1000))), ("threshold", .int(rule.failures)),
                    ("account", .string(pair.user)), ("first_seen", first.map(EvidenceValue.time) ?? .null),
                    ("last_seen", .time(event.timestamp)),
                ],
                mitre: .passwordGuessing))
    }
}
