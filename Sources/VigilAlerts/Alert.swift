import Foundation
import VigilDetection
import VigilKafka

/// An anomaly as the sinks see it: the fields they route and format by, and the anomaly's JSON
/// as published (schema `anomaly-v1`), which the generic sinks send unchanged.
public struct Alert: Sendable, Hashable {
    public var id: String
    public var detector: String
    public var severity: Severity
    /// Event time in milliseconds since the epoch.
    public var time: Int64
    public var summary: String
    public var entityType: String
    public var entityValue: String
    public var user: String?
    public var sourceIP: String?
    public var host: String?
    public var techniqueID: String?
    public var technique: String?
    public var tactic: String?
    /// Evidence as (name, value as text), in the anomaly's order.
    public var evidence: [Evidence]
    /// The anomaly's JSON, byte for byte.
    public var json: [UInt8]
    /// The record's key and headers on the anomaly topic (the Kafka sink keeps them).
    public var key: [UInt8]? = nil
    public var headers: [KafkaHeader] = []

    /// One piece of evidence, as text.
    public struct Evidence: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    /// Why a record is not an anomaly the sinks can route.
    public struct DecodeError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads an anomaly published by Vigil (a `security-anomalies` record).
    public init(json: [UInt8]) throws(DecodeError) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw DecodeError(description: "not a JSON object")
        }
        func text(_ key: String) throws(DecodeError) -> String {
            guard let value = object[key] as? String, !value.isEmpty else {
                throw DecodeError(description: "\(key): missing or not a string")
            }
            return value
        }
        id = try text("id")
        detector = try text("detector")
        let severityText = try text("severity")
        guard let severity = Severity(rawValue: severityText) else {
            throw DecodeError(description: "severity: unknown value \"\(severityText)\"")
        }
        self.severity = severity
        let timeText = try text("event_time")
        guard let time = UTC.parse(timeText) else {
            throw DecodeError(description: "event_time: not RFC 3339: \(timeText)")
        }
        self.time = time
        summary = (object["summary"] as? String) ?? ""
        let entity = object["entity"] as? [String: Any]
        entityType = (entity?["type"] as? String) ?? ""
        entityValue = (entity?["value"] as? String) ?? ""
        user = object["user"] as? String
        sourceIP = object["source_ip"] as? String
        host = object["host"] as? String
        let mitre = object["mitre"] as? [String: Any]
        techniqueID = mitre?["technique_id"] as? String
        technique = mitre?["technique"] as? String
        tactic = mitre?["tactic"] as? String
        evidence = []
        // Key order as published (JSONSerialization loses it): read the keys from the bytes.
        if let values = object["evidence"] as? [String: Any] {
            let order = Self.keyOrder(of: "evidence", in: json, known: Set(values.keys))
            evidence = order.map { Evidence(name: $0, value: Self.describe(values[$0] as Any)) }
        }
        self.json = json
    }

    /// The anomaly's own form (the batch processor and the API hold `Anomaly` values).
    public init(_ anomaly: Anomaly) {
        // The published JSON is always decodable: it is ours.
        do { try self.init(json: AnomalyJSON.encode(anomaly)) } catch {
            preconditionFailure("Vigil's own anomaly JSON did not decode: \(error)")
        }
    }

    /// The ATT&CK page of the technique.
    public var attackURL: String? {
        techniqueID.map { "https://attack.mitre.org/techniques/\($0.replacingOccurrences(of: ".", with: "/"))/" }
    }

    static func describe(_ value: Any) -> String {
        switch value {
        case let text as String: return text
        case let number as NSNumber: return number.stringValue
        case let list as [Any]: return list.map(describe).joined(separator: ", ")
        case let object as [String: Any]:
            return object.keys.sorted().map { "\($0)=\(describe(object[$0] as Any))" }.joined(separator: " ")
        default: return ""
        }
    }

    /// The keys of the object under `key`, in the order they appear in `json` (sorted if the
    /// bytes cannot be read so): JSONSerialization forgets member order, `JSONReader` keeps it.
    static func keyOrder(of key: String, in json: [UInt8], known: Set<String>) -> [String] {
        let order = json.withUnsafeBufferPointer { bytes -> [String]? in
            var reader = JSONReader(bytes)
            guard let members = try? reader.readMembers(), let range = members.first(where: { $0.key == key })?.value
            else { return nil }
            var inner = JSONReader(UnsafeBufferPointer(rebasing: bytes[range]))
            return (try? inner.readMembers())?.map(\.key)
        }
        guard let order, Set(order) == known else { return known.sorted() }
        return order
    }
}

/// Which alerts a sink takes: at least a severity, and optionally only some detectors.
public struct AlertFilter: Sendable, Equatable {
    public var minimumSeverity: Severity
    /// Empty: every detector.
    public var detectors: Set<String>

    public init(minimumSeverity: Severity = .low, detectors: Set<String> = []) {
        self.minimumSeverity = minimumSeverity
        self.detectors = detectors
    }

    public func accepts(_ alert: Alert) -> Bool {
        alert.severity >= minimumSeverity && (detectors.isEmpty || detectors.contains(alert.detector))
    }
}
