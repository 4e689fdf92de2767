import CRdKafka
import Logging
import VigilKafka

/// librdkafka's in-process mock Kafka cluster (`rdkafka_mock.h`): real brokers on loopback
/// sockets inside this process, with fault injection. For tests of failure handling that a real
/// broker cannot stage on demand (a broker going down, injected request errors).
public final class MockCluster: Sendable {
    private let handle: RdKafkaHandle
    // The mock cluster is thread-safe (its operations are enqueued to its own thread); it is
    // destroyed once, in deinit, before its owning handle.
    nonisolated(unsafe) private let cluster: OpaquePointer

    /// `bootstrap.servers` for clients of this cluster.
    public let bootstrapServers: String

    /// Starts `brokers` mock brokers.
    public init(brokers: Int = 3, logger: Logger = Logger(label: "vigil.kafka.mock")) throws(KafkaError) {
        handle = try RdKafkaHandle(
            type: RD_KAFKA_PRODUCER, entries: [("client.id", "vigil-mock-cluster")],
            context: ClientContext(observer: KafkaClientObserver(logger: logger)))
        guard let cluster = rd_kafka_mock_cluster_new(handle.rk, Int32(brokers)) else {
            throw KafkaError(code: .unknown, message: "rd_kafka_mock_cluster_new failed")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        handle.destroy()
    }

    /// Creates a topic (the mock also auto-creates topics on first use).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(replicationFactor))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Takes a broker down: its connections close and new ones are refused.
    public func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_down(cluster, brokerID)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Brings a broker back.
    public func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_up(cluster, brokerID)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Makes the next requests of `apiKey` (see ``MockCluster/APIKey``) fail with `errors`, one
    /// error per request, in order.
    public func pushRequestErrors(_ apiKey: APIKey, _ errors: [KafkaError.Code]) {
        var raw = errors.map(\.rd)
        rd_kafka_mock_push_request_errors_array(cluster, apiKey.rawValue, raw.count, &raw)
    }

    /// Adds round-trip latency to a broker.
    public func setBrokerRTT(_ brokerID: Int32, _ rtt: Duration) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_rtt(cluster, brokerID, Int32(clamping: rtt.wholeMilliseconds))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Moves a partition's leadership to `brokerID`.
    public func setPartitionLeader(_ topic: String, _ partition: Int32, brokerID: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_partition_set_leader(cluster, topic, partition, brokerID)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Makes `brokerID` the group coordinator of `group`.
    public func setGroupCoordinator(_ group: String, brokerID: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_coordinator_set(cluster, "group", group, brokerID)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Kafka protocol request types that errors can be injected into.
    public struct APIKey: Sendable {
        public let rawValue: Int16
        public static let produce = APIKey(rawValue: Int16(VIGIL_APIKEY_PRODUCE))
        public static let fetch = APIKey(rawValue: Int16(VIGIL_APIKEY_FETCH))
        public static let metadata = APIKey(rawValue: Int16(VIGIL_APIKEY_METADATA))
        public static let offsetCommit = APIKey(rawValue: Int16(VIGIL_APIKEY_OFFSET_COMMIT))
        public static let joinGroup = APIKey(rawValue: Int16(VIGIL_APIKEY_JOIN_GROUP))
    }
}

extension KafkaProducer {
    /// Raises a fabricated fatal error (`rd_kafka_test_fatal_error`), for tests of fatal-error
    /// handling.
    public func triggerFatalErrorForTesting(_ reason: String) {
        _ = rd_kafka_test_fatal_error(handle.rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason)
    }
}
