extension DetectionModel {
    private static let magic: [UInt8] = Array("VGLMODEL".utf8)

    /// The model as bytes (little-endian, sections in a fixed order, maps sorted by key), so
    /// the same training gives the same bytes.
    public func serialized() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes(Self.magic)
        w.u32(Self.formatVersion)
        // Info
        w.u64(UInt64(info.events))
        w.u64(UInt64(info.errors))
        w.i64(info.firstEvent)
        w.i64(info.lastEvent)
        w.f64(info.targetFalsePositiveRate)
        w.u64(info.seed)
        // Thresholds
        let t = thresholds
        for v in [
            t.bruteForceFailures, t.sprayingUsers, t.stuffingSources, t.enumerationUsers, t.privilegedFailures,
            t.successAfterFailures,
        ] {
            w.u32(UInt32(v))
        }
        w.f64(t.unusualHourMaxShare)
        w.f64(t.volumeK)
        w.f64(t.outlierThreshold)
        // Users
        w.u32(UInt32(users.count))
        for key in users.keys.sorted() {
            guard let profile = users[key] else { continue }
            w.u64(key)
            profile.encode(to: &w)
        }
        // Sources
        w.u32(UInt32(sources.count))
        for key in sources.keys.sorted() {
            w.u64(key)
            w.rate(sources[key] ?? RateBaseline())
        }
        w.rate(populationUserRate)
        w.rate(populationSourceRate)
        // Templates
        w.u64(templateTotal)
        w.u32(UInt32(templates.count))
        for key in templates.keys.sorted() {
            w.u64(key)
            w.u32(templates[key] ?? 0)
        }
        // Forest
        w.u32(UInt32(forest.sampleSize))
        w.u32(UInt32(forest.roots.count))
        for r in forest.roots { w.u32(UInt32(bitPattern: r)) }
        w.u32(UInt32(forest.feature.count))
        for i in 0..<forest.feature.count {
            w.u8(UInt8(bitPattern: forest.feature[i]))
            w.f32(forest.threshold[i])
            w.u32(UInt32(bitPattern: forest.left[i]))
            w.u32(UInt32(bitPattern: forest.right[i]))
        }
        w.u32(UInt32(featureHigh.count))
        for f in featureHigh { w.f32(f) }
        w.bytes(Array("END.".utf8))
        return w.data
    }

    /// Reads a model; every count and index is checked so a damaged file fails with a reason
    /// instead of crashing or loading garbage.
    public static func deserialize(_ bytes: [UInt8]) throws(ModelError) -> DetectionModel {
        var r = BinaryReader(bytes)
        guard try r.bytes(magic.count) == magic else { throw .corrupt("not a Vigil model (bad magic)") }
        let version = try r.u32()
        guard version == formatVersion else {
            throw .incompatible("format version \(version), this Vigil reads version \(formatVersion)")
        }
        var info = TrainingInfo()
        info.events = try r.count64()
        info.errors = try r.count64()
        info.firstEvent = try r.time()
        info.lastEvent = try r.time()
        info.targetFalsePositiveRate = try r.f64()
        info.seed = try r.u64()
        var t = CalibratedThresholds(DetectionConfig())
        t.bruteForceFailures = Int(try r.u32())
        t.sprayingUsers = Int(try r.u32())
        t.stuffingSources = Int(try r.u32())
        t.enumerationUsers = Int(try r.u32())
        t.privilegedFailures = Int(try r.u32())
        t.successAfterFailures = Int(try r.u32())
        t.unusualHourMaxShare = try r.f64()
        t.volumeK = try r.f64()
        t.outlierThreshold = try r.f64()
        var users: [UInt64: UserProfile] = [:]
        let userCount = try r.count(max: 50_000_000)
        users.reserveCapacity(userCount)
        for _ in 0..<userCount {
            let key = try r.u64()
            users[key] = try UserProfile.decode(from: &r)
        }
        var sources: [UInt64: RateBaseline] = [:]
        let sourceCount = try r.count(max: 100_000_000)
        sources.reserveCapacity(sourceCount)
        for _ in 0..<sourceCount { sources[try r.u64()] = try r.rate() }
        let populationUserRate = try r.rate()
        let populationSourceRate = try r.rate()
        let templateTotal = try r.u64()
        var templates: [UInt64: UInt32] = [:]
        for _ in 0..<(try r.count(max: 100_000_000)) { templates[try r.u64()] = try r.u32() }
        var forest = IsolationForest()
        forest.sampleSize = Int(try r.u32())
        let rootCount = try r.count(max: 10_000)
        for _ in 0..<rootCount { forest.roots.append(Int32(bitPattern: try r.u32())) }
        let nodeCount = try r.count(max: 100_000_000)
        for _ in 0..<nodeCount {
            forest.feature.append(Int8(bitPattern: try r.u8()))
            forest.threshold.append(try r.f32())
            forest.left.append(Int32(bitPattern: try r.u32()))
            forest.right.append(Int32(bitPattern: try r.u32()))
        }
        // Every child and root must point inside the node array, features inside the vector.
        for i in 0..<nodeCount where forest.feature[i] >= 0 {
            guard Int(forest.feature[i]) < FeatureVector.count,
                (0..<nodeCount).contains(Int(forest.left[i])), (0..<nodeCount).contains(Int(forest.right[i])),
                Int(forest.left[i]) > i, Int(forest.right[i]) > i
            else {
                throw .corrupt("isolation forest node \(i) is malformed")
            }
        }
        guard forest.roots.allSatisfy({ (0..<nodeCount).contains(Int($0)) }) else {
            throw .corrupt("isolation forest root out of range")
        }
        var featureHigh: [Float] = []
        for _ in 0..<(try r.count(max: 64)) { featureHigh.append(try r.f32()) }
        guard try r.bytes(4) == Array("END.".utf8), r.atEnd else {
            throw .corrupt("trailing or missing data at the end")
        }
        return DetectionModel(
            users: users, sources: sources, populationUserRate: populationUserRate,
            populationSourceRate: populationSourceRate, templates: templates, templateTotal: templateTotal,
            thresholds: t, forest: forest, featureHigh: featureHigh, info: info)
    }
}
