/// Where an event of a repartitioned stream came from, and how far its input partition had
/// got in event time when it was sent.
///
/// A repartitioned stream re-keys events by the entity detectors count (the source, the
/// account), so one engine receives events from every input partition, interleaved — and
/// brokers serve a partition's records in runs, so one partition's events may arrive hours
/// (of event time) after another's. The engine therefore keeps one clock per input partition:
/// an event is late against *its own* partition's watermark (as in a single-stage stream),
/// and state expires only behind the slowest partition's.
///
/// Positions make replays harmless: an upstream stage that restarts sends some events again,
/// and a partition's events reach an engine in order, so an event at or before the latest
/// position seen from its partition is a duplicate and is skipped.
public struct EventOrigin: Sendable, Hashable {
    /// The input partition (``ParseOptions/origin(topic:partition:)``).
    public var stream: UInt64
    /// How many input partitions there are: the clock does not advance until each has been
    /// heard from (an unheard one may still send older events).
    public var streams: Int
    /// The record's offset and the event's index in it.
    public var offset: Int64
    public var index: UInt32
    /// The input partition's watermark (latest event time) after this event.
    public var watermark: Int64

    public init(stream: UInt64, streams: Int, offset: Int64, index: UInt32, watermark: Int64) {
        self.stream = stream
        self.streams = streams
        self.offset = offset
        self.index = index
        self.watermark = watermark
    }
}

/// One input partition's clock in a repartitioned engine.
struct OriginClock: Sendable, Hashable {
    var watermark: Int64 = .min
    /// The latest event processed from it (offset, index); (-1, 0) before any.
    var offset: Int64 = -1
    var index: UInt32 = 0
}

extension DetectionEngine {
    /// The first stage of a repartitioned stream: resolves what an event's sshd connection
    /// says about it — the source address a line without one (or naming a host name) belongs
    /// to, the account — so that the event can be routed by the entity it counts under.
    /// Returns the event as detection should see it and the partition's watermark after it.
    /// Nothing is detected here: this engine keeps only connections and the clock.
    public mutating func resolve(_ event: LogEvent) -> (event: LogEvent, watermark: Int64) {
        statistics.events += 1
        let time = UTC.clamp(event.timestamp)
        if time > state.watermark { state.watermark = time }
        let late = time < state.watermark - config.latenessMs
        if late { statistics.lateEvents += 1 }
        if statistics.events & 1023 == 0 {
            state.expire(config: config, longestWindow: longestWindow)
            statistics.evictions = state.evictions
        }
        guard !late, event.failureReport != nil || event.isFailedAttempt else { return (event, state.watermark) }
        let attempts = countAttempts(event)
        guard attempts.source != event.sourceIP || attempts.user != event.user else { return (event, state.watermark) }
        var resolved = event
        resolved.sourceIP = attempts.source
        resolved.user = attempts.user
        return (resolved, state.watermark)
    }

    /// The second stage of a repartitioned stream: processes an event sent by the first (see
    /// ``EventOrigin``). Returns nil, without processing it, when the event was already
    /// processed (the first stage sent it again after a restart).
    public mutating func process(_ event: LogEvent, from origin: EventOrigin) -> [Anomaly]? {
        let known = state.origins[origin.stream] ?? OriginClock()
        guard (origin.offset, origin.index) > (known.offset, known.index) else {
            statistics.duplicates += 1
            return nil
        }
        state.origins[origin.stream] = OriginClock(
            watermark: max(known.watermark, origin.watermark), offset: origin.offset, index: origin.index)
        advanceClock(streams: origin.streams)
        var event = event
        event.timestamp = UTC.clamp(event.timestamp)
        var observation = Observation()
        let late = event.timestamp < origin.watermark.subtractingSaturated(config.latenessMs)
        return process(event, late: late, observing: &observation, collectFeatures: false)
    }

    /// A watermark-only message from an input partition (it sends them so that a partition
    /// whose events rarely come here still moves the clock).
    public mutating func advance(stream: UInt64, streams: Int, watermark: Int64) {
        var known = state.origins[stream] ?? OriginClock()
        known.watermark = max(known.watermark, watermark)
        state.origins[stream] = known
        advanceClock(streams: streams)
    }

    /// The engine's clock: the slowest input partition's watermark, once all are known.
    private mutating func advanceClock(streams: Int) {
        if streams > state.originStreams { state.originStreams = streams }
        guard state.origins.count >= state.originStreams else { return }
        var slowest = Int64.max
        for clock in state.origins.values where clock.watermark < slowest { slowest = clock.watermark }
        if slowest != .max && slowest > state.watermark { state.watermark = slowest }
    }

    /// Input partitions heard from, and the clock (for metrics and tests).
    public var repartitionClock: (streams: Int, known: Int, watermark: Int64) {
        (state.originStreams, state.origins.count, state.watermark)
    }
}
