import CRdKafka
import Logging
import Synchronization

/// What a client reports besides its results: librdkafka's log lines, errors and statistics.
public struct KafkaClientObserver: Sendable {
    /// librdkafka's log lines and errors go here (facility in metadata `rdkafka.facility`).
    public var logger: Logger
    /// Called for every error librdkafka reports (transport failures, all brokers down, fatal
    /// errors). Most are transient: librdkafka keeps retrying. Called on a librdkafka thread.
    public var onError: (@Sendable (KafkaError) -> Void)?
    /// Called with librdkafka's statistics JSON every `statistics.interval.ms`.
    public var onStatistics: (@Sendable ([UInt8]) -> Void)?

    public init(
        logger: Logger,
        onError: (@Sendable (KafkaError) -> Void)? = nil,
        onStatistics: (@Sendable ([UInt8]) -> Void)? = nil
    ) {
        self.logger = logger
        self.onError = onError
        self.onStatistics = onStatistics
    }
}

/// Receives librdkafka's rebalance callback (implemented by the consumer).
protocol RebalanceHandling: AnyObject, Sendable {
    func handleRebalance(
        _ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>)
}

/// State librdkafka's C callbacks reach through the configuration opaque (`rd_kafka_opaque`).
/// Retained for as long as the `rd_kafka_t` lives.
package final class ClientContext: Sendable {
    let observer: KafkaClientObserver
    let rebalance: (any RebalanceHandling)?
    /// The first fatal error; once set the client refuses further work.
    let fatalError = Mutex<KafkaError?>(nil)

    package convenience init(observer: KafkaClientObserver) { self.init(observer: observer, rebalance: nil) }

    init(observer: KafkaClientObserver, rebalance: (any RebalanceHandling)?) {
        self.observer = observer
        self.rebalance = rebalance
    }

    static func from(_ rk: OpaquePointer?) -> ClientContext? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }

    func checkNotFatal() throws(KafkaError) {
        if let error = fatalError.withLock({ $0 }) { throw error }
    }
}

/// Owns one `rd_kafka_t` and the context its callbacks use. `package` so the test-support
/// module can give librdkafka's mock cluster a handle.
package final class RdKafkaHandle: Sendable {
    // OpaquePointer is not Sendable, but an rd_kafka_t is safe to use from any thread
    // (librdkafka's documented threading model); the pointer itself never changes.
    nonisolated(unsafe) package let rk: OpaquePointer
    let context: ClientContext
    private let destroyed = Atomic<Bool>(false)

    /// Creates the client. `configure` installs type-specific callbacks on the conf before
    /// librdkafka takes ownership of it.
    package init(
        type: rd_kafka_type_t, entries: [(String, String)], context: ClientContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) {
        let conf = try RdKafkaConf.make(entries)
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        if context.observer.onStatistics != nil {
            rd_kafka_conf_set_stats_cb(conf, statisticsCallback)
        }
        configure(conf)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // On failure the conf is still ours.
            rd_kafka_conf_destroy(conf)
            retained.release()
            throw KafkaError(code: .invalidConfiguration, message: String(cStringBuffer: errstr))
        }
        self.rk = rk
        self.context = context
    }

    /// Destroys the client (once). `flags` are `RD_KAFKA_DESTROY_F_*`.
    package func destroy(flags: Int32 = 0) {
        guard !destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        rd_kafka_destroy_flags(rk, flags)
        Unmanaged.passUnretained(context).release()
    }

    var isDestroyed: Bool { destroyed.load(ordering: .acquiring) }

    deinit { destroy() }
}

// MARK: - C callbacks. They run on librdkafka threads and must not throw or block for long.

private let logCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void =
    {
        rk, level, facility, message in
        guard let context = ClientContext.from(rk), let message else { return }
        let fac = facility.map { String(cString: $0) } ?? ""
        // syslog levels: 0 emerg … 7 debug.
        let swiftLevel: Logger.Level =
            switch level {
            case ...2: .critical
            case 3: .error
            case 4: .warning
            case 5: .notice
            case 6: .info
            default: .debug
            }
        context.observer.logger.log(
            level: swiftLevel, "\(String(cString: message))",
            metadata: ["rdkafka.facility": "\(fac)"])
    }

private let errorCallback:
    @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
        rk, err, reason, _ in
        guard let rk, let context = ClientContext.from(rk) else { return }
        var error = KafkaError(rd_kafka_resp_err_t(rawValue: err), message: reason.map { String(cString: $0) })
        if error.code == .fatal {
            // The real cause of a fatal error is only available through rd_kafka_fatal_error.
            var buffer = [CChar](repeating: 0, count: 512)
            let cause = rd_kafka_fatal_error(rk, &buffer, buffer.count)
            error = KafkaError(code: KafkaError.Code(cause), message: String(cStringBuffer: buffer), isFatal: true)
            context.fatalError.withLock { if $0 == nil { $0 = error } }
            context.observer.logger.critical("librdkafka fatal error: \(error)")
        } else if error.code == .allBrokersDown || error.code == .transport {
            context.observer.logger.warning("kafka: \(error)")
        } else {
            context.observer.logger.error("kafka: \(error)")
        }
        context.observer.onError?(error)
    }

private let statisticsCallback:
    @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
        rk, json, length, _ in
        guard let context = ClientContext.from(rk), let json, let handler = context.observer.onStatistics else {
            return 0
        }
        let bytes = Array(UnsafeRawBufferPointer(start: json, count: length))
        handler(bytes)
        return 0  // librdkafka frees the JSON.
    }
