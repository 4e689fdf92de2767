/// The JSON form of anomalies and events (`schemas/anomaly-v1.schema.json`).
public enum AnomalyJSON {
    /// One anomaly as a compact JSON object.
    public static func encode(_ anomaly: Anomaly) -> [UInt8] {
        var w = JSONWriter()
        write(anomaly, to: &w)
        return w.bytes
    }

    public static func write(_ a: Anomaly, to w: inout JSONWriter) {
        w.beginObject()
        w.field("schema_version", Anomaly.schemaVersion)
        w.field("id", a.id)
        w.field("detector", a.detector.rawValue)
        w.field("severity", a.severity.rawValue)
        w.key("score")
        w.double(a.score)
        w.key("entity")
        w.objectValue { w in
            w.field("type", a.entity.kind.rawValue)
            w.field("value", a.entity.value)
        }
        w.field("user", a.user)
        w.field("source_ip", a.sourceIP)
        w.field("host", a.host)
        w.field("event_time", UTC.format(a.eventTime))
        w.field("summary", a.summary)
        w.key("evidence")
        w.value(.object(a.evidence))
        w.key("mitre")
        if let mitre = a.mitre {
            w.objectValue { w in
                w.field("tactic", mitre.tactic)
                w.field("technique_id", mitre.techniqueID)
                w.field("technique", mitre.technique)
            }
        } else {
            w.null()
        }
        w.key("event")
        w.objectValue { w in writeEvent(a.event, to: &w) }
        w.endObject()
    }

    /// The normalised event's fields (absent ones omitted).
    public static func writeEvent(_ e: LogEvent, to w: inout JSONWriter) {
        w.field("timestamp", UTC.format(e.timestamp))
        w.field("kind", e.kind.rawValue)
        w.field("outcome", e.outcome.rawValue)
        w.field("user", e.user)
        w.field("source_ip", e.sourceIP)
        w.field("source_port", e.sourcePort)
        w.field("host", e.host)
        w.field("service", e.service)
        w.field("process_id", e.processID)
        w.field("destination_ip", e.destinationIP)
        w.field("country", e.country)
        w.field("latitude", e.latitude)
        w.field("longitude", e.longitude)
        w.field("target_user", e.targetUser)
        w.field("command", e.command)
        w.field("auth_method", e.authMethod)
        w.field("action", e.action)
        w.field("user_agent", e.userAgent)
        w.field("session_id", e.sessionID)
        if e.repeatCount > 1 { w.field("repeat_count", e.repeatCount) }
        w.field("message", e.message)
        w.field("template", e.template)
    }
}
