import CRdKafka
import Logging

/// A topic to create: name, partitions, replication factor and topic configs.
public struct TopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    /// Topic-level configs such as `retention.ms` or `cleanup.policy`.
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// A topic as the cluster reports it.
public struct TopicDescription: Sendable, Hashable {
    public struct Partition: Sendable, Hashable {
        public var id: Int32
        public var leader: Int32
        public var replicas: [Int32]
        public var inSyncReplicas: [Int32]
    }
    public var name: String
    public var partitions: [Partition]
    /// The replication factor of partition 0 (all partitions of a topic normally agree).
    public var replicationFactor: Int { partitions.first?.replicas.count ?? 0 }
}

/// A topic config value as the broker reports it.
public struct TopicConfigEntry: Sendable, Hashable {
    public var value: String?
    /// True when the broker uses its default (nothing was set for this topic).
    public var isDefault: Bool
}

/// Cluster administration: create and delete topics, list and describe them.
public final class KafkaAdmin: Sendable {
    private let handle: RdKafkaHandle

    public init(configuration: AdminConfiguration, observer: KafkaClientObserver) throws(KafkaError) {
        handle = try RdKafkaHandle(
            type: RD_KAFKA_PRODUCER, entries: configuration.entries,
            context: ClientContext(observer: observer))
    }

    deinit { handle.destroy() }

    /// Creates topics. Returns one result per topic: success, or the broker's error (for
    /// example `TOPIC_ALREADY_EXISTS`). Throws when the request itself fails or times out.
    public func createTopics(
        _ topics: [TopicSpecification], timeout: Duration
    ) async throws(KafkaError)
        -> [String: Result<Void, KafkaError>]
    {
        let rk = SendablePointer(handle.rk)
        let result = await runBlocking { Self.createTopicsBlocking(rk.value, topics, timeout: timeout) }
        return try result.get()
    }

    private static func createTopicsBlocking(
        _ rk: OpaquePointer, _ topics: [TopicSpecification],
        timeout: Duration
    ) -> Result<[String: Result<Void, KafkaError>], KafkaError> {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in topics {
            guard
                let topic = rd_kafka_NewTopic_new(
                    spec.name, Int32(spec.partitions), Int32(spec.replicationFactor),
                    &errstr, errstr.count)
            else {
                return .failure(
                    KafkaError(code: .invalidArgument, message: "topic \(spec.name): \(String(cStringBuffer: errstr))"))
            }
            newTopics.append(topic)
            for (name, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(topic, name, value)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    return .failure(KafkaError(err, message: "topic \(spec.name) config \(name)=\(value)"))
                }
            }
        }
        return withAdminRequest(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout: timeout) { options, queue in
            rd_kafka_CreateTopics(rk, &newTopics, newTopics.count, options, queue)
        } result: { event in
            var count = 0
            guard let result = rd_kafka_event_CreateTopics_result(event) else { return [:] }
            return topicResults(rd_kafka_CreateTopics_result_topics(result, &count), count: count)
        }
    }

    /// Deletes topics (and, on the broker, their records). Returns one result per topic:
    /// success, or the broker's error (for example `UNKNOWN_TOPIC_OR_PART`). Throws when the
    /// request itself fails or times out.
    public func deleteTopics(
        _ names: [String], timeout: Duration
    ) async throws(KafkaError) -> [String: Result<Void, KafkaError>] {
        let rk = SendablePointer(handle.rk)
        let result = await runBlocking { () -> Result<[String: Result<Void, KafkaError>], KafkaError> in
            var topics: [OpaquePointer?] = names.map { rd_kafka_DeleteTopic_new($0) }
            defer { for topic in topics { rd_kafka_DeleteTopic_destroy(topic) } }
            return Self.withAdminRequest(rk.value, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout: timeout) { options, queue in
                rd_kafka_DeleteTopics(rk.value, &topics, topics.count, options, queue)
            } result: { event in
                var count = 0
                guard let result = rd_kafka_event_DeleteTopics_result(event) else { return [:] }
                return Self.topicResults(rd_kafka_DeleteTopics_result_topics(result, &count), count: count)
            }
        }
        return try result.get()
    }

    /// Per-topic outcomes of a create or delete request.
    private static func topicResults(
        _ topicResults: UnsafeMutablePointer<OpaquePointer?>?, count: Int
    ) -> [String: Result<Void, KafkaError>] {
        var results: [String: Result<Void, KafkaError>] = [:]
        guard let topicResults else { return results }
        for index in 0..<count {
            guard let topicResult = topicResults[index] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let err = rd_kafka_topic_result_error(topicResult)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                results[name] = .success(())
            } else {
                let message = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                results[name] = .failure(KafkaError(err, message: message))
            }
        }
        return results
    }

    /// Names of all topics, internal ones (`__consumer_offsets`…) excluded.
    public func listTopics(timeout: Duration) async throws(KafkaError) -> [String] {
        try await describeTopics(nil, timeout: timeout).map(\.name).filter { !$0.hasPrefix("__") }.sorted()
    }

    /// Partitions and replicas of `names` (all topics when nil). Unknown topics are absent
    /// from the result.
    public func describeTopics(_ names: [String]?, timeout: Duration) async throws(KafkaError) -> [TopicDescription] {
        try await ClusterMetadata.describeTopics(handle, names, timeout: timeout)
    }

    /// The configs of a topic as the broker reports them (DescribeConfigs).
    public func topicConfigs(_ name: String, timeout: Duration) async throws(KafkaError) -> [String: TopicConfigEntry] {
        let rk = SendablePointer(handle.rk)
        let result = await runBlocking { Self.describeConfigsBlocking(rk.value, name, timeout: timeout) }
        return try result.get()
    }

    private static func describeConfigsBlocking(
        _ rk: OpaquePointer, _ name: String,
        timeout: Duration
    ) -> Result<[String: TopicConfigEntry], KafkaError> {
        guard let resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name) else {
            return .failure(KafkaError(code: .invalidArgument, message: "config resource \(name)"))
        }
        defer { rd_kafka_ConfigResource_destroy(resource) }
        var resources: [OpaquePointer?] = [resource]
        let outcome = withAdminRequest(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout: timeout) { options, queue in
            rd_kafka_DescribeConfigs(rk, &resources, 1, options, queue)
        } result: { event -> Result<[String: TopicConfigEntry], KafkaError> in
            var count = 0
            guard let result = rd_kafka_event_DescribeConfigs_result(event),
                let described = rd_kafka_DescribeConfigs_result_resources(result, &count), count > 0,
                let first = described[0]
            else {
                return .failure(KafkaError(code: .unknown, message: "DescribeConfigs returned no resource"))
            }
            let err = rd_kafka_ConfigResource_error(first)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return .failure(
                    KafkaError(err, message: rd_kafka_ConfigResource_error_string(first).map { String(cString: $0) }))
            }
            var entries: [String: TopicConfigEntry] = [:]
            var entryCount = 0
            if let configs = rd_kafka_ConfigResource_configs(first, &entryCount) {
                for index in 0..<entryCount {
                    guard let entry = configs[index] else { continue }
                    entries[String(cString: rd_kafka_ConfigEntry_name(entry))] = TopicConfigEntry(
                        value: rd_kafka_ConfigEntry_value(entry).map { String(cString: $0) },
                        isDefault: rd_kafka_ConfigEntry_is_default(entry) != 0)
                }
            }
            return .success(entries)
        }
        return outcome.flatMap { $0 }
    }

    /// Runs one admin request on a private queue and waits for its result event.
    private static func withAdminRequest<T>(
        _ rk: OpaquePointer, _ op: rd_kafka_admin_op_t, timeout: Duration,
        send: (OpaquePointer?, OpaquePointer?) -> Void,
        result: (OpaquePointer) -> T
    ) -> Result<T, KafkaError> {
        guard let queue = rd_kafka_queue_new(rk) else { return .failure(KafkaError(code: .state, message: "no queue")) }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, op)
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errstr = [CChar](repeating: 0, count: 512)
        let ms = Int32(clamping: timeout.wholeMilliseconds)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count)
        if op == RD_KAFKA_ADMIN_OP_CREATETOPICS {
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, ms, &errstr, errstr.count)
        }
        send(options, queue)
        // The request timeout bounds the answer; allow a little more for the event to arrive.
        guard let event = rd_kafka_queue_poll(queue, ms + 1000) else {
            return .failure(.timedOut("admin request"))
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError(err, message: rd_kafka_event_error_string(event).map { String(cString: $0) }))
        }
        return .success(result(event))
    }
}

/// Carries a librdkafka handle into a blocking closure. The handles are thread-safe
/// (librdkafka's threading model) and outlive the call (its owner awaits it).
struct SendablePointer: @unchecked Sendable {
    let value: OpaquePointer
    init(_ value: OpaquePointer) { self.value = value }
}

/// Topic metadata through any client handle (the admin's, or a producer's, which carries the
/// application's security settings).
enum ClusterMetadata {
    /// Partitions and replicas of `names` (all topics when nil); unknown topics are absent.
    /// Asks for all topics, so the request never auto-creates one.
    static func describeTopics(
        _ handle: RdKafkaHandle, _ names: [String]?, timeout: Duration
    ) async throws(KafkaError) -> [TopicDescription] {
        let rk = SendablePointer(handle.rk)
        let result = await runBlocking { metadataBlocking(rk.value, timeout: timeout) }
        let all = try result.get()
        guard let names else { return all }
        let wanted = Set(names)
        return all.filter { wanted.contains($0.name) }
    }

    private static func metadataBlocking(
        _ rk: OpaquePointer, timeout: Duration
    ) -> Result<[TopicDescription], KafkaError> {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(rk, 1, nil, &metadata, Int32(clamping: timeout.wholeMilliseconds))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(KafkaError(err, message: "metadata request: \(String(cString: rd_kafka_err2str(err)))"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        var topics: [TopicDescription] = []
        for t in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[t]
            guard topic.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            var partitions: [TopicDescription.Partition] = []
            for p in 0..<Int(topic.partition_cnt) {
                let partition = topic.partitions[p]
                partitions.append(
                    .init(
                        id: partition.id, leader: partition.leader,
                        replicas: Array(
                            UnsafeBufferPointer(start: partition.replicas, count: Int(partition.replica_cnt))),
                        inSyncReplicas: Array(UnsafeBufferPointer(start: partition.isrs, count: Int(partition.isr_cnt)))
                    ))
            }
            topics.append(
                TopicDescription(
                    name: String(cString: topic.topic),
                    partitions: partitions.sorted { $0.id < $1.id }))
        }
        return .success(topics.sorted { $0.name < $1.name })
    }
}
