/// Where an event of a repartitioned stream came from, and how far its input partition had
/// got in event time when it was sent.
///
/// A repartitioned stream re-keys events by the entity detectors count (the source, the
/// account), so one engine receives events from every input partition, interleaved — and
/// brokers serve a partition's records in runs, so one partition's events may arrive hours
/// (of event time) after another's. The engine therefore keeps one clock per input partition:
/// an event is late against *its own* partition's watermark (as in a single-stage stream),
/// events are processed in event-time order across partitions (see
/// ``DetectionEngine/receive(_:from:)``), and state expires only behind the slowest partition.
///
/// Positions make replays harmless: an upstream stage that restarts sends some events again,
/// and a partition's events reach an engine in order, so an event at or before the latest
/// position seen from its partition is a duplicate and is skipped.
public struct EventOrigin: Sendable, Hashable {
    /// The input partition (``ParseOptions/origin(topic:partition:)``).
    public var stream: UInt64
    /// Its number in the input topic (anomalies name it in their headers).
    public var partition: Int32
    /// How many input partitions there are: nothing is processed in order until each has been
    /// heard from (an unheard one may still send older events), or the capacity is reached.
    public var streams: Int
    /// The record's offset and the event's index in it.
    public var offset: Int64
    public var index: UInt32
    /// The input partition's watermark (latest event time) after this event.
    public var watermark: Int64

    public init(stream: UInt64, partition: Int32 = 0, streams: Int, offset: Int64, index: UInt32, watermark: Int64) {
        self.stream = stream
        self.partition = partition
        self.streams = streams
        self.offset = offset
        self.index = index
        self.watermark = watermark
    }
}

/// One input partition's clock in a repartitioned engine.
struct OriginClock: Sendable, Hashable {
    var watermark: Int64 = .min
    /// The latest event received from it (offset, index); (-1, 0) before any.
    var offset: Int64 = -1
    var index: UInt32 = 0
    /// The route stage said the partition has nothing more to read: its clock does not hold
    /// the others back until it sends again.
    var idle = false

    /// Takes `origin`'s position and watermark, unless the event is at or before the latest
    /// one received (a replay): then returns false and changes nothing.
    mutating func accept(_ origin: EventOrigin) -> Bool {
        guard (origin.offset, origin.index) > (offset, index) else { return false }
        watermark = max(watermark, origin.watermark)
        offset = origin.offset
        index = origin.index
        idle = false
        return true
    }
}

/// One input partition's received events, oldest first, kept in their ``EventCodec``
/// encoding (as they arrived): a queued event costs its bytes, not a ``LogEvent``'s strings,
/// and is decoded once, when processed.
struct OriginQueue: Sendable, Hashable {
    /// A queued event: where its encoding is in ``bytes``, its time and origin.
    struct Entry: Sendable, Hashable {
        var start: Int
        var length: Int
        var timestamp: Int64
        var origin: EventOrigin
    }

    /// The encodings, back to back.
    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []
    private var head = 0

    var isEmpty: Bool { head == entries.count }
    var count: Int { entries.count - head }
    var first: Entry? { isEmpty ? nil : entries[head] }
    /// The queued events, oldest first.
    var pending: ArraySlice<Entry> { entries[head...] }

    mutating func append(_ encoded: UnsafeRawBufferPointer, timestamp: Int64, origin: EventOrigin) {
        entries.append(Entry(start: bytes.count, length: encoded.count, timestamp: timestamp, origin: origin))
        bytes.append(contentsOf: encoded)
    }

    /// The encoding of `entry` (one of ``pending``).
    func withEncoding<R>(_ entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes {
            try body(UnsafeRawBufferPointer(rebasing: $0[entry.start..<entry.start + entry.length]))
        }
    }

    /// Removes the oldest event, decoded into `event` (replaced whole; unspecified when it does
    /// not decode) but for its message, whose bytes go to `message`: its origin, and whether
    /// it decoded.
    mutating func removeFirst(
        into event: inout LogEvent, message: inout EventCodec.DeferredText, texts: inout TextInterner
    ) -> (origin: EventOrigin, decoded: Bool) {
        let entry = entries[head]
        let decoded = withEncoding(entry) { raw in
            (try? EventCodec.decode(raw, into: &event, deferringMessageTo: &message, interning: &texts)) != nil
        }
        head += 1
        if head == entries.count {
            // Emptied: kept for its capacity (the engine keeps an empty queue per input
            // partition rather than making one per event), unless a backlog grew it large.
            let large = bytes.capacity > Self.keptCapacity
            entries.removeAll(keepingCapacity: !large)
            bytes.removeAll(keepingCapacity: !large)
            head = 0
        } else if head >= 1024 && head * 2 >= entries.count {
            // Drop what was consumed (amortised: at most as much as is still queued).
            let cut = entries[head].start
            bytes.removeFirst(cut)
            entries.removeFirst(head)
            for k in entries.indices { entries[k].start -= cut }
            head = 0
        }
        return (entry.origin, decoded)
    }

    /// Encoding bytes an emptied queue keeps allocated (a backlog's are freed).
    static let keptCapacity = 256 << 10
}

extension DetectionEngine {
    /// The first stage of a repartitioned stream: resolves what an event's sshd connection
    /// says about it — the source address a line without one (or naming a host name) belongs
    /// to, the account — so that the event can be routed by the entity it counts under.
    /// Leaves the event as detection should see it and returns the partition's watermark after it.
    /// Nothing is detected here: this engine keeps only connections and the clock.
    public mutating func resolve(_ event: inout LogEvent) -> Int64 {
        statistics.events += 1
        let time = UTC.clamp(event.timestamp)
        if time > state.watermark { state.watermark = time }
        let late = time < state.watermark - config.latenessMs
        if late { statistics.lateEvents += 1 }
        if statistics.events & 1023 == 0 {
            state.expire(config: config, longestWindow: longestWindow)
            statistics.evictions = state.evictions
        }
        guard !late, event.failureReport != nil || event.isFailedAttempt else { return state.watermark }
        let attempts = countAttempts(&event)
        if attempts.source != event.sourceIP { event.sourceIP = attempts.source }
        if attempts.user != event.user { event.user = attempts.user }
        return state.watermark
    }

    /// The second stage of a repartitioned stream: takes an event sent by the first (see
    /// ``EventOrigin``) into the queue of its input partition. Returns false, keeping nothing,
    /// when the event was already received (the first stage sent it again after a restart).
    ///
    /// Queued events are processed by ``release(_:)`` in event-time order across input
    /// partitions — the order one engine reading every partition's events in time would see —
    /// so that order-dependent detectors (a success after failures, a connection's lines
    /// counted once) find what they find in one file, however the partitions' records
    /// interleave on the way.
    public mutating func receive(_ event: LogEvent, from origin: EventOrigin) -> Bool {
        let bytes = EventCodec.encode(event)
        return bytes.withUnsafeBytes { raw in (try? receive(encoded: raw, from: origin)) ?? false }
    }

    /// ``receive(_:from:)`` for an event in its ``EventCodec`` encoding (as the first stage
    /// sends it): kept as bytes until processed. Throws if `encoded` is not an event encoding
    /// (checked as far as possible without decoding it: version and time).
    public mutating func receive(
        encoded: UnsafeRawBufferPointer, from origin: EventOrigin
    ) throws(EventCodec.DecodeError)
        -> Bool
    {
        let timestamp = try EventCodec.timestamp(encoded)
        // One hash lookup per event (this runs for every event of the stage).
        let accepted: Bool
        if let known = state.origins.index(forKey: origin.stream) {
            accepted = state.origins.values[known].accept(origin)
        } else {
            var clock = OriginClock()
            accepted = clock.accept(origin)
            if accepted { state.origins[origin.stream] = clock }
        }
        guard accepted else {
            statistics.duplicates += 1
            return false
        }
        if origin.streams > state.originStreams { state.originStreams = origin.streams }
        state.queues[origin.stream, default: OriginQueue()].append(encoded, timestamp: timestamp, origin: origin)
        state.queued += 1
        return true
    }

    /// A watermark-only message from an input partition (the first stage sends them so that
    /// a partition whose events rarely come here still moves the clock). `idle`: the partition
    /// has nothing more to read for now, so the others need not wait for it.
    public mutating func advance(stream: UInt64, streams: Int, watermark: Int64, idle: Bool = false) {
        var known = state.origins[stream] ?? OriginClock()
        known.watermark = max(known.watermark, watermark)
        known.idle = idle
        state.origins[stream] = known
        if streams > state.originStreams { state.originStreams = streams }
    }

    /// Processes the queued events whose turn has come, in event-time order, and calls `found`
    /// with each anomaly and the origin of the event that completed it.
    ///
    /// The oldest queued event is processed once no input partition can still send an older
    /// one: each other partition has an older-or-equal event queued, has a watermark at or
    /// past it, or is idle. Until every input partition has been heard from, nothing is. Past
    /// ``DetectionConfig/reorderCapacity`` queued events the oldest are processed anyway
    /// (memory stays bounded; a partition far behind then arrives late, as in one stream).
    public mutating func release(_ found: (Anomaly, EventOrigin) -> Void) {
        // One event decoded into again and again (see EventCodec.decode(_:into:)); its message
        // made only for the anomalies that report it.
        var event = LogEvent(timestamp: 0, kind: .unknown)
        var message = EventCodec.DeferredText()
        while let next = nextReleasable() {
            guard
                let (origin, decoded) = state.queues[next]?.removeFirst(
                    into: &event, message: &message, texts: &decodedTexts)
            else {
                break
            }
            state.queued -= 1
            guard decoded else {
                // Checked for version and time on arrival; damage past that is counted, and
                // the event skipped (its record was accepted long ago).
                statistics.malformed += 1
                continue
            }
            advanceClock(to: event.timestamp)
            var observation = Observation()
            let late = event.timestamp < origin.watermark.subtractingSaturated(config.latenessMs)
            let anomalies = process(&event, late: late, observing: &observation, collectFeatures: false)
            guard !anomalies.isEmpty else { continue }
            let text = message.text
            for var anomaly in anomalies {
                anomaly.event.message = text
                found(anomaly, origin)
            }
        }
    }

    /// Receives and releases in one step (tests and simple callers): the anomalies released,
    /// nil when the event was a replay.
    public mutating func process(_ event: LogEvent, from origin: EventOrigin) -> [Anomaly]? {
        guard receive(event, from: origin) else { return nil }
        var anomalies: [Anomaly] = []
        release { anomaly, _ in anomalies.append(anomaly) }
        return anomalies
    }

    /// The input partition whose queued head is processed next, if any may be.
    private func nextReleasable() -> UInt64? {
        var best: (stream: UInt64, time: Int64)? = nil
        for (stream, queue) in state.queues {
            guard let head = queue.first else { continue }
            if best == nil || (head.timestamp, stream) < (best!.time, best!.stream) {
                best = (stream, head.timestamp)
            }
        }
        guard let best else { return nil }
        if state.queued > config.reorderCapacity { return best.stream }
        guard state.origins.count >= state.originStreams else { return nil }
        for (stream, clock) in state.origins where stream != best.stream {
            if clock.idle || clock.watermark >= best.time { continue }
            if let head = state.queues[stream]?.first, head.timestamp >= best.time { continue }
            return nil
        }
        return best.stream
    }

    /// The engine's clock (window expiry) follows the events it processes, as one engine's
    /// does — but never past an input partition that may still send older events (one not
    /// idle, when every partition is known), so an event released early (past the capacity)
    /// cannot expire state the lagging partition's events still need.
    private mutating func advanceClock(to time: Int64) {
        var clock = time
        if state.origins.count >= state.originStreams {
            for origin in state.origins.values where !origin.idle && origin.watermark < clock {
                clock = origin.watermark
            }
        }
        if clock > state.watermark { state.watermark = clock }
    }

    /// Input partitions heard from, the clock, and the events waiting (for metrics and tests).
    public var repartitionClock: (streams: Int, known: Int, watermark: Int64, queued: Int) {
        (state.originStreams, state.origins.count, state.watermark, state.queued)
    }
}
