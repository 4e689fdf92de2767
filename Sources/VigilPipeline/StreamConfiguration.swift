import VigilKafka

/// What the stream pipeline needs: where to read and write, how to batch, the bounds on
/// unfinished work, and the intervals of commits and snapshots. Defaults are the documented
/// ones (README, "Configuration"); the settings module fills this from file, environment and
/// flags.
public struct StreamConfiguration: Sendable, Equatable {
    /// Kafka bootstrap servers, `host:port[,host:port]`.
    public var brokers = "127.0.0.1:9092"
    public var groupID = "vigil-stream"
    /// Static membership: a restart within the session timeout keeps the assignment.
    public var groupInstanceID: String? = nil
    public var inputTopic = "raw-logs"
    public var outputTopic = "security-anomalies"
    public var deadLetterTopic = "raw-logs.dlq"
    public var assignmentStrategy = AssignmentStrategy.cooperativeSticky
    /// One stage, or two joined by repartition topics (``StreamTopology``).
    public var topology = StreamTopology.repartitioned
    /// Which stages of the topology this process runs (repartitioned only).
    public var stages = StreamStages.all
    /// The repartition topics: every event keyed by its source, and the events naming an
    /// account keyed by the account.
    public var bySourceTopic = "vigil.events.by-source"
    public var byUserTopic = "vigil.events.by-user"
    /// Where per-partition detector snapshots are kept (crash recovery); nil disables them.
    public var stateDirectory: String? = "vigil-state"
    /// The compacted topic per-partition snapshots are also written to, so a partition's state
    /// follows it to another machine (``StateChangelog``); nil keeps snapshots local only.
    public var stateTopic: String? = "vigil.state"
    /// How long an assignment may spend reading the state topic before it starts with the
    /// best snapshot found so far (or the local one). The consumer does not poll meanwhile, so
    /// this stays well under `max.poll.interval.ms` (300 s).
    public var restoreTimeoutMs = 120_000
    /// Most records handed over per consumer batch, and how long to wait to fill one (0: hand
    /// over what is queued as soon as there is a record).
    public var batchSize = 2_000
    public var batchLingerMs = 0
    /// Caps on records (and their bytes) read but not yet finished (processed and, with their
    /// anomalies, acknowledged by the broker). Reading stops at the cap.
    public var maxInFlightEvents = 50_000
    public var maxInFlightBytes = 64 << 20
    public var commitIntervalMs = 5_000
    public var snapshotIntervalMs = 60_000
    /// Events dated more than this past the current time are dead-lettered, never analysed (a
    /// far-future event would make every later event late). A day covers syslog written in
    /// any local time zone and read as UTC.
    public var maxFutureSkewMs = 86_400_000
    /// A delivery the broker refuses for good: keep retrying with `/readyz` failing, or stop.
    public var onPermanentError = PermanentErrorPolicy.retry
    /// Graceful shutdown budget; past it the process exits non-zero and says what was left.
    public var shutdownTimeoutMs = 30_000
    /// librdkafka properties passed through unchanged.
    public var consumerProperties: [String: String] = [:]
    public var producerProperties: [String: String] = [:]

    public init() {}

    /// The stages this process runs, in data-flow order.
    public var runStages: [StreamStage] {
        switch (topology, stages) {
        case (.single, _): [.single]
        case (.repartitioned, .all): [.route, .detect]
        case (.repartitioned, .route): [.route]
        case (.repartitioned, .detect): [.detect]
        }
    }

    /// These settings as one stage uses them: the detect stage is a consumer group of its own
    /// (`<group_id>.detect`, static member `<group_instance_id>-detect`), reading the
    /// repartition topics; the route stage keeps the group id, so switching topology resumes
    /// the input where the single stage left it.
    public func forStage(_ stage: StreamStage) -> StreamConfiguration {
        var copy = self
        if stage == .detect {
            copy.groupID += ".detect"
            copy.groupInstanceID = groupInstanceID.map { $0 + "-detect" }
        }
        return copy
    }

    /// The consumer configuration these settings describe.
    public var consumerConfiguration: ConsumerConfiguration {
        var config = ConsumerConfiguration(bootstrapServers: brokers, groupID: groupID)
        config.clientID = "vigil-stream"
        config.groupInstanceID = groupInstanceID
        config.assignmentStrategy = assignmentStrategy
        config.maxBatchSize = batchSize
        config.batchLinger = .milliseconds(batchLingerMs)
        config.statisticsInterval = .seconds(5)
        config.properties = consumerProperties
        return config
    }

    /// The producer configuration these settings describe.
    public var producerConfiguration: ProducerConfiguration {
        var config = ProducerConfiguration(bootstrapServers: brokers)
        config.clientID = "vigil-stream"
        config.properties = producerProperties
        return config
    }
}
