import Testing

@testable import VigilDetection

/// Window boundaries, lateness and thresholds from configuration, the same way for every
/// windowed count detector (brute force has its own, finer tests in DetectorTests).
@Suite("Windowed detectors: boundaries, lateness, configured thresholds")
struct WindowTests {
    /// A windowed detector: its `count`-th event (built by `event(i, time)`) within `window`
    /// fires; `configure` sets its threshold and window.
    struct Case: Sendable, CustomTestStringConvertible {
        var detector: DetectorKind
        var count: Int
        var windowMs: Int64
        var event: @Sendable (Int, Int64) -> LogEvent
        var configure: @Sendable (inout DetectionConfig, Int, Int64) -> Void
        var testDescription: String { detector.rawValue }
    }

    static let cases: [Case] = [
        Case(
            detector: .passwordSpraying, count: 10, windowMs: 300_000,
            event: { i, t in failure("user\(i)", from: "198.51.100.20", at: t) },
            configure: { c, n, w in
                c.passwordSpraying.distinctUsers = n
                c.passwordSpraying.windowMs = w
            }),
        Case(
            detector: .credentialStuffing, count: 10, windowMs: 300_000,
            event: { i, t in failure("carol", from: "198.51.100.\(100 + i)", at: t) },
            configure: { c, n, w in
                c.credentialStuffing.distinctSources = n
                c.credentialStuffing.windowMs = w
            }),
        Case(
            detector: .accountEnumeration, count: 5, windowMs: 300_000,
            event: { i, t in invalidUser("ghost\(i)", from: "198.51.100.30", at: t) },
            configure: { c, n, w in
                c.accountEnumeration.distinctUnknownUsers = n
                c.accountEnumeration.windowMs = w
            }),
        Case(
            detector: .privilegedAccount, count: 3, windowMs: 300_000,
            event: { _, t in failure("root", from: "198.51.100.40", at: t) },
            configure: { c, n, w in
                c.privileged.failures = n
                c.privileged.windowMs = w
            }),
    ]

    private func fires(_ c: Case, _ events: [LogEvent], config: DetectionConfig = .default) -> Int {
        var engine = DetectionEngine(config: config)
        return engine.run(events).of(c.detector).count
    }

    /// `n` events spread evenly over `span` milliseconds.
    private func spread(_ c: Case, _ n: Int, over span: Int64) -> [LogEvent] {
        (0..<n).map { c.event($0, t0 + span * Int64($0) / Int64(max(1, n - 1))) }
    }

    @Test("the window is (t − window, t]: just inside fires once, exactly the window does not", arguments: cases)
    func boundary(_ c: Case) {
        #expect(fires(c, spread(c, c.count, over: c.windowMs - 1)) == 1)
        #expect(fires(c, spread(c, c.count, over: c.windowMs)) == 0)
        #expect(fires(c, spread(c, c.count - 1, over: 1_000)) == 0)
    }

    @Test("out of order within the lateness counts; beyond it the event is late and not counted", arguments: cases)
    func lateness(_ c: Case) {
        // Two events in the middle swapped (a few seconds apart; the lateness is 60 s): the
        // threshold is still reached, at the newest event.
        var shuffled = spread(c, c.count, over: 20_000)
        shuffled.swapAt(1, c.count - 2)
        #expect(fires(c, shuffled) == 1)
        // The N−1 others at t0+200…220 s, then the one that would complete them dated t0:
        // 220 s behind the newest event, past the lateness — late, not counted, no alert.
        var late = (1..<c.count).map { c.event($0, t0 + 200_000 + 20_000 * Int64($0) / Int64(c.count)) }
        late.append(c.event(0, t0))
        var engine = DetectionEngine()
        let found = engine.run(late).of(c.detector)
        #expect(engine.statistics.lateEvents == 1)
        #expect(found.isEmpty, "\(found.map(\.summary))")
        // The same event in time completes them.
        var inTime = DetectionEngine()
        late[late.count - 1] = c.event(0, t0 + 221_000)
        #expect(inTime.run(late).of(c.detector).count == 1)
    }

    @Test("threshold and window from the configuration; disabled means silent", arguments: cases)
    func configured(_ c: Case) {
        var config = DetectionConfig.default
        c.configure(&config, 3, 10_000)
        #expect(fires(c, spread(c, 3, over: 9_000), config: config) == 1)
        #expect(fires(c, spread(c, 3, over: 12_000), config: config) == 0)
        var off = DetectionConfig.default
        switch c.detector {
        case .passwordSpraying: off.passwordSpraying.enabled = false
        case .credentialStuffing: off.credentialStuffing.enabled = false
        case .accountEnumeration: off.accountEnumeration.enabled = false
        case .privilegedAccount: off.privileged.enabled = false
        default: Issue.record("no switch for \(c.detector)")
        }
        #expect(fires(c, spread(c, c.count * 3, over: 1_000), config: off) == 0)
    }

    @Test("success after failures: window (t − 600 s, t], a late failure does not count, configured threshold")
    func successAfterFailures() {
        func run(_ failures: [Int64], successAt: Int64, config: DetectionConfig = .default) -> Int {
            var engine = DetectionEngine(config: config)
            var events = failures.map { failure("erin", from: "198.51.100.60", at: $0) }
            events.append(success("erin", from: "198.51.100.60", at: successAt))
            return engine.run(events).of(.successAfterFailures).count
        }
        let five = (0..<5).map { t0 + Int64($0) * 1_000 }
        #expect(run(five, successAt: t0 + 599_999) == 1)
        #expect(run(five, successAt: t0 + 600_000) == 0)  // the first failure is out of the window
        // Four in time, the fifth dated 204 s before the newest: late, not counted.
        let four = (0..<4).map { t0 + 200_000 + Int64($0) * 1_000 }
        #expect(run(four + [t0], successAt: t0 + 205_000) == 0)
        #expect(run(four + [t0 + 150_000], successAt: t0 + 205_000) == 1)
        var config = DetectionConfig.default
        config.successAfterFailures.failures = 3
        config.successAfterFailures.windowMs = 10_000
        let three = (0..<3).map { t0 + Int64($0) * 1_000 }
        #expect(run(three, successAt: t0 + 5_000, config: config) == 1)
        #expect(run(three, successAt: t0 + 10_000, config: config) == 0)
        config.successAfterFailures.enabled = false
        #expect(run(five, successAt: t0 + 5_000, config: config) == 0)
    }
}
