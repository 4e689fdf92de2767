import Testing

@testable import VigilDetection

/// The profile, rate and travel detectors read their thresholds from the configuration the
/// same way the windowed ones do (WindowTests): each scenario fires with the defaults, stays
/// silent when the threshold is raised past it, and is silent when the detector is disabled.
@Suite("Profile, rate and travel detectors: thresholds from the configuration; disabled means silent")
struct ConfiguredDetectorTests {
    /// A scenario that fires `detector` with the default configuration.
    struct Case: Sendable, CustomTestStringConvertible {
        var detector: DetectorKind
        var events: @Sendable () -> [LogEvent]
        /// Raises the threshold just past what the scenario reaches.
        var raise: @Sendable (inout DetectionConfig) -> Void
        var disable: @Sendable (inout DetectionConfig) -> Void
        var testDescription: String { detector.rawValue }
    }

    /// Four logins a day for `days` days, 09:00–15:00 UTC from 10.1.1.5.
    static func history(_ user: String, days: Int = 7) -> [LogEvent] {
        (0..<days).flatMap { d in
            (0..<4).map { k in
                success(
                    user, from: "10.1.1.5", at: t0 - Int64(days - d) * 86_400_000 - 3 * 3_600_000 + Int64(k) * 7_200_000)
            }
        }
    }

    /// 1,000 ordinary messages, then one of a kind never seen.
    static func rareScenario() -> [LogEvent] {
        var events = (0..<1_000).map { i in
            var e = LogEvent(timestamp: t0 + Int64(i) * 1000, kind: .unknown, template: "cron: job ran")
            e.fingerprint = UInt64(i)
            return e
        }
        var weird = LogEvent(timestamp: t0 + 2_000_000, kind: .unknown, template: "kernel: segfault at <HEX>")
        weird.service = "kernel"
        events.append(weird)
        return events
    }

    /// Two logins every 5 minutes for 3 hours, then 120 in four minutes.
    static func volumeScenario() -> [LogEvent] {
        (0..<72).map { i in success("kim", from: "10.2.2.2", at: t0 + Int64(i) * 150_000) }
            + (0..<120).map { i in success("kim", from: "10.2.2.2", at: t0 + 10_800_000 + Int64(i) * 2_000) }
    }

    static let cases: [Case] = [
        Case(
            detector: .newSource,
            events: { history("grace") + [success("grace", from: "198.51.100.200", at: t0)] },
            raise: { $0.newSource.minHistory = 29 },  // the history has 28 logins
            disable: { $0.newSource.enabled = false }),
        Case(
            detector: .unusualHour,
            events: { history("ivan") + [success("ivan", from: "10.1.1.5", at: t0 + 15 * 3_600_000)] },
            raise: { $0.unusualHour.minHistory = 29 },
            disable: { $0.unusualHour.enabled = false }),
        Case(
            detector: .rareEvent, events: rareScenario,
            raise: { $0.rareEvent.minHistory = 1_001 },
            disable: { $0.rareEvent.enabled = false }),
        Case(
            detector: .volumeSpike, events: volumeScenario,
            raise: { $0.volumeSpike.minCount = 121 },
            disable: { $0.volumeSpike.enabled = false }),
        Case(
            detector: .impossibleTravel,
            events: {
                [
                    success("lee", from: "10.0.0.1", at: t0, country: "DE"),
                    success("lee", from: "45.0.0.1", at: t0 + 30 * 60_000, country: "RU"),
                ]
            },
            // Berlin to Moscow's centroid is far more than 500 km but well under 20,000.
            raise: { $0.impossibleTravel.minDistanceKm = 20_000 },
            disable: { $0.impossibleTravel.enabled = false }),
        Case(
            detector: .bruteForce,
            events: { (0..<8).map { failure("alice", from: "203.0.113.9", at: t0 + seconds(Double($0) * 5)) } },
            raise: {
                $0.bruteForce.failures = 9
                $0.bruteForce.sourceFailures = 9
                $0.bruteForce.slowFailures = 9
            },
            disable: { $0.bruteForce.enabled = false }),
    ]

    private func fired(_ c: Case, _ change: ((inout DetectionConfig) -> Void)? = nil) -> Int {
        var config = DetectionConfig.default
        change?(&config)
        var engine = DetectionEngine(config: config)
        return engine.run(c.events()).of(c.detector).count
    }

    @Test("fires with the defaults, not past a raised threshold, never when disabled", arguments: cases)
    func configured(_ c: Case) {
        #expect(fired(c) >= 1)
        #expect(fired(c, c.raise) == 0)
        #expect(fired(c, c.disable) == 0)
    }

    @Test("a speed limit above the trip's speed makes it plausible")
    func travelSpeed() {
        var config = DetectionConfig.default
        config.impossibleTravel.maxSpeedKmh = 100_000
        var engine = DetectionEngine(config: config)
        let trip = [
            success("lee", from: "10.0.0.1", at: t0, country: "DE"),
            success("lee", from: "45.0.0.1", at: t0 + 30 * 60_000, country: "RU"),
        ]
        #expect(engine.run(trip).of(.impossibleTravel).isEmpty)
    }

    @Test("with the same /24 not counted as known, a login from next door is a new source")
    func newSourcePrefix() {
        var config = DetectionConfig.default
        config.newSource.samePrefixIsKnown = false
        var engine = DetectionEngine(config: config)
        let found = engine.run(Self.history("grace") + [success("grace", from: "10.1.1.77", at: t0)])
        #expect(found.of(.newSource).count == 1)
        var defaults = DetectionEngine()
        #expect(defaults.run(Self.history("grace") + [success("grace", from: "10.1.1.77", at: t0)]).of(.newSource).isEmpty)
    }

    @Test("a burst dated further back than the lateness is late: not counted into any bucket, no spike")
    func volumeLateness() {
        var engine = DetectionEngine()
        // The steady three hours, then the same burst dated two hours back (behind the watermark
        // by far more than the 60 s lateness).
        let steady = (0..<72).map { i in success("kim", from: "10.2.2.2", at: t0 + Int64(i) * 150_000) }
        let burst = (0..<120).map { i in success("kim", from: "10.2.2.2", at: t0 + 3_600_000 + Int64(i) * 2_000) }
        #expect(engine.run(steady + burst).of(.volumeSpike).isEmpty)
        #expect(engine.statistics.lateEvents >= 120)
    }

    @Test("a rare kind is reported once, then suppressed for the quiet period the configuration sets")
    func rareQuiet() {
        // With a quiet period of a minute, the same kind after ten quiet minutes is news again
        // (as a rare kind: 1 of 1,001 is under a 1% share).
        var config = DetectionConfig.default
        config.rareEvent.quietMs = 60_000
        config.rareEvent.maxShare = 0.01
        var engine = DetectionEngine(config: config)
        let first = engine.run(Self.rareScenario()).of(.rareEvent).count
        var again = LogEvent(timestamp: t0 + 2_600_000, kind: .unknown, template: "kernel: segfault at <HEX>")
        again.service = "kernel"
        again.fingerprint = 7
        let second = engine.run([again]).of(.rareEvent).count
        #expect(first == 1)
        #expect(second == 1)
        config.rareEvent.quietMs = DetectionConfig.default.rareEvent.quietMs
        var defaults = DetectionEngine(config: config)
        _ = defaults.run(Self.rareScenario())
        #expect(defaults.run([again]).of(.rareEvent).isEmpty)
    }
}
