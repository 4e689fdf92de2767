import CRdKafka

/// An owned `rd_kafka_topic_partition_list_t`.
struct PartitionList: ~Copyable {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ partitions: some Sequence<TopicPartition>) {
        pointer = rd_kafka_topic_partition_list_new(16)
        for tp in partitions { rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition) }
    }

    init(_ offsets: some Sequence<TopicPartitionOffset>) {
        pointer = rd_kafka_topic_partition_list_new(16)
        for tpo in offsets {
            let element = rd_kafka_topic_partition_list_add(
                pointer, tpo.topicPartition.topic, tpo.topicPartition.partition)
            element?.pointee.offset = tpo.offset
        }
    }

    /// Takes ownership of a list librdkafka returned.
    init(owning pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        self.pointer = pointer
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    var topicPartitions: [TopicPartition] { Self.topicPartitions(pointer) }
    var offsets: [TopicPartitionOffset] { Self.offsets(pointer) }

    /// Per-partition errors set by librdkafka in the list.
    var errors: [TopicPartition: KafkaError] {
        var result: [TopicPartition: KafkaError] = [:]
        Self.forEach(pointer) { element in
            if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                result[TopicPartition(String(cString: element.topic), element.partition)] = KafkaError(element.err)
            }
        }
        return result
    }

    static func topicPartitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
        var result: [TopicPartition] = []
        forEach(list) { result.append(TopicPartition(String(cString: $0.topic), $0.partition)) }
        return result
    }

    static func offsets(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartitionOffset] {
        var result: [TopicPartitionOffset] = []
        forEach(list) {
            result.append(TopicPartitionOffset(String(cString: $0.topic), $0.partition, offset: $0.offset))
        }
        return result
    }

    static func forEach(
        _ list: UnsafePointer<rd_kafka_topic_partition_list_t>,
        _ body: (rd_kafka_topic_partition_t) -> Void
    ) {
        guard let elements = list.pointee.elems else { return }
        for index in 0..<Int(list.pointee.cnt) { body(elements[index]) }
    }
}
