import VigilDetection

/// Precision and recall of one detector against injected attacks.
public struct DetectorScore: Sendable, Hashable {
    public var detector: DetectorKind
    /// Anomalies the detector reported.
    public var reported: Int
    /// Of those, the ones that belong to an injected attack.
    public var matched: Int
    /// Attacks this detector is expected to catch, and how many it did.
    public var expected: Int
    public var detected: Int

    public var precision: Double? { reported == 0 ? nil : Double(matched) / Double(reported) }
    public var recall: Double? { expected == 0 ? nil : Double(detected) / Double(expected) }
}

/// Scores anomalies against the generator's ground truth.
public enum Evaluation {
    /// An anomaly belongs to an attack when it names one of the attack's entities (as its
    /// entity, user or source) at a time from a minute before the attack to `slack` after it.
    public static func belongs(_ anomaly: Anomaly, to attack: InjectedAttack, slack: Int64 = 900_000) -> Bool {
        guard anomaly.eventTime >= attack.start - 60_000, anomaly.eventTime <= attack.end + slack else { return false }
        if attack.entities.contains(anomaly.entity.value) { return true }
        if let user = anomaly.user, attack.entities.contains(user) { return true }
        if let source = anomaly.sourceIP, attack.entities.contains(source) { return true }
        return false
    }

    public static func score(_ anomalies: [Anomaly], attacks: [InjectedAttack]) -> [DetectorScore] {
        var rows: [DetectorKind: DetectorScore] = [:]
        for kind in DetectorKind.allCases {
            rows[kind] = DetectorScore(detector: kind, reported: 0, matched: 0, expected: 0, detected: 0)
        }
        for anomaly in anomalies {
            rows[anomaly.detector]?.reported += 1
            if attacks.contains(where: { belongs(anomaly, to: $0) }) { rows[anomaly.detector]?.matched += 1 }
        }
        for attack in attacks {
            rows[attack.kind.detector]?.expected += 1
            if anomalies.contains(where: { $0.detector == attack.kind.detector && belongs($0, to: attack) }) {
                rows[attack.kind.detector]?.detected += 1
            }
        }
        return DetectorKind.allCases.compactMap { rows[$0] }
    }

    /// A Markdown table of the scores.
    public static func table(_ scores: [DetectorScore]) -> String {
        var lines = [
            "| detector | reported | matched | precision | attacks | detected | recall |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        func pct(_ x: Double?) -> String { x.map { "\(Int(($0 * 100).rounded()))%" } ?? "–" }
        for s in scores {
            lines.append(
                "| \(s.detector.rawValue) | \(s.reported) | \(s.matched) | \(pct(s.precision)) | \(s.expected) | \(s.detected) | \(pct(s.recall)) |"
            )
        }
        let reported = scores.reduce(0) { $0 + $1.reported }
        let matched = scores.reduce(0) { $0 + $1.matched }
        let expected = scores.reduce(0) { $0 + $1.expected }
        let detected = scores.reduce(0) { $0 + $1.detected }
        lines.append(
            "| **all** | \(reported) | \(matched) | \(pct(reported == 0 ? nil : Double(matched) / Double(reported))) | \(expected) | \(detected) | \(pct(expected == 0 ? nil : Double(detected) / Double(expected))) |"
        )
        return lines.joined(separator: "\n")
    }
}
