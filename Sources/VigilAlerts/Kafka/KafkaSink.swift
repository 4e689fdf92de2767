import VigilKafka

/// Another Kafka topic: each alert with the key and headers it had on the anomaly topic.
public struct KafkaSink: AlertSink {
    public let name: String
    public let filter: AlertFilter
    public let maxBatch = 500
    let topic: String
    let producer: KafkaProducer

    /// `producer` is shared with the router (its delivery reports say when a send is accepted).
    public init(name: String = "kafka", topic: String, producer: KafkaProducer, filter: AlertFilter = AlertFilter()) {
        self.name = name
        self.topic = topic
        self.producer = producer
        self.filter = filter
    }

    public func send(_ alerts: [Alert]) async -> [SendOutcome] {
        let messages = alerts.map { alert in
            ProducerMessage(
                topic: topic, key: alert.key ?? Array(alert.id.utf8), value: alert.json, headers: alert.headers)
        }
        return await producer.send(messages).map { result in
            switch result {
            case .success: return .delivered
            case .failure(let error): return .retry(reason: "\(error)", after: nil)
            }
        }
    }
}
