import Foundation
import Logging
import Synchronization
import VigilKafka

/// Helpers for tests against the local broker that `make test` starts.
public enum TestBroker {
    /// The broker `scripts/broker up` runs. Tests fail (never skip) when it is missing.
    public static let address = ProcessInfo.processInfo.environment["VIGIL_TEST_BROKERS"] ?? "127.0.0.1:9092"

    /// Quiet unless `VIGIL_TEST_LOG` names a level.
    public static let logger: Logger = {
        var logger = Logger(label: "vigil.test")
        logger.logLevel =
            ProcessInfo.processInfo.environment["VIGIL_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    public static var observer: KafkaClientObserver { KafkaClientObserver(logger: logger) }

    /// A name no other test (or earlier run against the same broker) uses.
    public static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// An admin client of the test broker.
    public static func admin(bootstrap: String = address) throws -> KafkaAdmin {
        try KafkaAdmin(configuration: AdminConfiguration(bootstrapServers: bootstrap), observer: observer)
    }

    /// Creates a topic and fails the test if that does not work.
    public static func createTopic(_ name: String, partitions: Int, bootstrap: String = address) async throws {
        let admin = try admin(bootstrap: bootstrap)
        let results = try await admin.createTopics(
            [TopicSpecification(name: name, partitions: partitions, replicationFactor: 1)], timeout: .seconds(10))
        guard let result = results[name] else { throw TestSupportError("no result for \(name)") }
        try result.get()
    }

    /// A producer with a short linger, adjusted by `configure`.
    public static func producer(
        _ bootstrap: String = address, configure: (inout ProducerConfiguration) -> Void = { _ in }
    ) throws -> KafkaProducer {
        var config = ProducerConfiguration(bootstrapServers: bootstrap)
        config.linger = .milliseconds(5)
        configure(&config)
        return try KafkaProducer(configuration: config, observer: observer)
    }

    /// A group consumer reading from the earliest offset, with a session timeout Tansu joins quickly.
    public static func consumerConfig(_ group: String, bootstrap: String = address) -> ConsumerConfiguration {
        var config = ConsumerConfiguration(bootstrapServers: bootstrap, groupID: group)
        // Tansu completes a group join after about session.timeout.ms / 2.
        config.sessionTimeout = .seconds(6)
        config.autoOffsetReset = .earliest
        return config
    }
}

/// The next batch, or nil when none arrives within `timeout`.
public func nextBatch(_ consumer: KafkaConsumer, timeout: Duration) async -> ConsumerBatch? {
    await consumer.nextBatch(timeout: timeout)
}

/// Collects records from a consumer until `count` arrived or `timeout` passed, storing their
/// offsets when `store` is set.
public func collect(
    _ consumer: KafkaConsumer, count: Int, timeout: Duration,
    store: Bool = false
) async -> [ConsumerRecord] {
    let deadline = ContinuousClock.now + timeout
    var records: [ConsumerRecord] = []
    while records.count < count && ContinuousClock.now < deadline {
        guard let batch = await nextBatch(consumer, timeout: deadline - .now) else { break }
        records.append(contentsOf: batch)
        if store { consumer.store(nextOffsets(batch)) }
    }
    return records
}

/// The offsets to store after processing every record of `records` (highest + 1 per partition).
public func nextOffsets(_ records: some Sequence<ConsumerRecord>) -> [TopicPartitionOffset] {
    var highest: [TopicPartition: Int64] = [:]
    for record in records { highest[record.topicPartition] = max(highest[record.topicPartition] ?? -1, record.offset) }
    return highest.map { TopicPartitionOffset($0.key, offset: $0.value + 1) }
}

/// A mutex-protected value that closures and tasks can share (Mutex itself cannot be copied
/// into escaping closures).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    public init(_ value: Value) { mutex = Mutex(value) }
    public func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    public var value: Value { mutex.withLock { $0 } }
    public func set(_ value: Value) { mutex.withLock { $0 = value } }
}

/// A test-support step that could not be done.
public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
