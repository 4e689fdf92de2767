/// Thresholds and windows of every detector. Defaults follow the field's references; every
/// value can be changed (`vigil analyze --config`, the stream's config file) and a trained
/// model can raise count thresholds to meet its target false-positive rate.
///
/// Durations are milliseconds of *event* time.
public struct DetectionConfig: Sendable, Hashable {
    /// Many failures from one source against one account (T1110.001). Wazuh rules 5712/5763:
    /// 8 failures from one source within 120 s, then 60 s of suppression.
    public struct BruteForce: Sendable, Hashable {
        public var enabled = true
        /// Failures from one source against one account in the window.
        public var failures = 8
        public var windowMs: Int64 = 120_000
        /// Failures from one source against any accounts in the window — Wazuh 5712 (invalid
        /// users), 5720 and 5763 (failed logins): 8 matching events from one source in 120 s.
        public var sourceFailures = 8
        /// What one "maximum authentication attempts exceeded" or "Too many authentication
        /// failures" stands for: sshd's MaxAuthTries (default 6).
        public var maxAuthTries = 6
        /// Slower guessing, reported at medium severity: failures from one source within a
        /// longer window — fail2ban's default ban (5 in 10 minutes), Sigma's password guessing
        /// (5 per source in 5 minutes). 0 turns the tier off.
        public var slowFailures = 5
        public var slowWindowMs: Int64 = 600_000
    }

    /// One source failing against many accounts (T1110.003). A Sigma-style correlation.
    public struct PasswordSpraying: Sendable, Hashable {
        public var enabled = true
        public var distinctUsers = 10
        public var windowMs: Int64 = 300_000
    }

    /// One account failing from many sources (T1110.004): distributed guessing or stuffing.
    public struct CredentialStuffing: Sendable, Hashable {
        public var enabled = true
        public var distinctSources = 10
        public var windowMs: Int64 = 300_000
    }

    /// A success for an account, or from a source, right after a burst of failures (T1078).
    /// Elastic's rule uses 25 failures then a success within 15 s; attackers pace themselves,
    /// so the default is 5 failures within 10 minutes.
    public struct SuccessAfterFailures: Sendable, Hashable {
        public var enabled = true
        public var failures = 5
        public var windowMs: Int64 = 600_000
    }

    /// Unknown accounts tried from one source (T1087).
    public struct AccountEnumeration: Sendable, Hashable {
        public var enabled = true
        public var distinctUnknownUsers = 5
        public var windowMs: Int64 = 300_000
    }

    /// A success from an address (and /24) never seen for the user (Elastic "rare source IP for
    /// a user"). Needs a history of the user first.
    public struct NewSource: Sendable, Hashable {
        public var enabled = true
        /// Successful logins the profile needs before a new source is remarkable.
        public var minHistory = 5
        /// A new address inside a /24 (IPv6: /64) the user already used is not reported.
        public var samePrefixIsKnown = true
    }

    /// Activity at an hour the user's profile makes rare (Elastic "rare hour for a user").
    public struct UnusualHour: Sendable, Hashable {
        public var enabled = true
        /// Events in the user's profile before hours are judged.
        public var minHistory = 20
        /// Report when the (±1 h smoothed) share of the user's activity at this hour is below.
        public var maxShare = 0.01
    }

    /// Privileged accounts: failures against them, and su/sudo to root by users (or from
    /// sources) that never did so before (T1548).
    public struct Privileged: Sendable, Hashable {
        public var enabled = true
        public var accounts: Set<String> = ["root", "admin", "administrator", "Administrator", "toor", "superuser"]
        public var failures = 3
        public var windowMs: Int64 = 300_000
        /// Escalations a user needs in the profile before theirs are routine.
        public var minEscalations = 1
    }

    /// Message templates never (or almost never) seen before.
    public struct RareEvent: Sendable, Hashable {
        public var enabled = true
        /// Events the template statistics need before "never seen" means something.
        public var minHistory = 1_000
        /// Report templates whose share of all events is below this.
        public var maxShare = 0.000_05
        /// After its report a kind of message stays quiet while it keeps occurring; it can be
        /// news again after this long without it (in event time).
        public var quietMs: Int64 = 7 * 86_400_000
    }

    /// An entity's event rate far above its baseline: count per bucket above
    /// median + k × MAD (robust statistics) and above a floor.
    public struct VolumeSpike: Sendable, Hashable {
        public var enabled = true
        public var bucketMs: Int64 = 300_000
        public var k = 8.0
        public var minCount = 50
        /// Past buckets kept per entity for its online baseline.
        public var historyBuckets = 24
        /// Buckets of history needed before an online baseline is trusted.
        public var minHistoryBuckets = 6
    }

    /// The same user in two places faster than travel allows.
    public struct ImpossibleTravel: Sendable, Hashable {
        public var enabled = true
        public var maxSpeedKmh = 1_000.0
        public var minDistanceKm = 500.0
    }

    /// An isolation forest over per-event features, for what no rule describes.
    public struct Outlier: Sendable, Hashable {
        public var enabled = true
        /// Score above which an event is reported when the model has no calibrated threshold.
        public var threshold = 0.70
    }

    public var bruteForce = BruteForce()
    public var passwordSpraying = PasswordSpraying()
    public var credentialStuffing = CredentialStuffing()
    public var successAfterFailures = SuccessAfterFailures()
    public var accountEnumeration = AccountEnumeration()
    public var newSource = NewSource()
    public var unusualHour = UnusualHour()
    public var privileged = Privileged()
    public var rareEvent = RareEvent()
    public var volumeSpike = VolumeSpike()
    public var impossibleTravel = ImpossibleTravel()
    public var outlier = Outlier()

    /// After reporting a detector for an entity, stay quiet about the same pair for this long
    /// (Wazuh's suppression is 60 s; a SOC prefers fewer, fuller alerts).
    public var suppressionMs: Int64 = 300_000
    /// How late (in event time, behind the latest event seen) an event may arrive and still be
    /// counted in windows.
    public var latenessMs: Int64 = 60_000
    /// Most entities each piece of windowed state keeps; the least recently seen are dropped
    /// first, so memory stays flat however many distinct addresses arrive.
    public var maxEntities = 100_000
    /// A repartitioned stream's second stage holds events until every input partition has
    /// gone past them, to process them in event-time order; past this many held events the
    /// oldest are processed anyway, so memory stays bounded when one partition lags far behind.
    public var reorderCapacity = 20_000
    /// Which entities the engine reports anomalies about (see ``EntityScope``); set through
    /// ``scoped(to:)``.
    public private(set) var entityScope: EntityScope = .all

    public init() {}

    /// The entities an engine reports anomalies about. A repartitioned stream's second stage
    /// runs one engine over events keyed by source and another over events keyed by account,
    /// each reporting one side; an engine that knows which side it reports skips the
    /// detectors and the state only the other side's anomalies need.
    public enum EntityScope: String, Sendable, Hashable {
        /// Every entity (one engine seeing all events).
        case all
        /// Everything but accounts: sources (brute force, spraying, enumeration, privileged
        /// failures, source volume, outlier scores of events without an account), source–account
        /// pairs, and message templates (rare messages).
        case sources
        /// Accounts: stuffing, success after failures, new source, unusual hour, impossible
        /// travel, escalation, account volume, and the outlier scores of events with an account.
        case accounts

        /// Whether an engine of this scope reports anomalies about `kind`.
        public func reports(_ kind: Entity.Kind) -> Bool {
            switch self {
            case .all: true
            case .sources: kind != .user
            case .accounts: kind == .user
            }
        }
    }

    /// This configuration for an engine that reports only `scope`'s entities: the other
    /// side's rule-only detectors off (their anomalies would be dropped anyway). Detectors
    /// that report under both kinds of entity (volume, privileged accounts, outliers) stay on;
    /// the engine skips their work for the other side (see ``EntityScope``).
    public func scoped(to scope: EntityScope) -> DetectionConfig {
        var config = self
        config.entityScope = scope
        switch scope {
        case .all:
            break
        case .sources:
            config.credentialStuffing.enabled = false
            config.successAfterFailures.enabled = false
            config.newSource.enabled = false
            config.unusualHour.enabled = false
            config.impossibleTravel.enabled = false
        case .accounts:
            config.bruteForce.enabled = false
            config.passwordSpraying.enabled = false
            config.accountEnumeration.enabled = false
            config.rareEvent.enabled = false
        }
        return config
    }

    public static let `default` = DetectionConfig()
}
