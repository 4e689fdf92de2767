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

    public init(
        users: [UInt64: UserProfile], sources: [UInt64: RateBaseline], populationUserRate: RateBaseline,
        populationSourceRate: RateBaseline, templates: [UInt64: UInt32], templateTotal: UInt64,
        thresholds: CalibratedThresholds, forest: IsolationForest, featureHigh: [Float], info: TrainingInfo
    ) {
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
        case .checksumMismatch(let expected, let actual):
            "model checksum mismatch: manifest says \(expected), file is \(actual)"
        }
    }
}
