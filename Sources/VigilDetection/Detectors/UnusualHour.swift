/// Activity at an hour the user's profile makes rare (T1078; Elastic's "rare hour for a user").
extension DetectionEngine {
    mutating func unusualHour(
        _ event: inout LogEvent, user: String, userKey: UInt64, into found: inout [Anomaly],
        _ observation: inout Observation
    ) {
        let rule = config.unusualHour
        let hour = UTC.hour(event.timestamp)
        // Read in place: copying the profiles (sets and arrays) per event is measurable.
        let online =
            state.profiles.peek(userKey) { (Int($0.profile.activity), $0.profile.activity(near: hour)) } ?? (0, 0)
        let trained = model?.profileStats(userKey, hour: hour) ?? (0, 0)
        let activity = trained.0 + online.0
        guard activity >= rule.minHistory else { return }
        let near = trained.1 + online.1
        let share = Double(near) / Double(activity)
        observation.hourShare = share
        guard rule.enabled, share < rule.maxShare else { return }
        let entity = Entity(.user, user)
        guard !suppressed(.unusualHour, entity, at: event.timestamp) else { return }
        let paddedHour = hour < 10 ? "0\(hour)" : "\(hour)"
        found.append(
            anomaly(
                .unusualHour, event, entity: entity, severity: near == 0 ? .medium : .low,
                score: min(1, 0.5 + 0.5 * (1 - share / rule.maxShare)),
                summary:
                    "\(user) active at \(paddedHour):00 UTC; \(percent(share)) of this user's \(activity) earlier actions were within an hour of that time (threshold \(percent(rule.maxShare)))",
                evidence: [
                    ("hour_utc", .int(hour)), ("share_near_hour", .double(rounded(share))),
                    ("threshold", .double(rule.maxShare)), ("history", .int(activity)),
                ],
                mitre: .validAccounts))
    }
}
