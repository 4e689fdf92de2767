import VigilDetection
import VigilKafka

/// How `vigil stream` is laid out on Kafka.
public enum StreamTopology: String, Sendable, CaseIterable {
    /// One stage: each input partition's records are parsed and detected on by one worker, so
    /// detection sees only what the producer put in that partition.
    case single
    /// Two stages joined by repartition topics (Kafka Streams' model): the first parses each
    /// record and sends every event to a topic keyed by its source and, if it names one, to a
    /// topic keyed by its account; the second runs the source-keyed detectors on the one and
    /// the account-keyed detectors on the other. Detection no longer depends on the
    /// producer's keys.
    case repartitioned
}

/// Which stages of the topology a process runs.
public enum StreamStages: String, Sendable, CaseIterable {
    /// Every stage of the topology (the default; one process, or many alike).
    case all
    /// Only the first stage of a repartitioned stream (parse and route).
    case route
    /// Only the second stage of a repartitioned stream (detect and publish).
    case detect
}

/// One stage a ``StreamPipeline`` runs.
public enum StreamStage: String, Sendable {
    /// The single-stage stream.
    case single
    /// Repartitioned, first stage: input topic → repartition topics.
    case route
    /// Repartitioned, second stage: repartition topics → anomalies.
    case detect
}

/// The entity a repartition topic is keyed by: which detectors' anomalies its stage reports.
enum RepartitionScope: Sendable {
    /// Keyed by source (address or host name; events without one by their host): brute force,
    /// spraying, enumeration, privileged failures, source volume, rare messages, and the
    /// outlier score of events that name no account.
    case source
    /// Keyed by account: stuffing, success after failures, new source, unusual hour,
    /// impossible travel, escalation, account volume, and the outlier score of events with
    /// an account.
    case user

    /// The engines' entity scope: which side's anomalies this scope's engines report.
    var entities: DetectionConfig.EntityScope { self == .user ? .accounts : .sources }

    /// Whether this scope reports `anomaly` (the other scope's engine sees the rest of the
    /// entity's events and reports it).
    func keeps(_ anomaly: Anomaly) -> Bool { entities.reports(anomaly.entity.kind) }

    /// The detection configuration of this scope's engines (see ``DetectionConfig/scoped(to:)``).
    func configuration(_ base: DetectionConfig) -> DetectionConfig { base.scoped(to: entities) }
}

/// The repartition topics and what routing needs to know about them.
struct RepartitionTopics: Sendable, Equatable {
    var bySource: String
    var byUser: String
    /// Partition counts, known once the topics are described.
    var bySourcePartitions: Int32 = 0
    var byUserPartitions: Int32 = 0
    /// The input topic's partition count: how many clocks the second stage waits for.
    var inputPartitions: Int = 0

    func scope(of topic: String) -> RepartitionScope? {
        topic == bySource ? .source : topic == byUser ? .user : nil
    }
}

/// A repartition record: the events of one input partition bound for one repartition
/// partition, from one consumer batch (one message per event would cost the producer and
/// the consumer far more than the event itself).
///
/// Layout (little-endian): magic `VGR1`, input partition id (8, see
/// ``ParseOptions/origin(topic:partition:)``), input partition number (4), the input topic's
/// partition count (4), the input partition's watermark after the last event (8), event count
/// (4), flags (4: bit 0, the input partition is idle — read to its end), then per event its record offset (8), index in the record (4), the watermark after it
/// (8), its length (4) and its ``EventCodec`` bytes. A record without events is a heartbeat:
/// it only moves the clock (and, flagged idle, tells the second stage not to wait for the
/// partition).
enum RepartitionRecord {
    static let magic: [UInt8] = Array("VGR1".utf8)
    /// A record is closed past this size and another begun (well under `max.message.bytes`).
    static let targetBytes = 256 << 10

    /// Builds the records of one batch, per destination partition, in order.
    struct Builder {
        let stream: UInt64
        let partition: Int32
        let streams: Int
        private(set) var buffers: [Int32: (bytes: [UInt8], count: Int)] = [:]
        /// Records closed because they reached ``targetBytes``, in order per partition.
        private(set) var closed: [(partition: Int32, bytes: [UInt8])] = []

        init(stream: UInt64, partition: Int32, streams: Int) {
            self.stream = stream
            self.partition = partition
            self.streams = streams
        }

        mutating func add(
            encoded: UnsafeRawBufferPointer, offset: Int64, index: UInt32, watermark: Int64, to destination: Int32
        ) {
            var entry = buffers[destination] ?? (header(), 0)
            buffers[destination] = nil  // unique: appending does not copy
            RepartitionRecord.append(UInt64(bitPattern: offset), &entry.bytes)
            RepartitionRecord.append(index, &entry.bytes)
            RepartitionRecord.append(UInt64(bitPattern: watermark), &entry.bytes)
            RepartitionRecord.append(UInt32(encoded.count), &entry.bytes)
            entry.bytes.append(contentsOf: encoded)
            entry.count += 1
            if entry.bytes.count >= RepartitionRecord.targetBytes {
                Self.seal(&entry.bytes, count: entry.count, watermark: watermark)
                closed.append((destination, entry.bytes))
            } else {
                buffers[destination] = entry
            }
        }

        /// Every record of the batch: closed ones first (they are older), then the open ones
        /// sealed with `watermark`, then heartbeats for `heartbeats` partitions that got
        /// nothing.
        mutating func finish(
            watermark: Int64, heartbeats: some Sequence<Int32>
        ) -> [(
            partition: Int32, bytes: [UInt8]
        )] {
            var records = closed
            closed.removeAll()
            // Taken out of `buffers` first: sealed in place, each record's only owner is `open`
            // (sealing one `buffers` still held copied it whole).
            var open = buffers.sorted(by: { $0.key < $1.key })
            buffers.removeAll()
            for k in open.indices {
                Self.seal(&open[k].value.bytes, count: open[k].value.count, watermark: watermark)
                records.append((open[k].key, open[k].value.bytes))
            }
            let sent = Set(records.map(\.partition))
            for destination in heartbeats where !sent.contains(destination) {
                var bytes = header()
                Self.seal(&bytes, count: 0, watermark: watermark)
                records.append((destination, bytes))
            }
            return records
        }

        private func header() -> [UInt8] {
            var bytes = RepartitionRecord.header(stream: stream, partition: partition, streams: streams)
            bytes.reserveCapacity(4096)
            return bytes
        }

        /// Writes the record's watermark and event count into its header.
        private static func seal(_ bytes: inout [UInt8], count: Int, watermark: Int64) {
            withUnsafeBytes(of: UInt64(bitPattern: watermark).littleEndian) { raw in
                for k in 0..<8 { bytes[20 + k] = raw[k] }
            }
            withUnsafeBytes(of: UInt32(count).littleEndian) { raw in
                for k in 0..<4 { bytes[28 + k] = raw[k] }
            }
        }
    }

    /// A decoded record's header.
    struct Header {
        var stream: UInt64
        var partition: Int32
        var streams: Int
        var watermark: Int64
        var count: Int
        /// The input partition had been read to its end when this (event-less) record was sent.
        var idle = false
    }

    static let idleFlag: UInt32 = 1

    /// A record without events that tells every stage-2 engine the input partition was read
    /// to its end at `watermark` (see ``DetectionEngine/advance(stream:streams:watermark:idle:)``).
    static func idleHeartbeat(stream: UInt64, partition: Int32, streams: Int, watermark: Int64) -> [UInt8] {
        header(stream: stream, partition: partition, streams: streams, watermark: watermark, flags: idleFlag)
    }

    /// A record's header; the watermark and count of a record with events are set when it is sealed.
    static func header(
        stream: UInt64, partition: Int32, streams: Int, watermark: Int64 = 0, flags: UInt32 = 0
    ) -> [UInt8] {
        var bytes = magic
        append(stream, &bytes)
        append(UInt32(bitPattern: partition), &bytes)
        append(UInt32(streams), &bytes)
        append(UInt64(bitPattern: watermark), &bytes)
        append(UInt32(0), &bytes)  // event count
        append(flags, &bytes)
        return bytes
    }

    /// Why a record is not a repartition record (dead-lettered with this reason).
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    static let headerBytes = 36

    static func header(_ bytes: UnsafeRawBufferPointer) throws(Malformed) -> Header {
        guard bytes.count >= headerBytes, bytes.prefix(4).elementsEqual(magic) else {
            throw Malformed(description: "not a Vigil repartition record (no VGR1 header)")
        }
        return Header(
            stream: load(bytes, 4), partition: Int32(bitPattern: load(bytes, 12)),
            streams: Int(load(bytes, 16) as UInt32), watermark: Int64(bitPattern: load(bytes, 20)),
            count: Int(load(bytes, 28) as UInt32), idle: (load(bytes, 32) as UInt32) & idleFlag != 0)
    }

    /// Calls `body` with each event of the record — its ``EventCodec`` bytes — and its origin,
    /// in order. Stops at the first damaged event and throws, naming it (the events before it
    /// were delivered); `body` throws for an encoding it refuses.
    static func forEachEvent(
        _ bytes: UnsafeRawBufferPointer, _ header: Header,
        _ body: (UnsafeRawBufferPointer, EventOrigin) throws(EventCodec.DecodeError) -> Void
    ) throws(Malformed) {
        var at = headerBytes
        for n in 0..<header.count {
            guard bytes.count - at >= 24 else { throw Malformed(description: "event \(n) truncated") }
            let offset = Int64(bitPattern: load(bytes, at))
            let index: UInt32 = load(bytes, at + 8)
            let watermark = Int64(bitPattern: load(bytes, at + 12))
            let length = Int(load(bytes, at + 20) as UInt32)
            at += 24
            guard bytes.count - at >= length else { throw Malformed(description: "event \(n) truncated") }
            let origin = EventOrigin(
                stream: header.stream, partition: header.partition, streams: header.streams, offset: offset,
                index: index, watermark: watermark)
            do {
                try body(UnsafeRawBufferPointer(rebasing: bytes[at..<at + length]), origin)
            } catch {
                throw Malformed(description: "event \(n): \(error)")
            }
            at += length
        }
        guard at == bytes.count else { throw Malformed(description: "\(bytes.count - at) trailing byte(s)") }
    }

    private static func load<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    static func append<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// The partition of `topic` (with `partitions` partitions) an entity key goes to: a stable
    /// hash, the same in every process and release.
    static func partition(of key: String, partitions: Int32) -> Int32 {
        Int32(truncatingIfNeeded: StableHash.hash(key) % UInt64(max(1, partitions)))
    }
}

/// The route stage's output for one batch of one input partition: every event to the
/// by-source topic (keyed by its source, else its host), and the events naming an account to
/// the by-user topic too.
struct Router {
    let topics: RepartitionTopics
    private var bySource: RepartitionRecord.Builder
    private var byUser: RepartitionRecord.Builder
    /// Events sent (an event with an account counts twice).
    private(set) var events = 0
    /// The batch's events, each encoded once, back to back; routed at
    /// ``finish(watermark:heartbeat:engine:)`` — by then the batch's later lines may have tied
    /// a PAM host name to its address.
    private var encoded: [UInt8] = []
    private var items: [Item] = []

    private struct Item {
        var offset: Int64
        var index: UInt32
        var watermark: Int64
        var start: Int
        var length: Int
        /// Destination partitions (by user: -1 for an event without an account).
        var source: Int32
        var user: Int32
        /// An event whose source is a host name, kept to be resolved at the end of the batch:
        /// its place in ``hostNamed`` (-1: none). Not the event itself: an item holding an
        /// optional event was over 300 bytes, copied in and out for every event.
        var hostNamed: Int32
    }

    private var hostNamed: [LogEvent] = []

    init(_ topics: RepartitionTopics, partition: TopicPartition) {
        self.topics = topics
        let stream = ParseOptions.origin(topic: partition.topic, partition: partition.partition)
        bySource = RepartitionRecord.Builder(
            stream: stream, partition: partition.partition, streams: topics.inputPartitions)
        byUser = bySource
        encoded.reserveCapacity(64 << 10)
    }

    mutating func add(_ event: borrowing LogEvent, offset: Int64, index: UInt32, watermark: Int64) {
        let start = encoded.count
        EventCodec.encode(event, into: &encoded)
        var named: Int32 = -1
        if let source = event.sourceIP, !LogEvent.isAddress(source) {
            named = Int32(hostNamed.count)
            hostNamed.append(copy event)
        }
        items.append(
            Item(
                offset: offset, index: index, watermark: watermark, start: start, length: encoded.count - start,
                source: sourcePartition(event), user: userPartition(event), hostNamed: named))
    }

    private func sourcePartition(_ event: borrowing LogEvent) -> Int32 {
        RepartitionRecord.partition(of: event.sourceIP ?? event.host ?? "", partitions: topics.bySourcePartitions)
    }

    private func userPartition(_ event: borrowing LogEvent) -> Int32 {
        event.user.map { RepartitionRecord.partition(of: $0, partitions: topics.byUserPartitions) } ?? -1
    }

    /// The batch's repartition records, in order; with `heartbeat`, every partition that got no event
    /// gets the clock alone (so an engine whose share of this partition is small still hears
    /// how far it got).
    /// `engine` (the route engine) names the address a host-named source stands for, if it
    /// knows it by now (``DetectionEngine/address(for:)``); borrowed, not copied — it holds
    /// every connection of the partition.
    mutating func finish(watermark: Int64, heartbeat: Bool, engine: borrowing DetectionEngine) -> [ProducerMessage] {
        encoded.withUnsafeBytes { all in
            for item in items {
                if item.hostNamed >= 0, let address = engine.address(for: hostNamed[Int(item.hostNamed)]) {
                    var event = hostNamed[Int(item.hostNamed)]
                    event.sourceIP = address
                    let bytes = EventCodec.encode(event)
                    bytes.withUnsafeBytes { route(item, $0, source: sourcePartition(event)) }
                } else {
                    route(
                        item, UnsafeRawBufferPointer(rebasing: all[item.start..<item.start + item.length]),
                        source: item.source)
                }
            }
        }
        encoded.removeAll(keepingCapacity: true)
        items.removeAll(keepingCapacity: true)
        hostNamed.removeAll(keepingCapacity: true)
        func messages(
            _ builder: inout RepartitionRecord.Builder, _ topic: String, _ partitions: Int32
        )
            -> [ProducerMessage]
        {
            builder.finish(watermark: watermark, heartbeats: heartbeat ? Array(0..<partitions) : []).map {
                ProducerMessage(topic: topic, partition: $0.partition, value: $0.bytes)
            }
        }
        return messages(&bySource, topics.bySource, topics.bySourcePartitions)
            + messages(&byUser, topics.byUser, topics.byUserPartitions)
    }

    private mutating func route(_ item: Item, _ bytes: UnsafeRawBufferPointer, source: Int32) {
        bySource.add(encoded: bytes, offset: item.offset, index: item.index, watermark: item.watermark, to: source)
        events += 1
        if item.user >= 0 {
            byUser.add(encoded: bytes, offset: item.offset, index: item.index, watermark: item.watermark, to: item.user)
            events += 1
        }
    }
}
