/// Kinds of message (templates) never or rarely seen before.
extension DetectionEngine {
    /// The detector's name hashed once, not for every event.
    private static let rareEventKindHash = StableHash.hash(DetectorKind.rareEvent.rawValue)

    mutating func rareEvent(_ event: inout LogEvent, into found: inout [Anomaly]) {
        let rule = config.rareEvent
        let key = EntityKey.template(event.template)
        // Counted and read in one lookup: the count before this event.
        let counted = state.templateCounts.update(key, time: event.timestamp, make: { 0 }) { count -> UInt32 in
            defer { count &+= 1 }
            return count
        }
        let seen = UInt64(model?.templates[key] ?? 0) + UInt64(counted)
        let total = (model?.templateTotal ?? 0) + state.templateTotal
        state.templateTotal += 1
        guard rule.enabled, total >= UInt64(rule.minHistory) else { return }
        // A kind of message is news once: after its report it is counted, not reported again,
        // as long as it keeps occurring (each occurrence extends the quiet period); only after
        // a quiet period without it can it be news again.
        let quietKey = StableHash.combine(Self.rareEventKindHash, key)
        let time = event.timestamp
        let known = state.suppressedUntil.update(quietKey, time: time, make: { Int64.min }) { until -> Bool in
            guard until > time else { return false }
            until = time.addingSaturated(rule.quietMs)
            return true
        }
        if known {
            statistics.suppressed += 1
            return
        }
        let share = Double(seen) / Double(total)
        guard seen == 0 || share < rule.maxShare else { return }
        let entity = Entity(.template, event.template)
        guard !suppressed(.rareEvent, entity, at: time, key: key, period: rule.quietMs) else { return }
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
                    ("events_before", .int(Int(clamping: total))), ("threshold_share", .double(rule.maxShare)),
                ],
                mitre: event.service == "sshd" ? .ssh : nil))
    }
}
