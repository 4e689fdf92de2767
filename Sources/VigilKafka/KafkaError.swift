import CRdKafka

/// An error from the Kafka layer: a librdkafka error code with its message, or a condition the
/// Swift layer detects itself (invalid configuration, timeouts, closed clients).
///
/// Codes are librdkafka's `rd_kafka_resp_err_t` values: negative codes are client-side
/// conditions (`_MSG_TIMED_OUT`, `_TRANSPORT`), positive codes come from the broker.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The librdkafka error code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        package var rd: rd_kafka_resp_err_t { rd_kafka_resp_err_t(rawValue: rawValue) }

        /// librdkafka's symbolic name, for example `_MSG_TIMED_OUT` or `NOT_LEADER_OR_FOLLOWER`.
        public var name: String { String(cString: rd_kafka_err2name(rd)) }
        public var description: String { name }

        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        public static let unknown = Code(RD_KAFKA_RESP_ERR_UNKNOWN)
        public static let badMessage = Code(RD_KAFKA_RESP_ERR__BAD_MSG)
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let partitionEOF = Code(RD_KAFKA_RESP_ERR__PARTITION_EOF)
        public static let unknownPartition = Code(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let noOffset = Code(RD_KAFKA_RESP_ERR__NO_OFFSET)
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        public static let invalidConfiguration = Code(RD_KAFKA_RESP_ERR__INVALID_TYPE)
        public static let destroyed = Code(RD_KAFKA_RESP_ERR__DESTROY)
        /// A message purged from the producer's queue (by a close that ran out of time).
        public static let purgedQueued = Code(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        /// A message purged while in flight to the broker (by a close that ran out of time).
        public static let purgedInFlight = Code(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        public static let assignmentLost = Code(RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let messageTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        public static let notLeaderForPartition = Code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
        public static let requestTimedOut = Code(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
        public static let notEnoughReplicas = Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        public static let invalidPartitions = Code(RD_KAFKA_RESP_ERR_INVALID_PARTITIONS)
        public static let invalidReplicationFactor = Code(RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR)
        public static let topicAuthorizationFailed = Code(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        public static let rebalanceInProgress = Code(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
        public static let illegalGeneration = Code(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
        public static let unknownMemberID = Code(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
    }

    /// Delivery failures that retrying cannot fix: the broker refuses this client or this
    /// message (authorization, a missing topic, a record too large, an invalid record or
    /// topic, a policy). Retrying them forever stalls the partition silently; they are for an
    /// operator to fix. Retriable conditions (leader changes, timeouts, brokers down) are not.
    public static let permanentDeliveryCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,
        RD_KAFKA_RESP_ERR_POLICY_VIOLATION, RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT,
        RD_KAFKA_RESP_ERR__INVALID_ARG,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// Whether this delivery failure is one of ``permanentDeliveryCodes``.
    public var isPermanentDeliveryError: Bool { Self.permanentDeliveryCodes.contains(code.rawValue) }

    /// The librdkafka code (or the closest one for conditions detected in Swift).
    public var code: Code
    /// A human-readable explanation: librdkafka's own message where it gave one.
    public var message: String
    /// True when librdkafka says the client instance can no longer be used.
    public var isFatal: Bool
    /// True when retrying the same operation may succeed.
    public var isRetriable: Bool

    /// The client is closed or closing (`_DESTROY`, or a message purged by a close that ran out
    /// of time): retrying through it cannot succeed.
    public var isClientClosing: Bool { code == .destroyed || code == .purgedQueued || code == .purgedInFlight }

    public init(code: Code, message: String, isFatal: Bool = false, isRetriable: Bool = false) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    package init(_ err: rd_kafka_resp_err_t, message: String? = nil) {
        let code = Code(err)
        self.init(code: code, message: message ?? String(cString: rd_kafka_err2str(err)))
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer) {
        self.init(
            code: Code(rd_kafka_error_code(error)),
            message: String(cString: rd_kafka_error_string(error)),
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0)
        rd_kafka_error_destroy(error)
    }

    /// An invalid configuration property or value, with librdkafka's explanation.
    public static func invalidConfiguration(property: String, message: String) -> KafkaError {
        KafkaError(code: .invalidConfiguration, message: "invalid configuration property \"\(property)\": \(message)")
    }

    /// The client was closed before (or while) the operation ran.
    public static func closed(_ what: String) -> KafkaError {
        KafkaError(code: .destroyed, message: "\(what): client is closed")
    }

    public static func timedOut(_ what: String) -> KafkaError {
        KafkaError(code: .timedOut, message: "\(what): timed out")
    }

    public var description: String {
        "\(code.name) (\(code.rawValue)): \(message)\(isFatal ? " [fatal]" : "")"
    }
}

/// The librdkafka linked into this process.
public enum LibRdKafka {
    /// `rd_kafka_version_str()` of the library actually loaded at run time.
    public static var version: String { String(cString: rd_kafka_version_str()) }
    /// `rd_kafka_version()` as a hex-encoded integer (`0xMMmmrrxx`).
    public static var versionNumber: Int32 { rd_kafka_version() }
    /// Features compiled into librdkafka (`builtin.features`), for example `zstd,lz4,ssl,sasl`.
    public static var builtinFeatures: [String] {
        guard let conf = rd_kafka_conf_new() else { return [] }
        defer { rd_kafka_conf_destroy(conf) }
        var size = 0
        rd_kafka_conf_get(conf, "builtin.features", nil, &size)
        guard size > 0 else { return [] }
        var buffer = [CChar](repeating: 0, count: size)
        guard rd_kafka_conf_get(conf, "builtin.features", &buffer, &size) == RD_KAFKA_CONF_OK else { return [] }
        return String(cStringBuffer: buffer).split(separator: ",").map(String.init)
    }
}
