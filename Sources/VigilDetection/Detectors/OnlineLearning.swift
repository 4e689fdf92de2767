/// What the engine learns about users as it reads: the online half of the profiles that
/// new-source, unusual-hour, escalation and the outlier features consult.
extension DetectionEngine {
    /// Successful logins, sessions, and successful su/sudo: what counts as a user's activity.
    func isActivity(_ event: LogEvent) -> Bool {
        event.isSuccessfulLogin || event.kind == .sessionOpen
            || ((event.kind == .sudo || event.kind == .su) && event.outcome == .success)
    }

    /// Updates the online profile after the detectors ran, so an event never vouches for itself.
    mutating func learn(_ event: inout LogEvent, userKey: UInt64?, sourceKey: UInt64?) {
        guard let userKey else { return }
        let activity = isActivity(event)
        let success = event.isSuccessfulLogin
        let escalated =
            (event.kind == .sudo || event.kind == .su) && event.outcome == .success
            && config.privileged.accounts.contains(event.targetUser ?? (event.kind == .sudo ? "root" : ""))
        guard activity || success || escalated else { return }
        let hour = UTC.hour(event.timestamp)
        state.profiles.update(userKey, time: event.timestamp, make: OnlineProfile.init) { online in
            if activity {
                online.profile.hours[hour] &+= 1
                online.profile.activity &+= 1
            }
            if success {
                online.profile.successes &+= 1
                // A known address's network went in with it (the sets only grow): neither is
                // hashed or inserted again on every login from it.
                if let source = event.sourceIP, let sourceKey, !online.profile.sources.contains(sourceKey) {
                    online.profile.addSource(sourceKey, prefix: EntityKey.prefix(source))
                }
            }
            if escalated { online.profile.escalations &+= 1 }
        }
    }

    /// The learnt profile of a user (online part only).
    func onlineProfile(_ userKey: UInt64) -> UserProfile? { state.profiles.peek(userKey)?.profile }

    /// Every online profile (for the trainer).
    func forEachProfile(_ body: (UInt64, UserProfile) -> Void) { state.profiles.forEach { body($0, $1.profile) } }
}
