import VigilDetection
import VigilKafka

/// The Kafka messages the stream produces.
enum StreamMessages {
    /// An anomaly for the output topic: keyed by entity (one entity's anomalies stay in one
    /// partition, in order), the anomaly JSON as value, and headers naming schema, detector,
    /// severity and the source record.
    static func anomaly(_ anomaly: Anomaly, topic: String, source: ConsumerRecord) -> ProducerMessage {
        Self.anomaly(
            anomaly, topic: topic, sourceTopic: source.topic, sourcePartition: source.partition,
            sourceOffset: source.offset)
    }

    /// An anomaly whose source record is named explicitly (the repartitioned stream's second
    /// stage names the input record, not the repartition record).
    static func anomaly(
        _ anomaly: Anomaly, topic: String, sourceTopic: String, sourcePartition: Int32, sourceOffset: Int64
    ) -> ProducerMessage {
        ProducerMessage(
            topic: topic,
            key: Array("\(anomaly.entity.kind.rawValue):\(anomaly.entity.value)".utf8),
            value: AnomalyJSON.encode(anomaly),
            headers: [
                KafkaHeader(name: "vigil.schema_version", string: Anomaly.schemaVersion),
                KafkaHeader(name: "vigil.detector", string: anomaly.detector.rawValue),
                KafkaHeader(name: "vigil.severity", string: anomaly.severity.rawValue),
                KafkaHeader(name: "vigil.source.topic", string: sourceTopic),
                KafkaHeader(name: "vigil.source.partition", string: String(sourcePartition)),
                KafkaHeader(name: "vigil.source.offset", string: String(sourceOffset)),
            ])
    }

    /// A record that could not be decoded, for the dead-letter topic: key, value and headers
    /// unchanged, plus Kafka Connect's error headers.
    /// Marks a poison record's dead letter; its value is how often the record stopped the process.
    static let poisonHeader = "vigil.dlq.poison"
    /// Marks a dead letter whose value was cut; its value is the original size in bytes.
    static let truncatedHeader = "vigil.dlq.truncated_from"
    /// What a dead letter refused as too large keeps of its value and key.
    static let truncatedValueBytes = 16 * 1024, truncatedKeyBytes = 1024

    /// A dead letter the producer or broker refused as too large, made small: the value and key
    /// cut, only the error headers kept, and ``truncatedHeader`` added. Retrying it unchanged
    /// could never succeed and would stall its partition; the original stays findable in the
    /// source topic through the `__connect.errors.*` headers.
    static func truncatedDeadLetter(_ message: ProducerMessage) -> ProducerMessage {
        var small = message
        small.value = message.value.map { Array($0.prefix(truncatedValueBytes)) }
        small.key = message.key.map { Array($0.prefix(truncatedKeyBytes)) }
        small.headers =
            message.headers.filter { $0.name.hasPrefix("__connect.errors.") }
            + [KafkaHeader(name: truncatedHeader, string: String(message.value?.count ?? 0))]
        return small
    }

    static func deadLetter(_ record: ConsumerRecord, topic: String, errors: [RecordError]) -> ProducerMessage {
        let message =
            errors.prefix(5).map(\.description).joined(separator: "; ")
            + (errors.count > 5 ? "; … \(errors.count - 5) more" : "")
        return ProducerMessage(
            topic: topic,
            key: record.key.map(Array.init),
            value: record.value.map(Array.init),
            headers: record.headers + [
                KafkaHeader(name: "__connect.errors.topic", string: record.topic),
                KafkaHeader(name: "__connect.errors.partition", string: String(record.partition)),
                KafkaHeader(name: "__connect.errors.offset", string: String(record.offset)),
                KafkaHeader(name: "__connect.errors.exception.class.name", string: "vigil.RecordError"),
                KafkaHeader(name: "__connect.errors.exception.message", string: message),
            ],
            timestamp: record.timestamp)
    }
}
