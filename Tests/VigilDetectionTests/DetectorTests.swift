import Testing

@testable import VigilDetection

@Suite("Brute force (T1110.001)")
struct BruteForceTests {
    @Test("8 failures from one source against one account within 120 s fire once, with evidence")
    func positive() throws {
        var engine = DetectionEngine()
        let found = engine.run((0..<12).map { failure("root", from: "203.0.113.9", at: t0 + seconds(Double($0) * 10)) })
        let alerts = found.of(.bruteForce).high.high
        #expect(alerts.count == 1)  // suppressed after the first
        let a = try #require(alerts.first)
        #expect(a.eventTime == t0 + seconds(70))  // the 8th failure
        #expect(a.entity == Entity(.sourceIPUser, "root@203.0.113.9"))
        #expect(a.severity == .high)
        #expect(a.mitre?.techniqueID == "T1110.001")
        #expect(a.summary == "8 failed logins for root from 203.0.113.9 within 120 s (threshold 8)")
        let evidence = Dictionary(uniqueKeysWithValues: a.evidence)
        #expect(evidence["failures"] == .int(8))
        #expect(evidence["first_seen"] == .time(t0))
        #expect(a.score >= 0.5 && a.score <= 1)
    }

    @Test("7 failures, or 8 spread over more than the window, stay quiet")
    func negative() {
        var engine = DetectionEngine()
        #expect(
            engine.run((0..<7).map { failure("root", from: "203.0.113.9", at: t0 + seconds(Double($0))) }).of(
                .bruteForce
            ).high.isEmpty)
        var spread = DetectionEngine()
        #expect(
            spread.run((0..<8).map { failure("bob", from: "198.51.100.1", at: t0 + seconds(Double($0) * 20)) }).of(
                .bruteForce
            ).high.isEmpty)
    }

    @Test("window boundary: the window is (t − 120 s, t]")
    func boundary() {
        // 8 failures spanning exactly 120 s: the first falls out of the window of the last.
        var exact = DetectionEngine()
        let atEdge = (0..<8).map { failure("root", from: "192.0.2.1", at: t0 + seconds(Double($0) * 120 / 7)) }
        #expect(exact.run(atEdge).of(.bruteForce).high.isEmpty)
        // Spanning 119.999 s: all eight count.
        var inside = DetectionEngine()
        let justInside = (0..<8).map { failure("root", from: "192.0.2.1", at: t0 + Int64(Double($0) * 119_999 / 7)) }
        #expect(inside.run(justInside).of(.bruteForce).high.count == 1)
    }

    @Test("out-of-order events within the lateness are counted where they belong")
    func outOfOrder() {
        var engine = DetectionEngine()
        var events = (0..<8).map { failure("root", from: "192.0.2.7", at: t0 + seconds(Double($0) * 5)) }
        events.swapAt(1, 6)
        events.swapAt(2, 5)
        #expect(engine.run(events).of(.bruteForce).high.count == 1)
        // Too late: beyond the lateness the event is not counted (and counted as late).
        var late = DetectionEngine()
        var lateEvents = (0..<7).map { failure("root", from: "192.0.2.8", at: t0 + seconds(300 + Double($0))) }
        lateEvents.append(failure("root", from: "192.0.2.8", at: t0))
        #expect(late.run(lateEvents).of(.bruteForce).high.isEmpty)
        #expect(late.statistics.lateEvents == 1)
    }

    @Test("threshold and window come from the configuration")
    func configured() {
        var config = DetectionConfig()
        config.bruteForce.failures = 3
        config.bruteForce.windowMs = 10_000
        var engine = DetectionEngine(config: config)
        #expect(
            engine.run((0..<3).map { failure("a", from: "192.0.2.2", at: t0 + seconds(Double($0) * 4)) }).of(
                .bruteForce
            ).high.count == 1)
        var slow = DetectionEngine(config: config)
        #expect(
            slow.run((0..<3).map { failure("a", from: "192.0.2.2", at: t0 + seconds(Double($0) * 6)) }).of(.bruteForce)
                .high.high
                .isEmpty)
        config.bruteForce.enabled = false
        var off = DetectionEngine(config: config)
        #expect(
            off.run((0..<30).map { failure("a", from: "192.0.2.2", at: t0 + seconds(Double($0))) }).of(.bruteForce).high
                .high
                .isEmpty)
    }

    @Test("a 'message repeated N times' record counts N")
    func repeated() {
        var engine = DetectionEngine()
        var e = failure("root", from: "192.0.2.3", at: t0)
        e.repeatCount = 8
        #expect(engine.run([e]).of(.bruteForce).high.count == 1)
    }

    @Test("after the suppression period a continuing attack is reported again with the new count")
    func suppression() {
        var engine = DetectionEngine()
        let events = (0..<80).map { failure("root", from: "192.0.2.4", at: t0 + seconds(Double($0) * 5)) }
        let alerts = engine.run(events).of(.bruteForce).high.high
        #expect(alerts.count == 2)  // at 35 s and again once 300 s of suppression are over
        #expect(engine.statistics.suppressed > 0)
    }
}

@Suite("Password spraying (T1110.003) and credential stuffing (T1110.004)")
struct SprayingStuffingTests {
    @Test("one source against 10 accounts within 300 s")
    func spraying() throws {
        var engine = DetectionEngine()
        let found = engine.run(
            (0..<12).map { failure("user\($0)", from: "198.51.100.5", at: t0 + seconds(Double($0) * 20)) })
        let a = try #require(found.of(.passwordSpraying).first)
        #expect(found.of(.passwordSpraying).count == 1)
        #expect(a.entity == Entity(.sourceIP, "198.51.100.5"))
        #expect(a.mitre?.techniqueID == "T1110.003")
        #expect(
            a.summary.hasPrefix(
                "198.51.100.5 failed against 10 different accounts within 300 s (threshold 10): user0, user1"))
        #expect(Dictionary(uniqueKeysWithValues: a.evidence)["users"] == .strings((0..<10).map { "user\($0)" }))
        #expect(found.of(.bruteForce).high.isEmpty)
    }

    @Test("the same account repeatedly is not spraying; accounts spread past the window are not either")
    func sprayingNegative() {
        var same = DetectionEngine()
        #expect(
            same.run((0..<20).map { failure("bob", from: "198.51.100.5", at: t0 + seconds(Double($0) * 30)) }).of(
                .passwordSpraying
            ).isEmpty)
        var slow = DetectionEngine()
        #expect(
            slow.run((0..<12).map { failure("u\($0)", from: "198.51.100.6", at: t0 + seconds(Double($0) * 40)) }).of(
                .passwordSpraying
            ).isEmpty)
    }

    @Test("one account from 10 sources within 300 s; 9 is not enough")
    func stuffing() throws {
        var engine = DetectionEngine()
        let found = engine.run(
            (0..<10).map { failure("alice", from: "203.0.113.\($0 + 1)", at: t0 + seconds(Double($0) * 15)) })
        let a = try #require(found.of(.credentialStuffing).first)
        #expect(a.entity == Entity(.user, "alice"))
        #expect(a.mitre?.techniqueID == "T1110.004")
        var fewer = DetectionEngine()
        #expect(
            fewer.run((0..<9).map { failure("alice", from: "203.0.113.\($0 + 1)", at: t0 + seconds(Double($0) * 15)) })
                .of(.credentialStuffing).isEmpty)
    }

    @Test("thresholds from the configuration")
    func configured() {
        var config = DetectionConfig()
        config.passwordSpraying.distinctUsers = 3
        config.credentialStuffing.distinctSources = 3
        var engine = DetectionEngine(config: config)
        let spray = engine.run((0..<3).map { failure("x\($0)", from: "192.0.2.9", at: t0 + seconds(Double($0))) })
        #expect(spray.of(.passwordSpraying).count == 1)
        let stuff = engine.run(
            (0..<3).map { failure("y", from: "192.0.2.\(20 + $0)", at: t0 + seconds(10 + Double($0))) })
        #expect(stuff.of(.credentialStuffing).count == 1)
    }
}

@Suite("Success after failures (T1078) and account enumeration (T1087)")
struct SuccessEnumerationTests {
    @Test("a success after 5 failures for the account is critical")
    func successAfterFailures() throws {
        var engine = DetectionEngine()
        var events = (0..<5).map { failure("carol", from: "203.0.113.50", at: t0 + seconds(Double($0) * 30)) }
        events.append(success("carol", from: "203.0.113.50", at: t0 + seconds(200)))
        let a = try #require(engine.run(events).of(.successAfterFailures).first)
        #expect(a.severity == .critical)
        #expect(a.entity == Entity(.user, "carol"))
        #expect(a.mitre?.techniqueID == "T1078")
        #expect(
            a.summary
                == "Successful login for carol from 203.0.113.50 after 5 failures for the account within 600 s (threshold 5)"
        )
    }

    @Test("failures from the source against other accounts count too")
    func bySource() {
        var engine = DetectionEngine()
        var events = (0..<6).map { failure("u\($0)", from: "203.0.113.51", at: t0 + seconds(Double($0))) }
        events.append(success("dave", from: "203.0.113.51", at: t0 + seconds(30)))
        #expect(engine.run(events).of(.successAfterFailures).count == 1)
    }

    @Test("a typo then success is normal; failures older than the window do not count")
    func negative() {
        var engine = DetectionEngine()
        #expect(
            engine.run([failure("e", from: "10.0.0.1", at: t0), success("e", from: "10.0.0.1", at: t0 + seconds(5))])
                .of(.successAfterFailures).isEmpty)
        var old = DetectionEngine()
        var events = (0..<6).map { failure("f", from: "10.0.0.2", at: t0 + seconds(Double($0))) }
        events.append(success("f", from: "10.0.0.2", at: t0 + seconds(700)))
        #expect(old.run(events).of(.successAfterFailures).isEmpty)
    }

    @Test("5 unknown accounts from one source within 300 s")
    func enumeration() throws {
        var engine = DetectionEngine()
        let found = engine.run(
            (0..<5).map { invalidUser("ghost\($0)", from: "45.1.2.3", at: t0 + seconds(Double($0) * 10)) })
        let a = try #require(found.of(.accountEnumeration).first)
        #expect(a.mitre?.techniqueID == "T1087")
        #expect(a.severity == .medium)
        // The same unknown name again and again is one name.
        var same = DetectionEngine()
        #expect(
            same.run((0..<20).map { invalidUser("ghost", from: "45.1.2.4", at: t0 + seconds(Double($0))) }).of(
                .accountEnumeration
            ).isEmpty)
    }
}

@Suite("Profiles: new source, unusual hour, escalation")
struct ProfileTests {
    /// A week of logins for `user` at 09:00–17:00 UTC from 10.1.1.5.
    func history(_ user: String, days: Int = 7, ip: String = "10.1.1.5") -> [LogEvent] {
        (0..<days).flatMap { d in
            (0..<4).map { k in
                success(user, from: ip, at: t0 - Int64(days - d) * 86_400_000 - 3 * 3_600_000 + Int64(k) * 7_200_000)
            }
        }
    }

    @Test("success from a never-seen network after 5 logins is a new source; same /24 is not")
    func newSource() throws {
        var engine = DetectionEngine()
        _ = engine.run(history("grace"))
        #expect(engine.run([success("grace", from: "10.1.1.77", at: t0)]).of(.newSource).isEmpty)  // same /24
        let a = try #require(
            engine.run([success("grace", from: "198.51.100.200", at: t0 + seconds(60))]).of(.newSource).first)
        #expect(a.severity == .medium)
        #expect(a.summary.contains("198.51.100.200"))
        // Known afterwards (online learning).
        #expect(engine.run([success("grace", from: "198.51.100.200", at: t0 + seconds(4000))]).of(.newSource).isEmpty)
    }

    @Test("no new-source alerts before the user has a history")
    func newSourceNeedsHistory() {
        var engine = DetectionEngine()
        let events = (0..<5).map { success("heidi", from: "203.0.113.\($0 + 1)", at: t0 + seconds(Double($0) * 100)) }
        #expect(engine.run(events).of(.newSource).isEmpty)
    }

    @Test("activity at 03:00 for a 9-to-5 user is an unusual hour; at 10:00 it is not")
    func unusualHour() throws {
        var engine = DetectionEngine()
        _ = engine.run(history("ivan"))
        #expect(engine.run([success("ivan", from: "10.1.1.5", at: t0 - 2 * 3_600_000)]).of(.unusualHour).isEmpty)  // 10:00
        let night = t0 + 15 * 3_600_000  // 03:00 next day
        let a = try #require(engine.run([success("ivan", from: "10.1.1.5", at: night)]).of(.unusualHour).first)
        #expect(a.summary.hasPrefix("ivan active at 03:00 UTC; 0.0% of this user's"))
    }

    @Test("unusual-hour threshold from the configuration")
    func unusualHourConfigured() {
        var config = DetectionConfig()
        config.unusualHour.minHistory = 1_000
        var engine = DetectionEngine(config: config)
        _ = engine.run(history("judy"))
        #expect(engine.run([success("judy", from: "10.1.1.5", at: t0 + 15 * 3_600_000)]).of(.unusualHour).isEmpty)
    }

    @Test("failures against root: 3 within 300 s; sudo to root by someone who never escalated")
    func privileged() throws {
        var engine = DetectionEngine()
        let found = engine.run((0..<3).map { failure("root", from: "45.9.9.9", at: t0 + seconds(Double($0) * 60)) })
        let a = try #require(found.of(.privilegedAccount).first)
        #expect(a.severity == .high)
        #expect(found.of(.bruteForce).isEmpty)

        var warm = DetectionEngine()
        // Without a model, escalations are judged only after a baseline of activity.
        _ = warm.run(
            (0..<1_100).map { i in
                var e = LogEvent(timestamp: t0 - 86_400_000 + Int64(i) * 1000, kind: .unknown, template: "cron")
                e.fingerprint = UInt64(i)
                return e
            })
        var sudo = LogEvent(timestamp: t0, kind: .sudo, outcome: .success, user: "mallory", template: "sudo:command")
        sudo.targetUser = "root"
        sudo.command = "/bin/bash"
        let escalation = try #require(warm.run([sudo]).of(.privilegedAccount).first)
        #expect(
            escalation.summary
                == "mallory became root with sudo for the first time (0 earlier escalations in the profile): /bin/bash")
        #expect(escalation.mitre?.techniqueID == "T1548.003")
        sudo.timestamp += 600_000
        #expect(warm.run([sudo]).of(.privilegedAccount).isEmpty)  // routine now
        var refused = sudo
        refused.outcome = .failure
        refused.user = "trent"
        refused.timestamp += 1
        #expect(warm.run([refused]).of(.privilegedAccount).first?.severity == .medium)
    }
}

@Suite("Rare events, volume spikes, impossible travel")
struct RareVolumeTravelTests {
    @Test("a never-seen template after 1,000 events is reported once a day; common ones are not")
    func rare() throws {
        var engine = DetectionEngine()
        let common = (0..<1_000).map { i in
            var e = LogEvent(timestamp: t0 + Int64(i) * 1000, kind: .unknown, template: "cron: job ran")
            e.fingerprint = UInt64(i)
            return e
        }
        #expect(engine.run(common).of(.rareEvent).isEmpty)
        var weird = LogEvent(timestamp: t0 + 2_000_000, kind: .unknown, template: "kernel: segfault at <HEX>")
        weird.service = "kernel"
        let a = try #require(engine.run([weird]).of(.rareEvent).first)
        #expect(a.severity == .medium)
        #expect(
            a.summary == "Never-seen kind of message from kernel (0 of 1000 earlier events): kernel: segfault at <HEX>")
        weird.timestamp += 60_000
        #expect(engine.run([weird]).of(.rareEvent).isEmpty)
    }

    @Test("a burst far above the entity's own history is a spike; a steady rate is not")
    func volume() throws {
        var engine = DetectionEngine()
        // Two events every 5 minutes for 3 hours…
        let steady = (0..<72).map { i in success("kim", from: "10.2.2.2", at: t0 + Int64(i) * 150_000) }
        #expect(engine.run(steady).of(.volumeSpike).isEmpty)
        // …then 120 in five minutes.
        let burst = (0..<120).map { i in success("kim", from: "10.2.2.2", at: t0 + 10_800_000 + Int64(i) * 2_000) }
        let spikes = engine.run(burst).of(.volumeSpike)
        #expect(spikes.count == 2)  // the user and the address
        let a = try #require(spikes.first { $0.entity.kind == .user })
        #expect(Dictionary(uniqueKeysWithValues: a.evidence)["threshold"] == .int(50))
    }

    @Test(
        "an entity's own baseline, computed once its count reaches the floor, gives the threshold and the crossing event that computing it when the bucket opens gives"
    )
    func ownBaselineComputedLate() throws {
        // Two hours of a busy service account: 30–50 logins in each 5-minute bucket…
        var rng = SeededRandom(seed: 5)
        var events: [LogEvent] = []
        var history: [UInt32] = []
        for bucket in 0..<24 {
            let n = 30 + Int(rng.next() % 21)
            history.append(UInt32(n))
            for i in 0..<n {
                events.append(success("svc", from: "10.9.9.9", at: t0 + Int64(bucket) * 300_000 + Int64(i) * 5_000))
            }
        }
        // …then 400 in the next.
        let burst = t0 + 24 * 300_000
        for i in 0..<400 { events.append(success("svc", from: "10.9.9.9", at: burst + Int64(i) * 700)) }
        var lazy = DetectionEngine()
        let found = lazy.run(events)
        // Snapshotted and restored after every event, no baseline is ever pending (a snapshot
        // holds them computed): what computing each at its bucket's opening finds.
        var eager = DetectionEngine()
        var again: [Anomaly] = []
        for event in events {
            again += eager.process(event)
            let bytes = eager.snapshot()
            eager = DetectionEngine()
            try eager.restore(bytes)
        }
        #expect(found.map(AnomalyJSON.encode) == again.map(AnomalyJSON.encode))
        #expect(lazy.snapshot() == eager.snapshot())
        let threshold = RateBaseline.of(history: history).threshold(k: 8, floor: 50)
        #expect(threshold > 50, "the account's own baseline, not the floor")
        let spike = try #require(found.of(.volumeSpike).first { $0.entity.kind == .user })
        #expect(Dictionary(uniqueKeysWithValues: spike.evidence)["threshold"] == .int(threshold))
        #expect(spike.eventTime == burst + Int64(threshold - 1) * 700, "found at the event that crossed it")
    }

    @Test("two far-apart places faster than 1,000 km/h is impossible travel; a plausible trip is not")
    func travel() throws {
        var engine = DetectionEngine()
        let found = engine.run([
            success("lee", from: "10.0.0.1", at: t0, country: "DE"),
            success("lee", from: "45.0.0.1", at: t0 + 30 * 60_000, country: "RU"),
        ])
        let a = try #require(found.of(.impossibleTravel).first)
        #expect(a.summary.hasPrefix("lee seen in RU 30 minutes after DE: "))
        var trip = DetectionEngine()
        #expect(
            trip.run([
                success("lee", from: "10.0.0.1", at: t0, country: "DE"),
                success("lee", from: "45.0.0.1", at: t0 + 10 * 3_600_000, country: "RU"),
            ]).of(.impossibleTravel).isEmpty)
        // Coordinates win over countries.
        var near = DetectionEngine()
        var a1 = success("lee", from: "10.0.0.1", at: t0)
        a1.latitude = 52.5
        a1.longitude = 13.4
        var a2 = success("lee", from: "10.0.0.2", at: t0 + 60_000)
        a2.latitude = 52.52
        a2.longitude = 13.41
        #expect(near.run([a1, a2]).of(.impossibleTravel).isEmpty)
    }
}

@Suite("Engine properties")
struct EngineTests {
    @Test("the same events give the same anomalies, byte for byte, with stable ids")
    func deterministic() {
        let events =
            (0..<40).map { failure("u\($0 % 12)", from: "203.0.113.\($0 % 3)", at: t0 + seconds(Double($0) * 3)) }
            + [success("u1", from: "203.0.113.1", at: t0 + seconds(200))]
        var a = DetectionEngine()
        var b = DetectionEngine()
        let first = a.run(events).map { AnomalyJSON.encode($0) }
        let second = b.run(events).map { AnomalyJSON.encode($0) }
        #expect(!first.isEmpty)
        #expect(first == second)
    }

    @Test("ids depend on detector, entity and the record fingerprint (its bytes and position)")
    func ids() {
        let id1 = Anomaly.makeID(detector: .bruteForce, entity: Entity(.user, "a"), fingerprint: 1)
        #expect(id1 == Anomaly.makeID(detector: .bruteForce, entity: Entity(.user, "a"), fingerprint: 1))
        #expect(id1 != Anomaly.makeID(detector: .bruteForce, entity: Entity(.user, "a"), fingerprint: 2))
        #expect(id1 != Anomaly.makeID(detector: .passwordSpraying, entity: Entity(.user, "a"), fingerprint: 1))
        #expect(id1.hasPrefix("vgl-") && id1.count == 20)
    }

    @Test("state stays bounded under a million distinct source addresses")
    func bounded() {
        var config = DetectionConfig()
        config.maxEntities = 10_000
        var engine = DetectionEngine(config: config)
        for i in 0..<200_000 {
            _ = engine.process(
                failure("root", from: "10.\(i >> 16 & 255).\(i >> 8 & 255).\(i & 255)", at: t0 + Int64(i)))
        }
        #expect(engine.statistics.evictions > 0)
        #expect(engine.statistics.events == 200_000)
    }

    @Test("the LRU map evicts least recently used entries and expires idle ones")
    func lru() {
        var map = LRUMap<Int>(capacity: 3)
        for k in 0..<3 { map.update(UInt64(k), time: Int64(k), make: { 0 }) { $0 += 1 } }
        map.update(0, time: 10, make: { 0 }) { $0 += 1 }  // 0 is now the most recent
        map.update(3, time: 11, make: { 0 }) { $0 += 1 }  // evicts 1
        #expect(map.peek(1) == nil)
        #expect(map.peek(0) == 2)
        #expect(map.count == 3)
        map.expire(before: 10)  // drops 2
        #expect(map.peek(2) == nil)
        #expect(map.count == 2)
    }
}
