/// An entity's event rate far above its own baseline (median + k·MAD), per user and per source.
extension DetectionEngine {
    mutating func volume(
        _ event: inout LogEvent, userKey: UInt64?, sourceKey: UInt64?, weight: Int, collect: Bool,
        into found: inout [Anomaly], _ observation: inout Observation
    ) {
        let bucket = event.timestamp.floorDiv(config.volumeSpike.bucketMs)
        if let userKey {
            volume(
                &event, kind: .user, key: userKey, bucket: bucket, weight: weight, collect: collect,
                into: &found, &observation)
        }
        if let sourceKey {
            volume(
                &event, kind: .sourceIP, key: sourceKey, bucket: bucket, weight: weight, collect: collect,
                into: &found, &observation)
        }
    }

    private mutating func volume(
        _ event: inout LogEvent, kind: Entity.Kind, key: UInt64, bucket: Int64, weight: Int,
        collect: Bool, into found: inout [Anomaly], _ observation: inout Observation
    ) {
        let rule = config.volumeSpike
        let fallback: RateBaseline? =
            kind == .user
            ? (model?.users[key]?.rate).flatMap { $0.buckets > 0 ? $0 : nil } ?? model?.populationUserRate
            : model?.sources[key] ?? model?.populationSourceRate
        let (count, threshold, crossed, baseline) =
            kind == .user
            ? Self.countVolume(
                &state.userVolume, rule, key: key, bucket: bucket, time: event.timestamp, weight: weight,
                fallback: fallback, collect: collect, observation: &observation)
            : Self.countVolume(
                &state.sourceVolume, rule, key: key, bucket: bucket, time: event.timestamp, weight: weight,
                fallback: fallback, collect: collect, observation: &observation)
        guard rule.enabled, crossed else { return }
        let value = kind == .user ? (event.user ?? "") : (event.sourceIP ?? "")
        let entity = Entity(kind, value)
        guard !suppressed(.volumeSpike, entity, at: event.timestamp) else { return }
        found.append(
            anomaly(
                .volumeSpike, event, entity: entity, severity: count >= 3 * threshold ? .high : .medium,
                score: excess(count, threshold),
                summary:
                    "\(value) produced \(count) events in \(seconds(rule.bucketMs)); baseline median \(rounded(Double(baseline.median))), MAD \(rounded(Double(baseline.mad))), threshold \(threshold)",
                evidence: [
                    ("events", .int(count)), ("bucket_seconds", .int(Int(rule.bucketMs / 1000))),
                    ("baseline_median", .double(rounded(Double(baseline.median)))),
                    ("baseline_mad", .double(rounded(Double(baseline.mad)))), ("k", .double(rule.k)),
                    ("threshold", .int(threshold)), ("bucket_start", .time(bucket * rule.bucketMs)),
                ],
                mitre: event.isFailedAttempt ? .bruteForce : nil))
    }

    /// Counts one event into an entity's bucket. Returns the count, the bucket's threshold,
    /// whether this event crossed it, and the baseline used.
    private static func countVolume(
        _ map: inout LRUMap<VolumeState>, _ rule: DetectionConfig.VolumeSpike, key: UInt64,
        bucket: Int64, time: Int64, weight: Int, fallback: RateBaseline?, collect: Bool,
        observation: inout Observation
    ) -> (Int, Int, Bool, RateBaseline) {
        map.update(key, time: time, make: VolumeState.init) { volume -> (Int, Int, Bool, RateBaseline) in
            if bucket > volume.bucket {
                if volume.bucket != .min {
                    if collect { volume.settle(rule) }
                    if collect, volume.threshold != Int.max {
                        // How far the finished bucket was from its baseline, for calibrating k.
                        observation.volumeZ.append(
                            (Double(volume.count) - Double(volume.baseline.median))
                                / max(1.0, 1.4826 * Double(volume.baseline.mad)))
                    }
                    let gap = min(bucket - volume.bucket - 1, Int64(rule.historyBuckets))
                    volume.record(UInt32(clamping: volume.count), thenZeros: Int(gap), limit: rule.historyBuckets)
                }
                volume.bucket = bucket
                volume.count = 0
                volume.alerted = false
                // The baseline is chosen when the bucket opens: the entity's own recent history
                // once it has one (computed when the count reaches the floor), else the trained
                // baseline.
                volume.ownBaselinePending = volume.history.count >= rule.minHistoryBuckets && volume.activeBuckets >= 2
                if !volume.ownBaselinePending {
                    if let fallback {
                        volume.baseline = fallback
                        volume.threshold = fallback.threshold(k: rule.k, floor: rule.minCount)
                    } else {
                        volume.threshold = Int.max  // no baseline at all: no spike
                    }
                }
            } else if bucket < volume.bucket {
                return (0, volume.threshold, false, volume.baseline)  // a late event for a closed bucket
            }
            let before = volume.count
            volume.count = volume.count.addingSaturated(weight)
            if volume.ownBaselinePending {
                // Every threshold is at least the floor: none is crossed below it.
                guard volume.count >= rule.minCount else { return (volume.count, Int.max, false, volume.baseline) }
                volume.settle(rule)
            }
            let crossed = !volume.alerted && before < volume.threshold && volume.count >= volume.threshold
            if crossed { volume.alerted = true }
            return (volume.count, volume.threshold, crossed, volume.baseline)
        }
    }
}
