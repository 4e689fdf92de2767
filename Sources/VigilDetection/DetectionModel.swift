/// Count thresholds and cut-offs a training run calibrated to its target false-positive rate.
/// They only ever raise the configured values (a model never makes a detector laxer than its
/// reference default).
public struct CalibratedThresholds: Sendable, Hashable {
    public var bruteForceFailures: Int
    public var sprayingUsers: Int
    public var stuffingSources: Int
    public var enumerationUsers: Int
    public var privilegedFailures: Int
    public var successAfterFailures: Int
    public var unusualHourMaxShare: Double
    public var volumeK: Double
    public var outlierThreshold: Double

    public init(_ config: DetectionConfig) {
        bruteForceFailures = config.bruteForce.failures
        sprayingUsers = config.passwordSpraying.distinctUsers
        stuffingSources = config.credentialStuffing.distinctSources
        enumerationUsers = config.accountEnumeration.distinctUnknownUsers
        privilegedFailures = config.privileged.failures
        successAfterFailures = config.successAfterFailures.failures
        unusualHourMaxShare = config.unusualHour.maxShare
        volumeK = config.volumeSpike.k
        outlierThreshold = config.outlier.threshold
    }
}

/// Facts about the training run, kept in the manifest.
public struct TrainingInfo: Sendable, Hashable {
    public var events: Int = 0
    public var errors: Int = 0
    public var firstEvent: Int64 = 0
    public var lastEvent: Int64 = 0
    public var targetFalsePositiveRate: Double = 0.001
    public var seed: UInt64 = 0

    public init() {}
}

/// A trained model of normal behaviour: per-user profiles, per-source rates, template
/// frequencies, calibrated thresholds and the isolation forest. Immutable and shared by every
/// engine that uses it.
public final class DetectionModel: Sendable {
    public static let formatVersion: UInt32 = 1

    public let users: [UInt64: UserProfile]

    /// A trained user's activity and activity near `hour`, read in place.
    func profileStats(_ userKey: UInt64, hour: Int) -> (Int, Int)? {
        guard let index = users.index(forKey: userKey) else { return nil }
        return (Int(users.values[index].activity), users.values[index].activity(near: hour))
    }
    public let sources: [UInt64: RateBaseline]
    public let populationUserRate: RateBaseline
    public let populationSourceRate: RateBaseline
    public let templates: [UInt64: UInt32]
    public let templateTotal: UInt64
    public let thresholds: CalibratedThresholds
    public let forest: IsolationForest
    /// Per feature, the 99th percentile seen in training (to explain outliers).
    public let featureHigh: [Float]
    public let info: TrainingInfo

    public init(users: [UInt64: UserProfile], sources: [UInt64: RateBaseline], populationUserRate: RateBaseline,
                populationSourceRate: RateBaseline, templates: [UInt64: UInt32], templateTotal: UInt64,
                thresholds: CalibratedThresholds, forest: IsolationForest, featureHigh: [Float], info: TrainingInfo) {
        self.users = users
        self.sources = sources
        self.populationUserRate = populationUserRate
        self.populationSourceRate = populationSourceRate
        self.templates = templates
        self.templateTotal = templateTotal
        self.thresholds = thresholds
        self.forest = forest
        self.featureHigh = featureHigh
        self.info = info
    }
}

/// Why a model could not be loaded.
public enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    case corrupt(String)
    case incompatible(String)
    case checksumMismatch(expected: String, actual: String)

    public var description: String {
        switch self {
        case .corrupt(let reason): "model is corrupt: \(reason)"
        case .incompatible(let reason): "model is incompatible: \(reason)"
        case .checksumMismatch(let expected, let actual): "model checksum mismatch: manifest says \(expected), file is \(actual)"
        }
    }
}

// MARK: - Binary form

extension DetectionModel {
    private static let magic: [UInt8] = Array("VGLMODEL".utf8)

    /// The model as bytes (little-endian, sections in a fixed order, maps sorted by key), so
    /// the same training gives the same bytes.
    public func serialized() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes(Self.magic)
        w.u32(Self.formatVersion)
        // Info
        w.u64(UInt64(info.events)); w.u64(UInt64(info.errors)); w.i64(info.firstEvent); w.i64(info.lastEvent)
        w.f64(info.targetFalsePositiveRate); w.u64(info.seed)
        // Thresholds
        let t = thresholds
        for v in [t.bruteForceFailures, t.sprayingUsers, t.stuffingSources, t.enumerationUsers, t.privilegedFailures, t.successAfterFailures] {
            w.u32(UInt32(v))
        }
        w.f64(t.unusualHourMaxShare); w.f64(t.volumeK); w.f64(t.outlierThreshold)
        // Users
        w.u32(UInt32(users.count))
        for key in users.keys.sorted() {
            guard let p = users[key] else { continue }
            w.u64(key)
            for h in p.hours { w.u32(h) }
            w.u32(p.activity); w.u32(p.successes); w.u32(p.escalations)
            w.u32(UInt32(p.sources.count)); for s in p.sources.sorted() { w.u64(s) }
            w.u32(UInt32(p.prefixes.count)); for s in p.prefixes.sorted() { w.u64(s) }
            w.rate(p.rate)
        }
        // Sources
        w.u32(UInt32(sources.count))
        for key in sources.keys.sorted() { w.u64(key); w.rate(sources[key] ?? RateBaseline()) }
        w.rate(populationUserRate); w.rate(populationSourceRate)
        // Templates
        w.u64(templateTotal)
        w.u32(UInt32(templates.count))
        for key in templates.keys.sorted() { w.u64(key); w.u32(templates[key] ?? 0) }
        // Forest
        w.u32(UInt32(forest.sampleSize))
        w.u32(UInt32(forest.roots.count)); for r in forest.roots { w.u32(UInt32(bitPattern: r)) }
        w.u32(UInt32(forest.feature.count))
        for i in 0..<forest.feature.count {
            w.u8(UInt8(bitPattern: forest.feature[i])); w.f32(forest.threshold[i])
            w.u32(UInt32(bitPattern: forest.left[i])); w.u32(UInt32(bitPattern: forest.right[i]))
        }
        w.u32(UInt32(featureHigh.count)); for f in featureHigh { w.f32(f) }
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
        info.events = Int(try r.u64()); info.errors = Int(try r.u64())
        info.firstEvent = try r.i64(); info.lastEvent = try r.i64()
        info.targetFalsePositiveRate = try r.f64(); info.seed = try r.u64()
        var t = CalibratedThresholds(DetectionConfig())
        t.bruteForceFailures = Int(try r.u32()); t.sprayingUsers = Int(try r.u32()); t.stuffingSources = Int(try r.u32())
        t.enumerationUsers = Int(try r.u32()); t.privilegedFailures = Int(try r.u32()); t.successAfterFailures = Int(try r.u32())
        t.unusualHourMaxShare = try r.f64(); t.volumeK = try r.f64(); t.outlierThreshold = try r.f64()
        var users: [UInt64: UserProfile] = [:]
        let userCount = try r.count(max: 50_000_000)
        users.reserveCapacity(userCount)
        for _ in 0..<userCount {
            let key = try r.u64()
            var p = UserProfile()
            for h in 0..<24 { p.hours[h] = try r.u32() }
            p.activity = try r.u32(); p.successes = try r.u32(); p.escalations = try r.u32()
            for _ in 0..<(try r.count(max: 1_000_000)) { p.sources.insert(try r.u64()) }
            for _ in 0..<(try r.count(max: 1_000_000)) { p.prefixes.insert(try r.u64()) }
            p.rate = try r.rate()
            users[key] = p
        }
        var sources: [UInt64: RateBaseline] = [:]
        let sourceCount = try r.count(max: 100_000_000)
        sources.reserveCapacity(sourceCount)
        for _ in 0..<sourceCount { sources[try r.u64()] = try r.rate() }
        let populationUserRate = try r.rate(), populationSourceRate = try r.rate()
        let templateTotal = try r.u64()
        var templates: [UInt64: UInt32] = [:]
        for _ in 0..<(try r.count(max: 100_000_000)) { templates[try r.u64()] = try r.u32() }
        var forest = IsolationForest()
        forest.sampleSize = Int(try r.u32())
        let rootCount = try r.count(max: 10_000)
        for _ in 0..<rootCount { forest.roots.append(Int32(bitPattern: try r.u32())) }
        let nodeCount = try r.count(max: 100_000_000)
        for _ in 0..<nodeCount {
            forest.feature.append(Int8(bitPattern: try r.u8())); forest.threshold.append(try r.f32())
            forest.left.append(Int32(bitPattern: try r.u32())); forest.right.append(Int32(bitPattern: try r.u32()))
        }
        // Every child and root must point inside the node array, features inside the vector.
        for i in 0..<nodeCount where forest.feature[i] >= 0 {
            guard Int(forest.feature[i]) < FeatureVector.count,
                  (0..<nodeCount).contains(Int(forest.left[i])), (0..<nodeCount).contains(Int(forest.right[i])),
                  Int(forest.left[i]) > i, Int(forest.right[i]) > i else {
                throw .corrupt("isolation forest node \(i) is malformed")
            }
        }
        guard forest.roots.allSatisfy({ (0..<nodeCount).contains(Int($0)) }) else { throw .corrupt("isolation forest root out of range") }
        var featureHigh: [Float] = []
        for _ in 0..<(try r.count(max: 64)) { featureHigh.append(try r.f32()) }
        guard try r.bytes(4) == Array("END.".utf8), r.atEnd else { throw .corrupt("trailing or missing data at the end") }
        return DetectionModel(users: users, sources: sources, populationUserRate: populationUserRate,
                              populationSourceRate: populationSourceRate, templates: templates, templateTotal: templateTotal,
                              thresholds: t, forest: forest, featureHigh: featureHigh, info: info)
    }
}

struct BinaryWriter {
    var data: [UInt8] = []
    mutating func bytes(_ b: [UInt8]) { data.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func rate(_ r: RateBaseline) { f32(r.median); f32(r.mad); u32(r.buckets) }
    mutating func string(_ s: String) { let b = Array(s.utf8); u32(UInt32(b.count)); bytes(b) }
}

struct BinaryReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }

    var atEnd: Bool { offset == data.count }

    mutating func bytes(_ n: Int) throws(ModelError) -> [UInt8] {
        guard n >= 0, data.count - offset >= n else { throw .corrupt("truncated at byte \(offset)") }
        defer { offset += n }
        return Array(data[offset..<offset + n])
    }

    mutating func u8() throws(ModelError) -> UInt8 {
        guard offset < data.count else { throw .corrupt("truncated at byte \(offset)") }
        defer { offset += 1 }
        return data[offset]
    }

    mutating func u32() throws(ModelError) -> UInt32 {
        guard data.count - offset >= 4 else { throw .corrupt("truncated at byte \(offset)") }
        defer { offset += 4 }
        return UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16 | UInt32(data[offset + 3]) << 24
    }

    mutating func u64() throws(ModelError) -> UInt64 {
        let low = UInt64(try u32()), high = UInt64(try u32())
        return low | high << 32
    }

    mutating func i64() throws(ModelError) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func f32() throws(ModelError) -> Float { Float(bitPattern: try u32()) }
    mutating func f64() throws(ModelError) -> Double { Double(bitPattern: try u64()) }
    mutating func rate() throws(ModelError) -> RateBaseline { RateBaseline(median: try f32(), mad: try f32(), buckets: try u32()) }

    mutating func string() throws(ModelError) -> String {
        let n = try count(max: 1 << 20)
        return String(decoding: try bytes(n), as: UTF8.self)
    }

    /// A count, rejected when implausible (a corrupt length must not allocate gigabytes).
    mutating func count(max: Int) throws(ModelError) -> Int {
        let at = offset
        let value = Int(try u32())
        guard value <= max, value <= data.count else { throw .corrupt("implausible count \(value) at byte \(at)") }
        return value
    }
}
