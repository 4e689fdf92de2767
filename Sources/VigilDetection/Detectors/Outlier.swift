#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Unusual combinations of per-event features, scored by the model's isolation forest.
extension DetectionEngine {
    /// The event's features, each scaled to [0, 1] (see ``FeatureVector/names``).
    func featureVector(_ event: inout LogEvent, userKey: UInt64?, sourceKey: UInt64?) -> FeatureVector {
        var features = FeatureVector()
        let time = event.timestamp
        if let userKey {
            let trained = model?.users[userKey]
            let online = state.profiles.peek(userKey)?.profile
            let activity = Int(trained?.activity ?? 0) + Int(online?.activity ?? 0)
            if activity >= config.unusualHour.minHistory {
                let hour = UTC.hour(time)
                let near = (trained?.activity(near: hour) ?? 0) + (online?.activity(near: hour) ?? 0)
                features[0] = Float(1 - min(1, Double(near) / Double(activity) / 0.1))
            }
            features[4] = scaled(
                state.userFailures.peek(userKey)?
                    .count(endingAt: time, length: config.credentialStuffing.windowMs) ?? 0, 100)
            let successes = Int(trained?.successes ?? 0) + Int(online?.successes ?? 0)
            if successes >= config.newSource.minHistory, let sourceKey {
                let known = trained?.sources.contains(sourceKey) == true || online?.sources.contains(sourceKey) == true
                features[5] = known ? 0 : 1
            }
            features[7] = privilegedKeys.contains(userKey) ? 1 : 0
            features[9] = scaled(state.userVolume.peek(userKey)?.count ?? 0, 200)
        }
        features[1] = event.outcome == .failure ? 1 : 0
        if let sourceKey {
            features[2] = scaled(
                state.sourceFailures.peek(sourceKey)?
                    .count(endingAt: time, length: config.bruteForce.windowMs) ?? 0, 100)
            features[3] = scaled(
                state.sourceUsers.peek(sourceKey)?
                    .count(endingAt: time, length: config.passwordSpraying.windowMs) ?? 0, 50)
        }
        let key = EntityKey.template(event.template)
        let seen = Double(model?.templates[key] ?? 0) + Double(state.templateCounts.peek(key) ?? 0)
        let total = Double(model?.templateTotal ?? 0) + Double(state.templateTotal)
        if total > 0 { features[6] = Float(min(1, -log10(max(seen, 0.5) / total) / 8)) }
        features[8] = event.accountUnknown ? 1 : 0
        return features
    }

    mutating func outlier(_ event: inout LogEvent, _ features: FeatureVector, into found: inout [Anomaly]) {
        guard config.outlier.enabled, let model, !model.forest.isEmpty else { return }
        let score = model.forest.score(features)
        guard score >= config.outlier.threshold else { return }
        let unusual = (0..<FeatureVector.count).filter { index in
            index < model.featureHigh.count && features[index] > model.featureHigh[index]
        }.map { FeatureVector.names[$0] }
        let key = event.user ?? event.sourceIP ?? event.template
        let entity = Entity(event.user != nil ? .user : (event.sourceIP != nil ? .sourceIP : .template), key)
        guard !suppressed(.outlier, entity, at: event.timestamp) else { return }
        let values = (0..<FeatureVector.count).map {
            (FeatureVector.names[$0], EvidenceValue.double(rounded(Double(features[$0]))))
        }
        found.append(
            anomaly(
                .outlier, event, entity: entity, severity: score >= 0.8 ? .high : .medium, score: rounded(score),
                summary:
                    "Unusual combination for \(key) (isolation-forest score \(rounded(score)), threshold \(rounded(config.outlier.threshold)))"
                    + (unusual.isEmpty ? "" : ": \(unusual.joined(separator: ", ")) above training's 99th percentile"),
                evidence: [
                    ("forest_score", .double(rounded(score))), ("threshold", .double(config.outlier.threshold)),
                    ("unusual_features", .strings(unusual)), ("features", .object(values)),
                ],
                mitre: nil))
    }
}
