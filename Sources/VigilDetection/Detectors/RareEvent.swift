/// Kinds of message (templates) never or rarely seen before.
extension DetectionEngine {
    mutating func rareEvent(_ event: LogEvent, into found: inout [Anomaly]) {
        let rule = config.rareEvent
        let key = EntityKey.template(event.template)
        let seen = UInt64(model?.templates[key] ?? 0) + UInt64(state.templateCounts.peek(key) ?? 0)
        let total = (model?.templateTotal ?? 0) + state.templateTotal
        state.templateTotal += 1
        state.templateCounts.update(key, time: event.timestamp, make: { 0 }) { $0 &+= 1 }
        guard rule.enabled, total >= UInt64(rule.minHistory) else { return }
        let share = Double(seen) / Double(total)
        guard seen == 0 || share < rule.maxShare else { return }
        let entity = Entity(.template, event.template)
        // A template is news once a day at most.
        guard !suppressed(.rareEvent, entity, at: event.timestamp, period: 86_400_000) else { return }
        let source = event.service.map { " from \($0)" } ?? ""
        found.append(
            anomaly(
                .rareEvent, event, entity: entity, severity: seen == 0 ? .medium : .low,
                score: seen == 0 ? 0.7 : min(1, 0.4 + 0.3 * (1 - share / rule.maxShare)),
                summary: seen == 0
                    ? "Never-seen kind of message\(source) (0 of \(total) earlier events): \(event.template)"
                    : "Rare kind of message\(source) (\(seen) of \(total) earlier events): \(event.template)",
                evidence: [
                    ("template", .string(event.template)), ("seen_before", .int(Int(seen))),
                    ("events_before", .int(Int(total))), ("threshold_share", .double(rule.maxShare)),
                ],
                mitre: event.service == "sshd" ? .ssh : nil))
    }
}
