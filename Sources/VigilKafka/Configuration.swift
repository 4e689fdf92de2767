import CRdKafka

/// Settings every Kafka client has. Typed fields cover what Vigil relies on; `properties`
/// passes any other librdkafka property through unchanged and wins over the typed fields.
public protocol KafkaClientSettings: Sendable {
    /// `bootstrap.servers`: comma-separated `host:port` list.
    var bootstrapServers: String { get }
    /// `client.id`, shown in broker logs and metrics.
    var clientID: String { get }
    /// `statistics.interval.ms`; nil disables statistics.
    var statisticsInterval: Duration? { get }
    /// Any librdkafka property (see librdkafka's CONFIGURATION.md), applied last.
    var properties: [String: String] { get }
}

extension KafkaClientSettings {
    var commonEntries: [(String, String)] {
        var entries: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
        ]
        if let interval = statisticsInterval {
            entries.append(("statistics.interval.ms", String(interval.wholeMilliseconds)))
        }
        return entries
    }
}

/// Compression codec for produced batches (`compression.type`).
public enum KafkaCompression: String, Sendable, CaseIterable {
    case none, gzip, snappy, lz4, zstd
}

/// Configuration of a ``KafkaProducer``.
public struct ProducerConfiguration: KafkaClientSettings {
    public var bootstrapServers: String
    public var clientID: String = "vigil-producer"
    public var statisticsInterval: Duration? = nil
    public var properties: [String: String] = [:]

    /// `enable.idempotence`: no duplicates or reordering from internal retries; implies `acks=all`.
    public var idempotence: Bool = true
    /// `linger.ms`: how long librdkafka waits to fill a batch. 20 ms trades a little latency
    /// for several times the throughput of the 5 ms default.
    public var linger: Duration = .milliseconds(20)
    /// `compression.type`.
    public var compression: KafkaCompression = .lz4
    /// `message.timeout.ms`: a message not acknowledged within this time fails with
    /// `_MSG_TIMED_OUT` instead of waiting forever on a dead broker.
    public var messageTimeout: Duration = .seconds(30)
    /// `queue.buffering.max.messages`: the local queue bound; beyond it `send` waits.
    public var maxQueuedMessages: Int = 100_000

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    var entries: [(String, String)] {
        commonEntries + [
            ("enable.idempotence", String(idempotence)),
            ("linger.ms", String(linger.wholeMilliseconds)),
            ("compression.type", compression.rawValue),
            ("message.timeout.ms", String(messageTimeout.wholeMilliseconds)),
            ("queue.buffering.max.messages", String(maxQueuedMessages)),
        ] + properties.sorted { $0.key < $1.key }
    }
}

/// How the group divides partitions among its members.
public enum AssignmentStrategy: String, Sendable, CaseIterable {
    /// Eager: every rebalance revokes the whole assignment first.
    case range
    /// Eager, round-robin.
    case roundRobin = "roundrobin"
    /// Incremental: only partitions that move are revoked.
    case cooperativeSticky = "cooperative-sticky"
}

/// Where a consumer starts when its group has no committed offset (`auto.offset.reset`).
public enum OffsetReset: String, Sendable {
    case earliest, latest
    /// Fail instead of guessing.
    case error
}

/// Configuration of a ``KafkaConsumer``.
public struct ConsumerConfiguration: KafkaClientSettings {
    public var bootstrapServers: String
    public var clientID: String = "vigil-consumer"
    public var statisticsInterval: Duration? = nil
    public var properties: [String: String] = [:]

    /// `group.id`.
    public var groupID: String
    /// `group.instance.id`: static membership, so a restart within the session timeout
    /// keeps the assignment instead of rebalancing the group.
    public var groupInstanceID: String? = nil
    /// `auto.offset.reset`.
    public var autoOffsetReset: OffsetReset = .earliest
    /// `session.timeout.ms`.
    public var sessionTimeout: Duration = .seconds(45)
    /// `max.poll.interval.ms`.
    public var maxPollInterval: Duration = .seconds(300)
    /// `partition.assignment.strategy`.
    public var assignmentStrategy: AssignmentStrategy = .cooperativeSticky
    /// `fetch.queue.backoff.ms`: librdkafka's 1000 ms default makes a busy consumer idle for a
    /// second each time its prefetch queue fills; 10 ms keeps fetches flowing.
    public var fetchQueueBackoff: Duration = .milliseconds(10)
    /// `fetch.wait.max.ms`: how long the broker may hold a fetch. librdkafka's 500 ms default is
    /// what an event waited, not the work: a broker that holds fetches for the full time when a
    /// partition is quiet (Tansu does) delays the next records by up to that much. Measured on
    /// live sshd lines at 100,000/s, event → anomaly p50 / p99: 180 / 401 ms with 500 ms, 33 /
    /// 92 ms with 10 ms, at the same maximum rate. An idle consumer then asks a broker 100 times
    /// a second instead of twice.
    public var fetchWaitMax: Duration = .milliseconds(10)
    /// Most records in one batch handed to the application.
    public var maxBatchSize: Int = 2_000
    /// How long the poll thread waits to fill a batch before handing over what it has. Zero
    /// (the default) hands over what is queued as soon as there is a record; batches still grow
    /// to `maxBatchSize` when records arrive faster than the application takes them. A linger
    /// adds up to its length to every record's latency.
    public var batchLinger: Duration = .zero
    /// Most batches waiting for the application; when full, records wait in librdkafka's
    /// bounded prefetch queue (and fetching stops by itself).
    public var maxBufferedBatches: Int = 8
    /// How long a revoke waits for the application to finish its in-flight work.
    public var revokeTimeout: Duration = .seconds(30)

    public init(bootstrapServers: String, groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
    }

    /// Properties Vigil manages itself, with why: passed through, they would let records be
    /// committed before their work is finished (at-least-once switched off silently).
    public static let managedProperties: [String: String] = [
        "enable.auto.offset.store":
            "Vigil stores an offset only once its record's anomalies are acknowledged (at-least-once)",
        "enable.auto.commit": "Vigil commits the offsets it stored itself (commit_interval_ms and on revoke)",
        "auto.commit.enable": "Vigil commits the offsets it stored itself (commit_interval_ms and on revoke)",
        "enable.partition.eof": "the consumer's batching relies on it being off",
    ]

    /// Throws if ``properties`` sets one of ``managedProperties``.
    public func validate() throws(KafkaError) {
        for name in properties.keys.sorted() {
            if let reason = Self.managedProperties[name] {
                throw .invalidConfiguration(property: name, message: "not configurable: \(reason)")
            }
        }
    }

    var entries: [(String, String)] {
        var entries =
            commonEntries + [
                ("group.id", groupID),
                ("auto.offset.reset", autoOffsetReset.rawValue),
                ("session.timeout.ms", String(sessionTimeout.wholeMilliseconds)),
                ("max.poll.interval.ms", String(maxPollInterval.wholeMilliseconds)),
                ("partition.assignment.strategy", assignmentStrategy.rawValue),
                ("fetch.queue.backoff.ms", String(fetchQueueBackoff.wholeMilliseconds)),
                ("fetch.wait.max.ms", String(fetchWaitMax.wholeMilliseconds)),
                // At-least-once: only offsets the application marks done are stored and committed.
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
            ]
        if let instance = groupInstanceID { entries.append(("group.instance.id", instance)) }
        return entries + properties.sorted { $0.key < $1.key }
    }
}

/// Configuration of a ``KafkaAdmin`` client.
public struct AdminConfiguration: KafkaClientSettings {
    public var bootstrapServers: String
    public var clientID: String = "vigil-admin"
    public var statisticsInterval: Duration? = nil
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    var entries: [(String, String)] { commonEntries + properties.sorted { $0.key < $1.key } }
}

extension Duration {
    /// Whole milliseconds, rounded down; librdkafka takes integer milliseconds.
    public var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

/// Builds an `rd_kafka_conf_t`, failing on the first property librdkafka rejects.
enum RdKafkaConf {
    static func make(_ entries: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .unknown, message: "rd_kafka_conf_new failed")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (name, value) in entries {
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw .invalidConfiguration(
                    property: name, message: "value \"\(maskedValue(name, value))\": \(String(cStringBuffer: errstr))")
            }
        }
        return conf
    }
}

/// A property value safe to show in errors and logs: secrets are masked.
public func maskedValue(_ property: String, _ value: String) -> String {
    let lowered = property.lowercased()
    let secret = ["password", "secret", "sasl.jaas", "key.pem", "token"].contains { lowered.contains($0) }
    return secret ? "****" : value
}

extension String {
    /// Decodes a NUL-terminated C string held in a Swift array.
    init(cStringBuffer buffer: [CChar]) {
        self = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
