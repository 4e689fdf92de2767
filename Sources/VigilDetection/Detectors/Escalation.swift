/// su and sudo to a privileged account: refusals (T1548.003) and a first escalation by someone
/// whose profile never escalated (T1548).
extension DetectionEngine {
    mutating func escalation(_ event: inout LogEvent, user: String, userKey: UInt64, into found: inout [Anomaly]) {
        let rule = config.privileged
        guard rule.enabled else { return }
        let target = event.targetUser ?? (event.kind == .sudo ? "root" : nil)
        guard let target, rule.accounts.contains(target), user != target else { return }
        let entity = Entity(.user, user)
        let how = event.kind == .sudo ? "sudo" : "su"
        let technique: MITRE = event.kind == .sudo ? .sudo : .elevation
        if event.outcome == .failure {
            guard !suppressed(.privilegedAccount, entity, at: event.timestamp) else { return }
            found.append(
                anomaly(
                    .privilegedAccount, event, entity: entity, severity: .medium, score: 0.6,
                    summary:
                        "\(user) was refused \(how) to \(target)\(event.repeatCount > 1 ? " (\(event.repeatCount) attempts)" : "")",
                    evidence: [
                        ("reason", .string("\(how)_refused")), ("target_user", .string(target)),
                        ("attempts", .int(event.repeatCount)),
                        ("command", event.command.map(EvidenceValue.string) ?? .null),
                    ],
                    mitre: technique))
            return
        }
        // Without a model, wait for a baseline of activity before calling anyone's escalation new.
        guard model != nil || statistics.events > config.rareEvent.minHistory else { return }
        let before =
            Int(model?.users[userKey]?.escalations ?? 0)
            + Int(state.profiles.peek(userKey)?.profile.escalations ?? 0)
        guard before < rule.minEscalations else { return }
        guard !suppressed(.privilegedAccount, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .privilegedAccount, event, entity: entity, severity: .high, score: 0.75,
                summary:
                    "\(user) became \(target) with \(how) for the first time (\(before) earlier escalations in the profile)\(event.command.map { ": \($0)" } ?? "")",
                evidence: [
                    ("reason", .string("unusual_escalation")), ("method", .string(how)),
                    ("target_user", .string(target)),
                    ("earlier_escalations", .int(before)),
                    ("command", event.command.map(EvidenceValue.string) ?? .null),
                ],
                mitre: technique))
    }
}
