/// The engine's state as bytes, and back: what crash recovery restores.
///
/// Layout (little-endian): magic `VGLSTATE`, version, watermark, template total, statistics, the input
/// partitions' clocks of a repartitioned engine (version 3) and the events it holds for
/// event-time order (version 4: per partition its idle flag, then each queued event's origin and
/// ``EventCodec`` bytes),
/// then every map of ``EngineState`` in ``EngineState/visitMaps(_:)`` order — each as its
/// entry count, eviction count and entries (key, last use, value) least recently used first,
/// so that restoring rebuilds the same recency order — and `END.`.
enum SnapshotCodec {
    static let magic: [UInt8] = Array("VGLSTATE".utf8)
    /// 2: connections and host-name aliases of the attempt counting. 3: the input partitions'
    /// clocks of a repartitioned engine (after the statistics). 4: their idle flags and the
    /// events held for event-time order. Versions 2 and 3 are still read.
    static let version: UInt32 = 4
    private static let end: [UInt8] = Array("END.".utf8)

    static func encode(_ state: EngineState, statistics: EngineStatistics, config: DetectionConfig) -> [UInt8] {
        var writer = BinaryWriter()
        writer.volumeRule = config.volumeSpike
        writer.bytes(magic)
        writer.u32(version)
        writer.i64(state.watermark)
        writer.u64(state.templateTotal)
        writer.u64(UInt64(statistics.events))
        writer.u64(UInt64(statistics.lateEvents))
        writer.u64(UInt64(statistics.suppressed))
        let counts = statistics.anomalies.sorted { $0.key < $1.key }
        writer.u32(UInt32(counts.count))
        for (detector, count) in counts {
            writer.string(detector.rawValue)
            writer.u64(UInt64(count))
        }
        writer.u32(UInt32(state.originStreams))
        writer.u32(UInt32(state.origins.count))
        for (stream, clock) in state.origins.sorted(by: { $0.key < $1.key }) {
            writer.u64(stream)
            writer.i64(clock.watermark)
            writer.i64(clock.offset)
            writer.u32(clock.index)
            writer.u32(clock.idle ? 1 : 0)
            let queue = state.queues[stream]?.pending ?? []
            writer.u32(UInt32(queue.count))
            for entry in queue {
                writer.u32(UInt32(bitPattern: entry.origin.partition))
                writer.u32(UInt32(entry.origin.streams))
                writer.i64(entry.origin.offset)
                writer.u32(entry.origin.index)
                writer.i64(entry.origin.watermark)
                writer.u32(UInt32(entry.length))
                state.queues[stream]?.withEncoding(entry) { writer.bytes(Array($0)) }
            }
        }
        var encoder = MapEncoder(writer: writer)
        var copy = state  // visiting needs `inout`; encoding mutates nothing, so nothing is copied
        copy.visitMaps(&encoder)
        encoder.writer.bytes(end)
        return encoder.writer.data
    }

    /// Decodes a snapshot into fresh state (made by `empty`) and statistics.
    static func decode(_ bytes: [UInt8], into empty: EngineState) throws(ModelError) -> (EngineState, EngineStatistics)
    {
        var reader = BinaryReader(bytes)
        guard try reader.bytes(magic.count) == magic else { throw .corrupt("not an engine snapshot") }
        let found = try reader.u32()
        guard (2...version).contains(found) else {
            throw .incompatible("snapshot version \(found), expected \(version)")
        }
        var state = empty
        var statistics = EngineStatistics()
        state.watermark = try reader.time()
        state.templateTotal = UInt64(try reader.count64())
        statistics.events = try reader.count64()
        statistics.lateEvents = try reader.count64()
        statistics.suppressed = try reader.count64()
        for _ in 0..<(try reader.count(max: 64)) {
            let name = try reader.string()
            guard let detector = DetectorKind(rawValue: name) else { throw .corrupt("unknown detector \(name)") }
            statistics.anomalies[detector] = try reader.count64()
        }
        if found >= 3 {
            state.originStreams = try reader.count(max: 1 << 16)
            for _ in 0..<(try reader.count(max: 1 << 16)) {
                let stream = try reader.u64()
                var clock = OriginClock(watermark: try reader.time(), offset: try reader.i64(), index: try reader.u32())
                if found >= 4 {
                    clock.idle = try reader.u32() != 0
                    var queue = OriginQueue()
                    for _ in 0..<(try reader.count(max: 1 << 24)) {
                        let origin = EventOrigin(
                            stream: stream, partition: Int32(bitPattern: try reader.u32()),
                            streams: try reader.count(max: 1 << 16), offset: try reader.i64(),
                            index: try reader.u32(), watermark: try reader.time())
                        let bytes = try reader.bytes(try reader.count(max: 1 << 24))
                        let timestamp: Int64
                        do {
                            timestamp = try bytes.withUnsafeBytes { raw throws(EventCodec.DecodeError) in
                                try EventCodec.timestamp(raw)
                            }
                        } catch {
                            throw .corrupt("queued event: \(error)")
                        }
                        bytes.withUnsafeBytes { queue.append($0, timestamp: timestamp, origin: origin) }
                    }
                    if !queue.isEmpty {
                        state.queued += queue.count
                        state.queues[stream] = queue
                    }
                }
                state.origins[stream] = clock
            }
        }
        var decoder = MapDecoder(reader: reader)
        try state.visitMaps(&decoder)
        reader = decoder.reader
        guard try reader.bytes(end.count) == end, reader.atEnd else {
            throw .corrupt("snapshot has trailing or missing data")
        }
        statistics.evictions = state.evictions
        return (state, statistics)
    }
}

private struct MapEncoder: StateMapVisitor {
    typealias Failure = Never
    var writer: BinaryWriter

    mutating func visit<Value: SnapshotValue>(_ map: inout LRUMap<Value>, expiry: StateExpiry) {
        writer.u32(UInt32(map.count))
        writer.u64(UInt64(map.evictions))
        map.forEachWithTime { key, time, value in
            writer.u64(key)
            writer.i64(time)
            value.encode(to: &writer)
        }
    }
}

private struct MapDecoder: StateMapVisitor {
    typealias Failure = ModelError
    var reader: BinaryReader

    mutating func visit<Value: SnapshotValue>(_ map: inout LRUMap<Value>, expiry: StateExpiry) throws(ModelError) {
        let count = try reader.count(max: 50_000_000)
        map.setEvictions(try reader.count64())
        for _ in 0..<count {
            let key = try reader.u64()
            let time = try reader.time()
            map.restore(key, time: time, value: try Value.decode(from: &reader))
        }
    }
}

/// A value that can be stored in an engine snapshot.
protocol SnapshotValue: Sendable {
    func encode(to writer: inout BinaryWriter)
    static func decode(from reader: inout BinaryReader) throws(ModelError) -> Self
}

extension UInt32: SnapshotValue {
    func encode(to writer: inout BinaryWriter) { writer.u32(self) }
    static func decode(from reader: inout BinaryReader) throws(ModelError) -> UInt32 { try reader.u32() }
}

extension Int64: SnapshotValue {
    func encode(to writer: inout BinaryWriter) { writer.i64(self) }
    static func decode(from reader: inout BinaryReader) throws(ModelError) -> Int64 { try reader.time() }
}

extension TimeWindow: SnapshotValue {
    func encode(to writer: inout BinaryWriter) {
        writer.u32(UInt32(times.count))
        for time in times { writer.i64(time) }
    }

    static func decode(from reader: inout BinaryReader) throws(ModelError) -> TimeWindow {
        var window = TimeWindow()
        for _ in 0..<(try reader.count(max: 1_000_000)) { window.appendSorted(try reader.time()) }
        return window
    }
}

extension DistinctWindow: SnapshotValue {
    func encode(to writer: inout BinaryWriter) {
        writer.u32(UInt32(members.count))
        for index in 0..<members.count {
            writer.u64(members[index])
            writer.string(names[index])
            writer.i64(times[index])
        }
    }

    static func decode(from reader: inout BinaryReader) throws(ModelError) -> DistinctWindow {
        var window = DistinctWindow()
        for _ in 0..<(try reader.count(max: 1_000_000)) {
            let member = try reader.u64()
            let name = try reader.string()
            let time = try reader.time()
            window.appendRaw(member, name: name, at: time)
        }
        return window
    }
}

extension VolumeState: SnapshotValue {
    func encode(to writer: inout BinaryWriter) {
        writer.i64(bucket)
        writer.i64(Int64(count))
        // A pending baseline is written computed: a snapshot reads the same whenever taken.
        let (threshold, baseline) = writer.volumeRule.map(settled) ?? (self.threshold, self.baseline)
        writer.i64(Int64(threshold == Int.max ? -1 : threshold))
        writer.rate(baseline)
        writer.u8(alerted ? 1 : 0)
        writer.u32(UInt32(activeBuckets))
        writer.u32(UInt32(history.count))
        for count in orderedHistory { writer.u32(count) }
    }

    static func decode(from reader: inout BinaryReader) throws(ModelError) -> VolumeState {
        var volume = VolumeState()
        volume.bucket = try reader.time()
        volume.count = try reader.count64()
        let threshold = try reader.i64()
        volume.threshold = threshold < 0 ? Int.max : Int(clamping: threshold)
        volume.baseline = try reader.rate()
        volume.alerted = try reader.u8() == 1
        volume.activeBuckets = Int(try reader.u32())
        var history: [UInt32] = []
        for _ in 0..<(try reader.count(max: 100_000)) { history.append(try reader.u32()) }
        volume.restoreHistory(history)
        return volume
    }
}

extension OnlineProfile: SnapshotValue {
    func encode(to writer: inout BinaryWriter) {
        profile.encode(to: &writer)
        if let location = lastLocation {
            writer.u8(1)
            writer.f64(location.lat)
            writer.f64(location.lon)
            writer.i64(location.time)
            writer.string(location.label)
            writer.u8(location.precise ? 1 : 0)
        } else {
            writer.u8(0)
        }
    }

    static func decode(from reader: inout BinaryReader) throws(ModelError) -> OnlineProfile {
        var online = OnlineProfile(profile: try UserProfile.decode(from: &reader))
        if try reader.u8() == 1 {
            let lat = try reader.f64()
            let lon = try reader.f64()
            let time = try reader.time()
            let label = try reader.string()
            let precise = try reader.u8() == 1
            online.lastLocation = (lat, lon, time, label, precise)
        }
        return online
    }
}

extension UserProfile: SnapshotValue {
    /// The same layout in models (trained profiles) and snapshots (online ones).
    func encode(to writer: inout BinaryWriter) {
        for count in hours { writer.u32(count) }
        writer.u32(activity)
        writer.u32(successes)
        writer.u32(escalations)
        writer.u32(UInt32(sources.count))
        for source in sources.sorted() { writer.u64(source) }
        writer.u32(UInt32(prefixes.count))
        for prefix in prefixes.sorted() { writer.u64(prefix) }
        writer.rate(rate)
    }

    static func decode(from reader: inout BinaryReader) throws(ModelError) -> UserProfile {
        var profile = UserProfile()
        for hour in 0..<24 { profile.hours[hour] = try reader.u32() }
        profile.activity = try reader.u32()
        profile.successes = try reader.u32()
        profile.escalations = try reader.u32()
        for _ in 0..<(try reader.count(max: 1_000_000)) { profile.sources.insert(try reader.u64()) }
        for _ in 0..<(try reader.count(max: 1_000_000)) { profile.prefixes.insert(try reader.u64()) }
        profile.rate = try reader.rate()
        return profile
    }
}

extension SessionReports: SnapshotValue {
    func encode(to writer: inout BinaryWriter) {
        for count in [attempts, refusedAccount, pamErrors, pam, triesExhausted, counted] { writer.u32(count) }
        writer.optionalString(source)
        writer.optionalString(user)
    }

    static func decode(from reader: inout BinaryReader) throws(ModelError) -> SessionReports {
        var session = SessionReports()
        session.attempts = try reader.u32()
        session.refusedAccount = try reader.u32()
        session.pamErrors = try reader.u32()
        session.pam = try reader.u32()
        session.triesExhausted = try reader.u32()
        session.counted = try reader.u32()
        session.source = try reader.optionalString()
        session.user = try reader.optionalString()
        return session
    }
}

extension SourceAlias: SnapshotValue {
    func encode(to writer: inout BinaryWriter) { writer.string(address) }
    static func decode(from reader: inout BinaryReader) throws(ModelError) -> SourceAlias {
        SourceAlias(address: try reader.string())
    }
}
