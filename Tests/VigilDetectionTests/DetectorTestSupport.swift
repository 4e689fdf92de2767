@testable import VigilDetection

/// 2026-11-25T12:00:00Z.
let t0 = UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 12, minute: 0, second: 0)

func seconds(_ s: Double) -> Int64 { Int64(s * 1000) }

/// A failed password attempt.
func failure(_ user: String, from ip: String, at t: Int64, unknownAccount: Bool = false) -> LogEvent {
    var e = LogEvent(
        timestamp: t, kind: .authFailure, outcome: .failure, user: user, sourceIP: ip,
        message: "Failed password for \(user)", template: "sshd:failed")
    e.isAttempt = true
    e.accountUnknown = unknownAccount
    e.fingerprint = StableHash.hash("\(t)|\(user)|\(ip)|f")
    return e
}

/// A successful login.
func success(_ user: String, from ip: String, at t: Int64, country: String? = nil) -> LogEvent {
    var e = LogEvent(
        timestamp: t, kind: .authSuccess, outcome: .success, user: user, sourceIP: ip,
        message: "Accepted password for \(user)", template: "sshd:accepted")
    e.isAttempt = true
    e.country = country
    e.fingerprint = StableHash.hash("\(t)|\(user)|\(ip)|s")
    return e
}

/// "Invalid user X from IP".
func invalidUser(_ user: String, from ip: String, at t: Int64) -> LogEvent {
    var e = LogEvent(
        timestamp: t, kind: .invalidUser, outcome: .failure, user: user, sourceIP: ip, template: "sshd:invalid-user")
    e.accountUnknown = true
    e.fingerprint = StableHash.hash("\(t)|\(user)|\(ip)|i")
    return e
}

extension DetectionEngine {
    /// Processes events and returns every anomaly.
    mutating func run(_ events: [LogEvent]) -> [Anomaly] {
        events.flatMap { process($0) }
    }
}

extension Array where Element == Anomaly {
    func of(_ detector: DetectorKind) -> [Anomaly] { filter { $0.detector == detector } }
    /// The high-severity ones (brute force: Wazuh's two-minute rules, not the slower tier).
    var high: [Anomaly] { filter { $0.severity >= .high } }
}
