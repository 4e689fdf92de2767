import Foundation
import Metrics
import Synchronization

/// The stream's metrics, through swift-metrics (the CLI bootstraps Prometheus). Names follow
/// Prometheus conventions: `vigil_` prefix, base units, `_total` counters, no user or address
/// labels; consumer lag as kafka_exporter names it.
final class StreamMetrics: Sendable {
    let consumed = Counter(label: "vigil_events_consumed_total")
    let parsed = Counter(label: "vigil_events_parsed_total")
    let failed = Counter(label: "vigil_events_failed_total")
    let deadLettered = Counter(label: "vigil_dlq_records_total")
    let replayed = Counter(label: "vigil_events_replayed_total")
    let late = Counter(label: "vigil_events_late_total")
    /// Events refused for being dated more than `max_future_skew_ms` past the current time.
    let future = Counter(label: "vigil_events_future_total")
    /// Records dropped because they were fetched for an earlier assignment of their partition.
    let staleRecords = Counter(label: "vigil_records_stale_total")
    /// Records that stopped the process twice while analysed, dead-lettered unanalysed.
    let poisonRecords = Counter(label: "vigil_poison_records_total")
    let rebalances = Counter(label: "vigil_rebalances_total")
    /// Partitions whose assignment was lost (the group coordinator unreachable past the
    /// session timeout, or this member fenced): revoked without a commit.
    let partitionsLost = Counter(label: "vigil_partitions_lost_total")
    let commitFailures = Counter(label: "vigil_commit_failures_total")
    /// Stored offsets librdkafka left out of a commit without an error, committed explicitly.
    let commitsRepaired = Counter(label: "vigil_commits_repaired_total")
    let produceRetries = Counter(label: "vigil_produce_retries_total")
    /// Delivery failures retrying cannot fix (authorization, missing topic, record too large).
    let permanentErrors = Counter(label: "vigil_produce_permanent_errors_total")
    let modelReloaded = Counter(label: "vigil_model_reloads_total", dimensions: [("result", "ok")])
    let modelReloadFailed = Counter(label: "vigil_model_reloads_total", dimensions: [("result", "failed")])
    /// Where an assigned partition's state came from: the local cache, the changelog topic,
    /// or nowhere (empty state).
    let restoredLocal = Counter(label: "vigil_state_restores_total", dimensions: [("source", "local")])
    let restoredChangelog = Counter(label: "vigil_state_restores_total", dimensions: [("source", "changelog")])
    let restoredNone = Counter(label: "vigil_state_restores_total", dimensions: [("source", "none")])
    /// Reading the changelog at an assignment: how long, and how many bytes.
    let restoreDuration = Timer(label: "vigil_state_restore_seconds")
    let restoreBytes = Counter(label: "vigil_state_restore_bytes_total")
    /// Snapshots written to the changelog, their bytes, and writes that failed.
    let changelogSnapshots = Counter(label: "vigil_changelog_snapshots_total")
    let changelogBytes = Counter(label: "vigil_changelog_bytes_total")
    let changelogFailures = Counter(label: "vigil_changelog_failures_total")
    let inFlight = Gauge(label: "vigil_inflight_events")
    let inFlightBytes = Gauge(label: "vigil_inflight_bytes")
    let assigned = Gauge(label: "vigil_assigned_partitions")
    let batchDuration = Timer(label: "vigil_batch_duration_seconds")
    let endToEnd = Timer(label: "vigil_event_to_publish_seconds")
    private let anomalyCounters = Mutex<[String: Counter]>([:])
    private let lagGauges = Mutex<[String: Gauge]>([:])
    /// The consumer's view of each partition from the latest statistics (fetch state, lag),
    /// for the stall watch's report.
    private let fetchStates = Mutex<[String: String]>([:])
    let group: String

    init(group: String) { self.group = group }

    func anomaly(detector: String, severity: String) {
        let key = "\(detector)|\(severity)"
        let counter = anomalyCounters.withLock { counters -> Counter in
            if let c = counters[key] { return c }
            let c = Counter(
                label: "vigil_anomalies_total", dimensions: [("detector", detector), ("severity", severity)])
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
