/// Detectors that count failed attempts in a sliding window: brute force against one account
/// from one source (T1110.001), and failures against privileged accounts from one source.
extension DetectionEngine {
    /// Counts a failed attempt for its source and its account (read by success-after-failures
    /// and the outlier features).
    mutating func countFailure(_ event: inout LogEvent, userKey: UInt64?, sourceKey: UInt64?, weight: Int) {
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
            return window.busiest(containing: time, length: windowMs)
        }
    }

    /// Brute force from one source. High severity: many failures within two minutes — against
    /// one account (the per-account rule) or any accounts (the per-source rule: Wazuh 5712,
    /// 5720, 5763). Medium: slower guessing, fail2ban's default ban (5 failures in 10 minutes).
    /// One attack, one alert: a source gets one high alert per suppression period (the
    /// per-account one when an account reached its threshold), and a medium one only when no
    /// high one is in force; a high one may follow a medium one.
    mutating func bruteForce(
        _ event: inout LogEvent, source: String, sourceKey: UInt64, pair: FailedPair?, weight: Int,
        into found: inout [Anomaly], _ observation: inout Observation
    ) {
        let rule = config.bruteForce
        let time = event.timestamp
        var pairCount = 0
        var pairFirst: Int64? = nil
        if let pair {
            (pairCount, pairFirst) = Self.addFailure(
                EntityKey.pair(source: pair.sourceKey, user: pair.userKey), in: &state.pairFailures, at: time,
                weight: weight,
                cutoff: cutoff(window: rule.windowMs), windowMs: rule.windowMs, threshold: rule.failures)
        }
        observation.pairFailures = pairCount
        guard rule.enabled else { return }
        let pairCrossed = pair != nil && pairCount >= rule.failures
        let (sourceCount, sourceFirst) = sourceFailures(sourceKey, endingAt: time, windowMs: rule.windowMs)
        let sourceCrossed = rule.sourceFailures > 0 && sourceCount >= rule.sourceFailures
        let sourceEntity = Entity(.sourceIP, source)
        let highKey = StableHash.hash(source)
        let slowKey = StableHash.combine(highKey, 0x736C_6F77)  // "slow"
        if pairCrossed || sourceCrossed {
            guard !suppressed(.bruteForce, sourceEntity, at: time, key: highKey) else { return }
            _ = suppressed(.bruteForce, sourceEntity, at: time, key: slowKey)  // the medium tier goes quiet too
            if let pair, pairCrossed {
                found.append(
                    anomaly(
                        .bruteForce, event, entity: Entity(.sourceIPUser, "\(pair.user)@\(source)"), severity: .high,
                        score: excess(pairCount, rule.failures),
                        summary:
                            "\(pairCount) failed logins for \(pair.user) from \(source) within \(seconds(rule.windowMs)) (threshold \(rule.failures))",
                        evidence: [
                            ("failures", .int(pairCount)), ("window_seconds", .int(Int(rule.windowMs / 1000))),
                            ("threshold", .int(rule.failures)),
                            ("first_seen", pairFirst.map(EvidenceValue.time) ?? .null), ("last_seen", .time(time)),
                            ("rule", .string("source_and_account")), ("source_failures", .int(sourceCount)),
                        ],
                        mitre: .passwordGuessing))
            } else {
                found.append(
                    sourceBruteForce(
                        &event, source: source, sourceKey: sourceKey, count: sourceCount, first: sourceFirst,
                        threshold: rule.sourceFailures, windowMs: rule.windowMs, severity: .high, rule: "source"))
            }
            return
        }
        guard rule.slowFailures > 0 else { return }
        let (slowCount, slowFirst) = sourceFailures(sourceKey, endingAt: time, windowMs: rule.slowWindowMs)
        guard slowCount >= rule.slowFailures, !isSuppressed(.bruteForce, key: highKey, at: time),
            !suppressed(.bruteForce, sourceEntity, at: time, key: slowKey)
        else { return }
        found.append(
            sourceBruteForce(
                &event, source: source, sourceKey: sourceKey, count: slowCount, first: slowFirst,
                threshold: rule.slowFailures, windowMs: rule.slowWindowMs, severity: .medium, rule: "source_slow"))
    }

    /// Failures from a source in the fullest window holding `time`, and the earliest of them.
    private func sourceFailures(_ sourceKey: UInt64, endingAt time: Int64, windowMs: Int64) -> (Int, Int64?) {
        state.sourceFailures.peek(sourceKey) { $0.busiest(containing: time, length: windowMs) } ?? (0, nil)
    }

    /// The per-source alert: the failures, and the accounts they were against.
    private func sourceBruteForce(
        _ event: inout LogEvent, source: String, sourceKey: UInt64, count: Int, first: Int64?, threshold: Int,
        windowMs: Int64, severity: Severity, rule: String
    ) -> Anomaly {
        var accounts =
            state.sourceUsers.peek(sourceKey) { $0.members(endingAt: event.timestamp, length: windowMs).names } ?? []
        if let user = event.user, !accounts.contains(user) { accounts.append(user) }
        let against =
            accounts.isEmpty
            ? "" : " against \(accounts.count == 1 ? "account" : "\(accounts.count) accounts") \(sample(accounts))"
        return anomaly(
            .bruteForce, event, entity: Entity(.sourceIP, source), severity: severity, score: excess(count, threshold),
            summary:
                "\(count) failed logins from \(source)\(against) within \(seconds(windowMs)) (threshold \(threshold))",
            evidence: [
                ("failures", .int(count)), ("window_seconds", .int(Int(windowMs / 1000))),
                ("threshold", .int(threshold)),
                ("accounts", .strings(Array(accounts.prefix(20)))),
                ("first_seen", first.map(EvidenceValue.time) ?? .null),
                ("last_seen", .time(event.timestamp)), ("rule", .string(rule)),
            ],
            mitre: accounts.count <= 1 ? .passwordGuessing : .bruteForce)
    }

    mutating func privilegedFailures(
        _ event: inout LogEvent, _ pair: FailedPair, weight: Int, into found: inout [Anomaly],
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
