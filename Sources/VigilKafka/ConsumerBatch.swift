import CRdKafka

/// One consumed record. Key and value are slices of the batch's shared buffer (no copy).
public struct ConsumerRecord: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    /// Message timestamp in milliseconds since the epoch, when the broker supplied one.
    public let timestamp: Int64?
    /// nil for a null key.
    public let key: ArraySlice<UInt8>?
    /// nil for a null value (tombstone).
    public let value: ArraySlice<UInt8>?
    public let headers: [KafkaHeader]

    public init(
        topic: String, partition: Int32, offset: Int64, timestamp: Int64?, key: ArraySlice<UInt8>?,
        value: ArraySlice<UInt8>?, headers: [KafkaHeader]
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
}

/// Records handed to the application in one step by the consumer's poll thread.
///
/// All keys and values live in one contiguous buffer, so a batch of thousands of records costs
/// a handful of allocations rather than two per record.
public struct ConsumerBatch: Sendable, RandomAccessCollection {
    struct Entry: Sendable {
        var topicIndex: Int32
        var partition: Int32
        var offset: Int64
        var timestamp: Int64
        var keyStart: Int  // -1: null key
        var keyCount: Int
        var valueStart: Int  // -1: null value
        var valueCount: Int
        var headersIndex: Int32  // -1: no headers
    }

    let topics: [String]
    let storage: [UInt8]
    let entries: [Entry]
    let headerLists: [[KafkaHeader]]
    /// The partitions that have records in this batch.
    public let partitions: Set<TopicPartition>
    /// The consumer's assignment generation when the batch was delivered (see
    /// ``KafkaConsumer/assignmentGeneration``): a batch older than its partition's current
    /// assignment holds records fetched for an earlier owner and must not be processed.
    public internal(set) var generation: UInt64 = 0

    init(topics: [String], storage: [UInt8], entries: [Entry], headerLists: [[KafkaHeader]]) {
        self.topics = topics
        self.storage = storage
        self.entries = entries
        self.headerLists = headerLists
        // Records of one partition come in runs: hash a partition once per run, not per record.
        var partitions = Set<TopicPartition>()
        var last: (Int32, Int32)? = nil
        for entry in entries where last.map({ $0 != (entry.topicIndex, entry.partition) }) ?? true {
            partitions.insert(TopicPartition(topics[Int(entry.topicIndex)], entry.partition))
            last = (entry.topicIndex, entry.partition)
        }
        self.partitions = partitions
    }

    /// Bytes of keys and values in this batch.
    public var byteCount: Int { storage.count }

    public var startIndex: Int { 0 }
    public var endIndex: Int { entries.count }

    public subscript(position: Int) -> ConsumerRecord {
        let entry = entries[position]
        return ConsumerRecord(
            topic: topics[Int(entry.topicIndex)],
            partition: entry.partition,
            offset: entry.offset,
            timestamp: entry.timestamp >= 0 ? entry.timestamp : nil,
            key: entry.keyStart < 0 ? nil : storage[entry.keyStart..<entry.keyStart + entry.keyCount],
            value: entry.valueStart < 0 ? nil : storage[entry.valueStart..<entry.valueStart + entry.valueCount],
            headers: entry.headersIndex < 0 ? [] : headerLists[Int(entry.headersIndex)])
    }

    /// The offset of the record at `position` (no record is built, nothing is retained).
    public func offset(at position: Int) -> Int64 { entries[position].offset }

    /// The partition of the record at `position` (topic name: ``topic(at:)``).
    public func partition(at position: Int) -> Int32 { entries[position].partition }

    /// The topic of the record at `position`.
    public func topic(at position: Int) -> String { topics[Int(entries[position].topicIndex)] }

    /// Whether the records at `a` and `b` are in the same topic and partition.
    public func samePartition(_ a: Int, _ b: Int) -> Bool {
        entries[a].partition == entries[b].partition && entries[a].topicIndex == entries[b].topicIndex
    }

    /// Key and value bytes of the record at `position`.
    public func byteCount(at position: Int) -> Int { entries[position].keyCount + entries[position].valueCount }

    /// The record's timestamp in milliseconds, if the broker supplied one.
    public func timestamp(at position: Int) -> Int64? {
        let t = entries[position].timestamp
        return t >= 0 ? t : nil
    }

    /// Calls `body` with the record's value bytes in place (nil for a null value). Cheaper than
    /// building the record: no reference counting on the shared buffer, which matters when
    /// several partitions' workers read one batch concurrently.
    public func withValue<R>(at position: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        let entry = entries[position]
        guard entry.valueStart >= 0 else { return try body(nil) }
        return try storage.withUnsafeBufferPointer {
            try body(UnsafeBufferPointer(rebasing: $0[entry.valueStart..<entry.valueStart + entry.valueCount]))
        }
    }

    /// This batch without the records of `partitions` (nil if nothing is left). The buffer is
    /// shared, not copied.
    func removing(_ partitions: Set<TopicPartition>) -> ConsumerBatch? {
        if partitions.isDisjoint(with: self.partitions) { return self }
        let kept = entries.filter { !partitions.contains(TopicPartition(topics[Int($0.topicIndex)], $0.partition)) }
        if kept.isEmpty { return nil }
        var batch = ConsumerBatch(topics: topics, storage: storage, entries: kept, headerLists: headerLists)
        batch.generation = generation
        return batch
    }
}

extension ConsumerBatch {
    /// Copies librdkafka messages into a batch. Messages carrying an error are not records:
    /// they are passed to `onError` instead. The messages stay owned by the caller.
    static func make(
        from messages: UnsafeBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>,
        onError: (KafkaError, TopicPartition?) -> Void
    ) -> ConsumerBatch? {
        var total = 0
        for case let message? in messages where message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            total += message.pointee.len + message.pointee.key_len
        }
        var storage = [UInt8]()
        storage.reserveCapacity(total)
        var entries = [Entry]()
        entries.reserveCapacity(messages.count)
        var topics: [String] = []
        var lastTopicHandle: OpaquePointer? = nil
        var headerLists: [[KafkaHeader]] = []

        for case let message? in messages {
            let m = message.pointee
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let topic = m.rkt.map { TopicPartition(String(cString: rd_kafka_topic_name($0)), m.partition) }
                onError(KafkaError(m.err, message: rd_kafka_message_errstr(message).map { String(cString: $0) }), topic)
                continue
            }
            // Messages of one fetch share a topic handle; build its String once.
            if m.rkt != lastTopicHandle || topics.isEmpty {
                let name = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
                if topics.last != name { topics.append(name) }
                lastTopicHandle = m.rkt
            }
            var entry = Entry(
                topicIndex: Int32(topics.count - 1), partition: m.partition, offset: m.offset,
                timestamp: -1, keyStart: -1, keyCount: 0, valueStart: -1, valueCount: 0,
                headersIndex: -1)
            var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(message, &timestampType)
            if timestampType != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE { entry.timestamp = timestamp }
            if let key = m.key {
                entry.keyStart = storage.count
                entry.keyCount = m.key_len
                storage.append(contentsOf: UnsafeRawBufferPointer(start: key, count: m.key_len))
            }
            if let payload = m.payload {
                entry.valueStart = storage.count
                entry.valueCount = m.len
                storage.append(contentsOf: UnsafeRawBufferPointer(start: payload, count: m.len))
            }
            var headers: OpaquePointer? = nil
            if rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers {
                entry.headersIndex = Int32(headerLists.count)
                headerLists.append(decodeHeaders(headers))
            }
            entries.append(entry)
        }
        if entries.isEmpty { return nil }
        return ConsumerBatch(topics: topics, storage: storage, entries: entries, headerLists: headerLists)
    }

    private static func decodeHeaders(_ headers: OpaquePointer) -> [KafkaHeader] {
        var result: [KafkaHeader] = []
        var index = 0
        var name: UnsafePointer<CChar>? = nil
        var value: UnsafeRawPointer? = nil
        var size = 0
        while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
            index += 1
        }
        return result
    }
}
