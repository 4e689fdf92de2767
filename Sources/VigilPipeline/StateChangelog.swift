import Foundation
import Logging
import VigilDetection
import VigilKafka

/// Detector snapshots in a compacted Kafka topic — the changelog — so that a partition's state
/// follows it to whichever instance, on whichever machine, is assigned it next (Kafka Streams'
/// changelog topics, on our own binding). The local ``StateStore`` stays, as a cache and for
/// the poison-record marker.
///
/// Each input partition has ``slots`` slots, written in turn. A snapshot in a slot is its
/// chunks followed by a manifest:
///
///     vigil.state/v1/<group>/<topic>/<partition>/<slot>/<n>         VGLCHK01, next offset, n, bytes
///     vigil.state/v1/<group>/<topic>/<partition>/<slot>/manifest    VGLMAN01, next offset, chunks, length, checksum
///
/// Fixed keys keep a compacted topic at ``slots`` snapshots per partition however long the
/// stream runs. A manifest is trusted only when every chunk of its own offset came before it
/// and the checksum matches, so a slot half overwritten when a process died is skipped, never
/// misread; the writer never overwrites the slot recovery from the committed offset needs
/// (``ChangelogSlots``). All of an input partition's records go to one changelog partition
/// (its number modulo the changelog's partition count), so a restore reads only that one.
public struct StateChangelog: Sendable, Equatable {
    public let topic: String
    public let group: String
    /// Partitions of the changelog topic.
    public let partitions: Int32
    public var slots = 3
    /// Snapshot bytes per record: under the broker's default `max.message.bytes` (1 MiB) with
    /// room for the key and framing.
    public var chunkBytes = 512 << 10

    static let chunkMagic: [UInt8] = Array("VGLCHK01".utf8)
    static let manifestMagic: [UInt8] = Array("VGLMAN01".utf8)

    public init(topic: String, group: String, partitions: Int32) {
        self.topic = topic
        self.group = group
        self.partitions = max(1, partitions)
    }

    /// The changelog partition holding `tp`'s snapshots.
    public func changelogPartition(_ tp: TopicPartition) -> Int32 {
        Int32(Int(tp.partition.magnitude) % Int(partitions))
    }

    func keyPrefix(_ tp: TopicPartition) -> String { "vigil.state/v1/\(group)/\(tp.topic)/\(tp.partition)/" }

    private static func checksum(_ state: [UInt8]) -> UInt64 { StableHash.hash(state, seed: 0x6368_616E) }

    /// The records that write `state` (the engine after every record before `nextOffset`)
    /// into `slot`: chunks, then the manifest.
    public func messages(_ tp: TopicPartition, slot: Int, nextOffset: Int64, state: [UInt8]) -> [ProducerMessage] {
        let prefix = keyPrefix(tp) + "\(slot)/"
        let partition = changelogPartition(tp)
        var messages: [ProducerMessage] = []
        var start = 0
        var index: UInt32 = 0
        repeat {
            let end = min(state.count, start + chunkBytes)
            var value = Self.chunkMagic
            value.reserveCapacity(20 + end - start)
            value.appendLittleEndian(nextOffset)
            value.appendLittleEndian(index)
            value.append(contentsOf: state[start..<end])
            messages.append(
                ProducerMessage(topic: topic, partition: partition, key: Array("\(prefix)\(index)".utf8), value: value))
            start = end
            index += 1
        } while start < state.count
        var manifest = Self.manifestMagic
        manifest.appendLittleEndian(nextOffset)
        manifest.appendLittleEndian(index)
        manifest.appendLittleEndian(UInt64(state.count))
        manifest.appendLittleEndian(Self.checksum(state))
        messages.append(
            ProducerMessage(topic: topic, partition: partition, key: Array("\(prefix)manifest".utf8), value: manifest))
        return messages
    }

    /// One changelog record, decoded.
    enum Record {
        case chunk(nextOffset: Int64, index: UInt32, bytes: ArraySlice<UInt8>)
        case manifest(nextOffset: Int64, chunks: UInt32, length: UInt64, checksum: UInt64)
    }

    /// The input partition prefix, slot and content of a changelog record; nil for anything
    /// else (a tombstone, another tool's record, a damaged value).
    static func decode(key: ArraySlice<UInt8>, value: ArraySlice<UInt8>) -> (prefix: String, slot: Int, Record)? {
        let text = String(decoding: key, as: UTF8.self)
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3, let slot = Int(parts[parts.count - 2]) else { return nil }
        let prefix = parts.dropLast(2).joined(separator: "/") + "/"
        var reader = ByteReader(value)
        guard let magic = reader.bytes(8) else { return nil }
        if parts[parts.count - 1] == "manifest" {
            guard Array(magic) == manifestMagic, let offset = reader.int64(), let chunks = reader.uint32(),
                let length = reader.uint64(), let checksum = reader.uint64()
            else { return nil }
            return (prefix, slot, .manifest(nextOffset: offset, chunks: chunks, length: length, checksum: checksum))
        }
        guard UInt32(parts[parts.count - 1]) != nil, Array(magic) == chunkMagic, let offset = reader.int64(),
            let index = reader.uint32()
        else { return nil }
        return (prefix, slot, .chunk(nextOffset: offset, index: index, bytes: reader.rest))
    }

    /// What the changelog holds for one input partition.
    public struct Contents: Sendable {
        /// Complete, checked snapshots by slot — only the newest at or before ``limit`` is
        /// kept (the only one a restore can use), so a restore holds one snapshot per
        /// partition, not one per slot.
        public var snapshots: [Int: (offset: Int64, bytes: [UInt8])] = [:]
        /// The committed offset: snapshots after it are not kept.
        public var limit = Int64.max
        /// Per slot, the next offset it was last written with (complete or not).
        public var written: [Int: Int64] = [:]
        /// Bytes of this partition's records read.
        public var bytesRead = 0
        private var building: [Int: (offset: Int64, next: UInt32, bytes: [UInt8])] = [:]

        public init(limit: Int64 = .max) { self.limit = limit }

        /// The newest complete snapshot at or before `committed`.
        public func newest(atOrBefore committed: Int64) -> (offset: Int64, bytes: [UInt8])? {
            snapshots.values.filter { $0.offset <= committed }.max { $0.offset < $1.offset }
        }

        mutating func add(_ record: Record, slot: Int) {
            switch record {
            case .chunk(let offset, let index, let bytes):
                written[slot] = offset
                if index == 0 {
                    building[slot] = (offset, 1, Array(bytes))
                } else if var part = building[slot], part.offset == offset, part.next == index {
                    building[slot] = nil  // appended without a copy of the whole
                    part.bytes.append(contentsOf: bytes)
                    part.next += 1
                    building[slot] = part
                } else {
                    building[slot] = nil  // a chunk missing: this slot's snapshot is unusable
                }
            case .manifest(let offset, let chunks, let length, let checksum):
                defer { building[slot] = nil }
                guard let part = building[slot], part.offset == offset, part.next == chunks,
                    UInt64(part.bytes.count) == length, StateChangelog.checksum(part.bytes) == checksum,
                    offset <= limit, snapshots.values.allSatisfy({ $0.offset < offset })
                else { return }
                snapshots = [slot: (offset, part.bytes)]
            }
        }
    }

    /// How a restore read went.
    public struct ReadOutcome: Sendable {
        public var contents: [TopicPartition: Contents]
        public var bytes: Int
        public var records: Int
        /// Every changelog partition was read to its end (else the deadline came first).
        public var complete: Bool
        public var duration: Duration
    }

    /// Reads the changelog partitions of `wanted` to their ends (the high watermark the fetch
    /// reports, which is right on brokers whose latest-offset lookup is not), keeping what
    /// belongs to `wanted` — from `starts[changelog partition]` where given (a checkpoint: what
    /// came before is known), else from the beginning. Uses a consumer of its own, assigned
    /// without a group, so nothing is committed and the stream's group is not disturbed.
    /// `limits`: each partition's committed offset (snapshots after it are not kept).
    public func read(
        _ wanted: [TopicPartition], limits: [TopicPartition: Int64] = [:], from starts: [Int32: Int64] = [:],
        configuration: ConsumerConfiguration, timeout: Duration, logger: Logger
    ) async throws(KafkaError) -> ReadOutcome {
        let started = ContinuousClock.now
        var byPrefix: [String: TopicPartition] = [:]
        for tp in wanted { byPrefix[keyPrefix(tp)] = tp }
        var outcome = ReadOutcome(
            contents: Dictionary(uniqueKeysWithValues: wanted.map { ($0, Contents(limit: limits[$0] ?? .max)) }),
            bytes: 0, records: 0,
            complete: false, duration: .zero)
        let sources = Set(wanted.map(changelogPartition)).sorted().map { TopicPartition(topic, $0) }
        guard !sources.isEmpty else {
            outcome.complete = true
            return outcome
        }
        var config = configuration
        config.clientID = "vigil-state-restore"
        // Assigned, never subscribed: no group is joined; nothing of the stream's membership.
        config.groupID += ".restore"
        config.groupInstanceID = nil
        config.maxBatchSize = 500
        config.batchLinger = .milliseconds(5)
        let consumer = try KafkaConsumer(configuration: config, observer: KafkaClientObserver(logger: logger))
        // -2: from the beginning.
        try consumer.assign(sources.map { TopicPartitionOffset($0, offset: starts[$0.partition] ?? -2) })
        // Per changelog partition, the offset after the last record read.
        var next: [Int32: Int64] = starts
        let deadline = started + timeout
        // Checkpoints past the end of their partition: the topic was recreated since.
        var pastEnd: Set<Int32> = []
        func finished() -> Bool {
            sources.allSatisfy { source in
                guard let (low, high) = consumer.fetchedWatermarks(source) else { return false }
                if let start = starts[source.partition], high < start { pastEnd.insert(source.partition) }
                return next[source.partition, default: low] >= high
            }
        }
        while !finished() && pastEnd.isEmpty {
            guard ContinuousClock.now < deadline else { break }
            guard let batch = await consumer.nextBatch(timeout: .milliseconds(100)) else { continue }
            for index in batch.indices {
                let record = batch[index]
                next[record.partition] = record.offset + 1
                outcome.records += 1
                guard let key = record.key, let value = record.value,
                    let (prefix, slot, decoded) = Self.decode(key: key, value: value), let tp = byPrefix[prefix]
                else { continue }
                outcome.bytes += value.count
                outcome.contents[tp]?.bytesRead += value.count
                outcome.contents[tp]?.add(decoded, slot: slot)
            }
        }
        outcome.complete = finished() && pastEnd.isEmpty
        try? await consumer.close(timeout: .seconds(5))
        if !pastEnd.isEmpty {
            logger.warning(
                "changelog checkpoint(s) past the end of \(topic) partition(s) \(pastEnd.sorted()) (the topic was recreated?); reading them from the beginning"
            )
            return try await read(
                wanted, limits: limits, from: starts.filter { !pastEnd.contains($0.key) }, configuration: configuration,
                timeout: max(.seconds(1), deadline - .now), logger: logger)
        }
        outcome.duration = ContinuousClock.now - started
        return outcome
    }
}

/// Where this host's last changelog write for a partition ended, and what each slot held
/// then: a restore on the same host reads the changelog only from here (everything before it
/// is known, and the snapshots it names are in the local cache) — Kafka Streams' checkpoint
/// file. Kept beside the partition's local snapshots; a missing or damaged one means reading
/// from the beginning.
public struct ChangelogCheckpoint: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    /// The changelog offset after the manifest last written.
    public var position: Int64
    public var slots: [Int64?]

    public init(topic: String, partition: Int32, position: Int64, slots: [Int64?]) {
        self.topic = topic
        self.partition = partition
        self.position = position
        self.slots = slots
    }

    static let header = "vigil-changelog-checkpoint v1"

    var text: String {
        "\(Self.header)\n\(topic)\n\(partition) \(position)\n\(slots.map { $0.map(String.init) ?? "-" }.joined(separator: " "))\n"
    }

    init?(text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines[0] == Self.header else { return nil }
        let position = lines[2].split(separator: " ")
        guard position.count == 2, let partition = Int32(position[0]), let offset = Int64(position[1]), offset >= 0
        else { return nil }
        let slots = lines[3].split(separator: " ").map { $0 == "-" ? nil : Int64($0) }
        guard !slots.isEmpty, lines[3].split(separator: " ").allSatisfy({ $0 == "-" || Int64($0) != nil }) else {
            return nil
        }
        self.init(topic: String(lines[1]), partition: partition, position: offset, slots: slots)
    }

    /// The slots as a restore reports them.
    var written: [Int: Int64] {
        var written: [Int: Int64] = [:]
        for (slot, offset) in slots.enumerated() { if let offset { written[slot] = offset } }
        return written
    }
}

/// Which slot a partition's next changelog snapshot goes to: an empty one, else the oldest —
/// never the one holding the newest snapshot at or before the committed offset, which is
/// what recovery starts from (newer snapshots may be ahead of the commit when a process dies).
public struct ChangelogSlots: Sendable, Equatable {
    /// Per slot, the next offset of the snapshot last written there (nil: empty or failed).
    public private(set) var offsets: [Int64?]

    public init(slots: Int, written: [Int: Int64] = [:]) {
        offsets = (0..<max(2, slots)).map { written[$0] }
    }

    /// The slot for a snapshot at `nextOffset`, marked as holding it.
    public mutating func claim(nextOffset: Int64, committed: Int64?) -> Int {
        let protected = committed.flatMap { committed in
            offsets.indices.filter { (offsets[$0] ?? .max) <= committed }.max {
                (offsets[$0] ?? .min) < (offsets[$1] ?? .min)
            }
        }
        let candidates = offsets.indices.filter { $0 != protected }
        let slot =
            candidates.first { offsets[$0] == nil } ?? candidates.min { (offsets[$0] ?? .min) < (offsets[$1] ?? .min) }
            ?? 0
        offsets[slot] = nextOffset
        return slot
    }

    /// The write to `slot` failed: its content is unknown, so it is the first to reuse.
    public mutating func failed(_ slot: Int) {
        if offsets.indices.contains(slot) { offsets[slot] = nil }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// Reads little-endian integers off a byte slice, failing (nil) rather than trapping when
/// the slice is short.
private struct ByteReader {
    var slice: ArraySlice<UInt8>

    init(_ slice: ArraySlice<UInt8>) { self.slice = slice }

    mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard slice.count >= count else { return nil }
        defer { slice = slice.dropFirst(count) }
        return slice.prefix(count)
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard let bytes = bytes(MemoryLayout<T>.size) else { return nil }
        var value: T = 0
        for (shift, byte) in bytes.enumerated() { value |= T(truncatingIfNeeded: byte) << (8 * shift) }
        return value
    }

    mutating func int64() -> Int64? { integer(Int64.self) }
    mutating func uint64() -> UInt64? { integer(UInt64.self) }
    mutating func uint32() -> UInt32? { integer(UInt32.self) }

    var rest: ArraySlice<UInt8> { slice }
}
