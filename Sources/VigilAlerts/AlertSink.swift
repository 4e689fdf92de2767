import Foundation

/// What a sink says about one alert of a batch it was given.
public enum SendOutcome: Sendable, Equatable {
    /// Accepted by the receiver (for Splunk with acknowledgement: indexed).
    case delivered
    /// Not accepted for now (429, 5xx, a network error, a timeout): try again, not before
    /// `after` when the receiver said so (`Retry-After`).
    case retry(reason: String, after: Duration?)
    /// Refused for good (another 4xx, an alert the receiver cannot take): not retried.
    case rejected(reason: String)
}

/// A destination for alerts: Slack, Splunk HEC, Elasticsearch, a signed webhook, a Kafka topic.
///
/// A sink only encodes and sends; queueing, batching, retries with backoff, the give-up
/// deadline and metrics are ``SinkRunner``'s, the same for every sink.
public protocol AlertSink: Sendable {
    /// Names the sink in metrics, logs and dead-letter headers (`slack`, `webhook:soc`, …).
    var name: String { get }
    /// Which alerts it takes.
    var filter: AlertFilter { get }
    /// How many alerts one `send` may carry (1 for sinks that send one request per alert).
    var maxBatch: Int { get }
    /// Sends `alerts` (at most ``maxBatch``); one outcome per alert, in order.
    func send(_ alerts: [Alert]) async -> [SendOutcome]
}

/// How a runner retries and when it gives up; the same rules for every sink.
public struct DeliveryPolicy: Sendable, Equatable {
    /// The first retry's delay; each next one doubles, up to ``maxDelay``.
    public var initialDelay: Duration = .milliseconds(500)
    public var maxDelay: Duration = .seconds(60)
    /// A retry waits a random fraction of its delay on top (0…jitter), so many alerts retried
    /// together do not hit a recovering receiver at once.
    public var jitter: Double = 0.5
    /// An alert not delivered this long after its first attempt is given up (and dead-lettered).
    public var giveUpAfter: Duration = .seconds(600)
    /// Alerts waiting in the sink's queue; beyond it, the caller waits (backpressure).
    public var queueCapacity = 10_000
    /// How long a batch waits to fill before it is sent.
    public var linger: Duration = .milliseconds(200)

    public init() {}

    /// The delay before retry number `attempt` (1 for the first retry), jittered, at least
    /// what the receiver asked for.
    public func delay(attempt: Int, requested: Duration?, random: Double) -> Duration {
        var base = initialDelay
        for _ in 1..<max(1, attempt) where base < maxDelay { base = base * 2 }
        base = min(base, maxDelay)
        let jittered = base + base * (jitter * max(0, min(1, random)))
        guard let requested else { return jittered }
        return max(jittered, requested)
    }
}

/// A sink configuration that cannot work, with the reason.
public struct SinkConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// Refuses a URL that is not http(s) (a typo would otherwise fail at the first alert).
    static func requireHTTP(_ url: String, sink: String) throws(SinkConfigurationError) {
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw SinkConfigurationError("\(sink) url must be http(s)://…, got \"\(url)\"")
        }
    }
}
