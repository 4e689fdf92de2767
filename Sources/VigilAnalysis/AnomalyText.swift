import VigilDetection

/// The one-line text form of an anomaly — time, severity, detector, summary — used wherever
/// anomalies are shown to people (`vigil analyze`, `vigil consume --summary`, reports):
///
///     2026-11-03T01:39:46.800Z  HIGH     brute_force             8 failed logins for …
public enum AnomalyText {
    public static func line(_ anomaly: Anomaly) -> String {
        line(
            time: UTC.format(anomaly.eventTime), severity: anomaly.severity.rawValue,
            detector: anomaly.detector.rawValue, summary: anomaly.summary)
    }

    /// The line for an anomaly in its JSON form (as published), or nil when `json` is not one.
    public static func line(json: [UInt8]) -> String? {
        var time: String?
        var severity: String?
        var detector: String?
        var summary: String?
        let parsed: Bool = json.withUnsafeBufferPointer { bytes in
            var reader = JSONReader(bytes)
            return
                (try? reader.readObject { path, value in
                    switch String(decoding: path, as: UTF8.self) {
                    case "event_time": time = value.text
                    case "severity": severity = value.text
                    case "detector": detector = value.text
                    case "summary": summary = value.text
                    default: break
                    }
                }) != nil
        }
        guard parsed, let time, let severity, let detector, let summary else { return nil }
        return line(time: time, severity: severity, detector: detector, summary: summary)
    }

    private static func line(time: String, severity: String, detector: String, summary: String) -> String {
        "\(time)  \(padded(severity.uppercased(), 8)) \(padded(detector, 23)) \(summary)"
    }

    private static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
