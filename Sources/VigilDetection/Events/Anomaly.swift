/// The detectors, by the name anomalies carry.
public enum DetectorKind: String, Sendable, Hashable, CaseIterable, Comparable {
    case bruteForce = "brute_force"
    case passwordSpraying = "password_spraying"
    case credentialStuffing = "credential_stuffing"
    case successAfterFailures = "success_after_failures"
    case accountEnumeration = "account_enumeration"
    case newSource = "new_source"
    case unusualHour = "unusual_hour"
    case privilegedAccount = "privileged_account"
    case rareEvent = "rare_event"
    case volumeSpike = "volume_spike"
    case impossibleTravel = "impossible_travel"
    case outlier

    public static func < (lhs: DetectorKind, rhs: DetectorKind) -> Bool { lhs.rawValue < rhs.rawValue }
}

public enum Severity: String, Sendable, Hashable, CaseIterable, Comparable {
    case low, medium, high, critical

    private var rank: Int { Severity.allCases.firstIndex(of: self) ?? 0 }
    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// What an anomaly is about.
public struct Entity: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case user
        case sourceIP = "source_ip"
        case sourceIPUser = "source_ip_user"
        case host, template
    }
    public var kind: Kind
    public var value: String

    public init(_ kind: Kind, _ value: String) {
        self.kind = kind
        self.value = value
    }
}

/// A MITRE ATT&CK mapping.
public struct MITRE: Sendable, Hashable {
    public var tactic: String
    public var techniqueID: String
    public var technique: String

    static let passwordGuessing = MITRE(
        tactic: "Credential Access", techniqueID: "T1110.001", technique: "Brute Force: Password Guessing")
    static let passwordSpraying = MITRE(
        tactic: "Credential Access", techniqueID: "T1110.003", technique: "Brute Force: Password Spraying")
    static let credentialStuffing = MITRE(
        tactic: "Credential Access", techniqueID: "T1110.004", technique: "Brute Force: Credential Stuffing")
    static let bruteForce = MITRE(tactic: "Credential Access", techniqueID: "T1110", technique: "Brute Force")
    static let validAccounts = MITRE(tactic: "Initial Access", techniqueID: "T1078", technique: "Valid Accounts")
    static let accountDiscovery = MITRE(tactic: "Discovery", techniqueID: "T1087", technique: "Account Discovery")
    static let sudo = MITRE(
        tactic: "Privilege Escalation", techniqueID: "T1548.003",
        technique: "Abuse Elevation Control Mechanism: Sudo and Sudo Caching")
    static let elevation = MITRE(
        tactic: "Privilege Escalation", techniqueID: "T1548", technique: "Abuse Elevation Control Mechanism")
    static let ssh = MITRE(tactic: "Lateral Movement", techniqueID: "T1021.004", technique: "Remote Services: SSH")
}

/// A JSON value for evidence, rendered with keys in the order given (byte-for-byte stable).
public indirect enum EvidenceValue: Sendable, Hashable {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case time(Int64)
    case strings([String])
    case object([(String, EvidenceValue)])
    case null

    public static func == (lhs: EvidenceValue, rhs: EvidenceValue) -> Bool {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.time(let a), .time(let b)): a == b
        case (.strings(let a), .strings(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.null, .null): true
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        var writer = JSONWriter()
        writer.value(self)
        hasher.combine(writer.bytes)
    }
}

/// One anomaly: what was detected, about whom, how sure, and why.
///
/// Rendered by ``AnomalyJSON`` following `schemas/anomaly-v1.schema.json`. The `id` depends
/// only on the detector, the entity and the triggering record, so a replay produces the same
/// id and a SIEM can drop the duplicate.
public struct Anomaly: Sendable, Hashable {
    public static let schemaVersion = "1.1"

    public var id: String
    public var detector: DetectorKind
    public var severity: Severity
    /// 0–1: how far past its threshold the observation is.
    public var score: Double
    public var entity: Entity
    public var user: String?
    public var sourceIP: String?
    public var host: String?
    public var eventTime: Int64
    /// One human sentence with the numbers.
    public var summary: String
    /// Counts, window, first/last seen, thresholds crossed.
    public var evidence: [(String, EvidenceValue)]
    public var mitre: MITRE?
    /// The event that triggered it.
    public var event: LogEvent

    public static func == (lhs: Anomaly, rhs: Anomaly) -> Bool {
        lhs.id == rhs.id && lhs.detector == rhs.detector && lhs.severity == rhs.severity && lhs.score == rhs.score
            && lhs.entity == rhs.entity && lhs.summary == rhs.summary
            && EvidenceValue.object(lhs.evidence) == .object(rhs.evidence)
            && lhs.event == rhs.event && lhs.mitre == rhs.mitre
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(summary)
    }

    /// The deterministic id: `vgl-` and 16 hex digits.
    static func makeID(detector: DetectorKind, entity: Entity, fingerprint: UInt64) -> String {
        var h = StableHash.hash(detector.rawValue)
        h = StableHash.combine(h, StableHash.hash(entity.kind.rawValue))
        h = StableHash.combine(h, StableHash.hash(entity.value))
        h = StableHash.combine(h, fingerprint)
        let hex = String(h, radix: 16)
        return "vgl-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
