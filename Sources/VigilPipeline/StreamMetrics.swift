import Foundation
import Metrics
import Synchronization
import VigilKafka

/// The stream's metrics, through swift-metrics (the CLI bootstraps Prometheus). Names follow
/// Prometheus conventions: `vigil_` prefix, base units, `_total` counters, no user or address
/// labels; consumer lag as kafka_exporter names it.
final class StreamMetrics: Sendable {
    let consumed: Counter
    let parsed: Counter
    let failed: Counter
    let deadLettered: Counter
    let replayed: Counter
    let late: Counter
    /// Events refused for being dated more than `max_future_skew_ms` past the current time.
    let future: Counter
    /// Records dropped because they were fetched for an earlier assignment of their partition.
    let staleRecords: Counter
    /// Records that stopped the process twice while analysed, dead-lettered unanalysed.
    let poisonRecords: Counter
    let rebalances: Counter
    /// Partitions whose assignment was lost (the group coordinator unreachable past the
    /// session timeout, or this member fenced): revoked without a commit.
    let partitionsLost: Counter
    let commitFailures: Counter
    /// Stored offsets librdkafka left out of a commit without an error, committed explicitly.
    let commitsRepaired: Counter
    let produceRetries: Counter
    /// Delivery failures retrying cannot fix (authorization, missing topic, record too large).
    let permanentErrors: Counter
    let modelReloaded: Counter
    let modelReloadFailed: Counter
    /// Where an assigned partition's state came from: the local cache, the changelog topic,
    /// or nowhere (empty state).
    let restoredLocal: Counter
    let restoredChangelog: Counter
    let restoredNone: Counter
    /// Reading the changelog at an assignment: how long, and how many bytes.
    let restoreDuration: Timer
    let restoreBytes: Counter
    /// Snapshots written to the changelog, their bytes, and writes that failed.
    let changelogSnapshots: Counter
    let changelogBytes: Counter
    let changelogFailures: Counter
    /// Events the route stage sent to the repartition topics, and events the detect stage
    /// skipped as already processed (a replay of the route stage).
    let repartitioned: Counter
    let repartitionDuplicates: Counter
    /// Bytes of the repartition records the route stage sent (for sizing the topics).
    let repartitionBytes: Counter
    /// Events the detect stage holds for event-time order, over all its partitions.
    let reorderHeld: Gauge
    private let reorderByPartition = Mutex<[TopicPartition: Int]>([:])
    /// Idle heartbeats the route stage sent (its partition read to its end).
    let idleHeartbeats: Counter
    let inFlight: Gauge
    let inFlightBytes: Gauge
    let assigned: Gauge
    let batchDuration: Timer
    let endToEnd: Timer
    private let anomalyCounters = Mutex<[String: Counter]>([:])
    private let lagGauges = Mutex<[String: Gauge]>([:])
    /// The consumer's view of each partition from the latest statistics (fetch state, lag),
    /// for the stall watch's report.
    private let fetchStates = Mutex<[String: String]>([:])
    let group: String

    /// The stage's label (`stage="route"|"detect"`) on every metric of a repartitioned
    /// stream, whose two stages may run in one process; none for a single-stage one.
    let stage: [(String, String)]

    init(group: String, stage: String? = nil) {
        self.group = group
        let stage = stage.map { [("stage", $0)] } ?? []
        self.stage = stage
        consumed = Counter(label: "vigil_events_consumed_total", dimensions: stage)
        parsed = Counter(label: "vigil_events_parsed_total", dimensions: stage)
        failed = Counter(label: "vigil_events_failed_total", dimensions: stage)
        deadLettered = Counter(label: "vigil_dlq_records_total", dimensions: stage)
        replayed = Counter(label: "vigil_events_replayed_total", dimensions: stage)
        late = Counter(label: "vigil_events_late_total", dimensions: stage)
        future = Counter(label: "vigil_events_future_total", dimensions: stage)
        staleRecords = Counter(label: "vigil_records_stale_total", dimensions: stage)
        poisonRecords = Counter(label: "vigil_poison_records_total", dimensions: stage)
        rebalances = Counter(label: "vigil_rebalances_total", dimensions: stage)
        partitionsLost = Counter(label: "vigil_partitions_lost_total", dimensions: stage)
        commitFailures = Counter(label: "vigil_commit_failures_total", dimensions: stage)
        commitsRepaired = Counter(label: "vigil_commits_repaired_total", dimensions: stage)
        produceRetries = Counter(label: "vigil_produce_retries_total", dimensions: stage)
        permanentErrors = Counter(label: "vigil_produce_permanent_errors_total", dimensions: stage)
        modelReloaded = Counter(label: "vigil_model_reloads_total", dimensions: stage + [("result", "ok")])
        modelReloadFailed = Counter(label: "vigil_model_reloads_total", dimensions: stage + [("result", "failed")])
        restoredLocal = Counter(label: "vigil_state_restores_total", dimensions: stage + [("source", "local")])
        restoredChangelog = Counter(label: "vigil_state_restores_total", dimensions: stage + [("source", "changelog")])
        restoredNone = Counter(label: "vigil_state_restores_total", dimensions: stage + [("source", "none")])
        restoreDuration = Timer(label: "vigil_state_restore_seconds", dimensions: stage)
        restoreBytes = Counter(label: "vigil_state_restore_bytes_total", dimensions: stage)
        changelogSnapshots = Counter(label: "vigil_changelog_snapshots_total", dimensions: stage)
        changelogBytes = Counter(label: "vigil_changelog_bytes_total", dimensions: stage)
        changelogFailures = Counter(label: "vigil_changelog_failures_total", dimensions: stage)
        repartitioned = Counter(label: "vigil_repartition_events_total", dimensions: stage)
        repartitionBytes = Counter(label: "vigil_repartition_bytes_total", dimensions: stage)
        repartitionDuplicates = Counter(label: "vigil_repartition_duplicates_total", dimensions: stage)
        reorderHeld = Gauge(label: "vigil_repartition_held_events", dimensions: stage)
        idleHeartbeats = Counter(label: "vigil_repartition_idle_heartbeats_total", dimensions: stage)
        inFlight = Gauge(label: "vigil_inflight_events", dimensions: stage)
        inFlightBytes = Gauge(label: "vigil_inflight_bytes", dimensions: stage)
        assigned = Gauge(label: "vigil_assigned_partitions", dimensions: stage)
        batchDuration = Timer(label: "vigil_batch_duration_seconds", dimensions: stage)
        endToEnd = Timer(label: "vigil_event_to_publish_seconds", dimensions: stage)
    }

    /// Records how many events `partition`'s engine holds for event-time order (0 forgets it).
    func reorderQueued(_ partition: TopicPartition, _ count: Int) {
        let total = reorderByPartition.withLock { held -> Int in
            held[partition] = count == 0 ? nil : count
            return held.values.reduce(0, +)
        }
        reorderHeld.record(total)
    }

    func anomaly(detector: String, severity: String) {
        let key = "\(detector)|\(severity)"
        let counter = anomalyCounters.withLock { counters -> Counter in
            if let c = counters[key] { return c }
            let c = Counter(
                label: "vigil_anomalies_total", dimensions: stage + [("detector", detector), ("severity", severity)])
            counters[key] = c
            return c
        }
        counter.increment()
    }

    /// librdkafka's `consumer_lag`, or — where the broker's latest-offset answer is unknown
    /// (Tansu) — the fetch high watermark minus the committed (else consumed) position.
    static func lag(_ stats: [String: Any]) -> Int? {
        if let lag = stats["consumer_lag"] as? Int, lag >= 0 { return lag }
        guard let high = stats["hi_offset"] as? Int, high >= 0 else { return nil }
        if let committed = stats["committed_offset"] as? Int, committed >= 0 { return max(0, high - committed) }
        if let position = stats["app_offset"] as? Int, position >= 0 { return max(0, high - position) }
        return nil
    }

    /// librdkafka's latest word on fetching `topic`/`partition`, if statistics arrived.
    func fetchState(topic: String, partition: Int32) -> String? {
        fetchStates.withLock { $0["\(topic)|\(partition)"] }
    }

    /// Consumer lag per partition from librdkafka's statistics JSON.
    func statistics(_ json: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
            let topics = object["topics"] as? [String: Any]
        else { return }
        for (topic, value) in topics {
            guard let partitions = (value as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (partition, stats) in partitions where partition != "-1" {
                guard let stats = stats as? [String: Any], let lag = Self.lag(stats) else { continue }
                let key = "\(topic)|\(partition)"
                if let fetchState = stats["fetch_state"] as? String {
                    // Positions with their leader epochs: librdkafka compares epochs before
                    // offsets, so an epoch mismatch is what a stuck commit looks like.
                    let detail =
                        "fetch_state \(fetchState), lag \(lag), fetched up to \(stats["next_offset"] ?? "?"), high watermark \(stats["hi_offset"] ?? "?"), committed \(stats["committed_offset"] ?? "?") (epoch \(stats["committed_leader_epoch"] ?? "?")), stored \(stats["stored_offset"] ?? "?") (epoch \(stats["stored_leader_epoch"] ?? "?")), leader epoch \(stats["leader_epoch"] ?? "?"), \(stats["msgq_cnt"] ?? "?") message(s) queued in librdkafka"
                    fetchStates.withLock { $0[key] = detail }
                }
                let gauge = lagGauges.withLock { gauges -> Gauge in
                    if let g = gauges[key] { return g }
                    let g = Gauge(
                        label: "kafka_consumergroup_lag",
                        dimensions: [("consumergroup", group), ("topic", topic), ("partition", partition)])
                    gauges[key] = g
                    return g
                }
                gauge.record(lag)
            }
        }
    }
}
