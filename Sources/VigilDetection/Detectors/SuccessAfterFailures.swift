/// A successful login right after a burst of failures for the account or from the source
/// (T1078): the guess that worked.
extension DetectionEngine {
    mutating func successAfterFailures(
        _ event: inout LogEvent, user: String, userKey: UInt64, sourceKey: UInt64?,
        into found: inout [Anomaly], _ observation: inout Observation
    ) {
        let rule = config.successAfterFailures
        let time = event.timestamp
        let userCount = state.userFailures.peek(userKey) { $0.count(endingAt: time, length: rule.windowMs) } ?? 0
        let sourceCount =
            sourceKey.flatMap {
                state.sourceFailures.peek($0) { $0.count(endingAt: time, length: rule.windowMs) }
            } ?? 0
        let count = max(userCount, sourceCount)
        observation.failuresBeforeSuccess = count
        guard rule.enabled, count >= rule.failures else { return }
        let byUser = userCount >= sourceCount
        let entity = Entity(.user, user)
        guard !suppressed(.successAfterFailures, entity, at: time) else { return }
        let from = event.sourceIP.map { " from \($0)" } ?? ""
        let what = byUser ? "failures for the account" : "failures from \(event.sourceIP ?? "the source")"
        found.append(
            anomaly(
                .successAfterFailures, event, entity: entity, severity: .critical,
                score: min(1, 0.8 + 0.2 * (1 - Double(rule.failures) / Double(count))),
                summary:
                    "Successful login for \(user)\(from) after \(count) \(what) within \(seconds(rule.windowMs)) (threshold \(rule.failures))",
                evidence: [
                    ("failures_for_user", .int(userCount)), ("failures_from_source", .int(sourceCount)),
                    ("window_seconds", .int(Int(rule.windowMs / 1000))), ("threshold", .int(rule.failures)),
                    ("success_at", .time(time)),
                ],
                mitre: .validAccounts))
    }
}
