import Testing
import VigilTesting

@testable import VigilDetection

@Suite("Repartitioned detection: the event codec and the engines of both stages")
struct RepartitionTests {
    @Test("every event kind has a wire code")
    func kinds() {
        #expect(Set(EventCodec.kinds) == Set(EventKind.allCases) && EventCodec.kinds.count == EventKind.allCases.count)
    }

    @Test("events parsed from real formats survive the codec, field for field")
    func roundTrip() throws {
        var lines = multiHostAuthLog()
        lines += [
            #"{"@timestamp":"2026-11-25T10:00:00Z","event":{"action":"logon-failed","outcome":"failure"},"user":{"name":"ana"},"source":{"ip":"2001:db8::5","port":50111,"geo":{"country_iso_code":"PT","location":{"lat":38.7,"lon":-9.1}}},"user_agent":{"original":"curl/8"},"host":{"name":"idp1"}}"#,
            "Nov 25 09:15:02 web1 sshd[4211]: message repeated 5 times: [ Failed password for root from 198.51.100.7 port 52314 ssh2]",
            "<38>1 2026-11-25T06:55:46.003Z host sshd 24200 - - Failed password for ünïcode from 192.0.2.1 port 1 ssh2",
        ]
        var text = lines.joined(separator: "\n")
        let events = text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: reference)).events }
        #expect(events.count >= lines.count - 1)
        for event in events {
            let bytes = EventCodec.encode(event)
            #expect(try EventCodec.decode(bytes) == event)
        }
        // Decoded into one reused event (as the detect stage does), each over a different one:
        // no field of the one before may survive.
        var reused = LogEvent(timestamp: 0, kind: .unknown)
        var texts = TextInterner()
        for event in events + events.reversed() {
            let bytes = EventCodec.encode(event)
            let used = try bytes.withUnsafeBytes { raw throws(EventCodec.DecodeError) in
                try EventCodec.decode(raw, into: &reused)
            }
            #expect(used == bytes.count)
            #expect(reused == event)
            // The message deferred, recurring texts interned (as the detect stage decodes): the rest equal, the message
            // made from the deferred bytes equal.
            var deferred = EventCodec.DeferredText()
            _ = try bytes.withUnsafeBytes { raw throws(EventCodec.DecodeError) in
                try EventCodec.decode(raw, into: &reused, deferringMessageTo: &deferred, interning: &texts)
            }
            #expect(reused.message == nil && deferred.text == event.message)
            reused.message = deferred.text
            #expect(reused == event)
        }
        #expect(events.contains { $0.latitude != nil && $0.country != nil && $0.userAgent != nil })
        #expect(events.contains { $0.repeatCount == 5 && $0.processID == 4211 })
    }

    @Test("interned texts are what decoding the bytes makes: repeated, replaced in their slot, invalid UTF-8")
    func internedTexts() {
        var texts = TextInterner()
        var samples: [[UInt8]] = (0..<5000).map { Array("srv-\($0 % 700).dc\($0 % 3).example.com".utf8) }
        samples += [
            Array("short".utf8), [0x66, 0x6F, 0xFF, 0xFE] + Array(repeating: 0x61, count: 20),
            Array("Failed password for <*> from <IP> port <NUM> ssh2".utf8), Array(repeating: 0x62, count: 16),
        ]
        for bytes in samples + samples.reversed() {
            let made = bytes.withUnsafeBytes { texts.text($0) }
            #expect(made == String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test("damaged encodings are refused with a reason, never a crash")
    func damaged() throws {
        var text = multiHostAuthLog().prefix(50).joined(separator: "\n")
        let events = text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: reference)).events }
        var rng = SeededRandom(seed: 3)
        for event in events {
            let bytes = EventCodec.encode(event)
            for cut in [0, 1, bytes.count / 2, bytes.count - 1] {
                #expect(throws: EventCodec.DecodeError.self) { try EventCodec.decode(Array(bytes.prefix(cut))) }
            }
            var flipped = bytes
            flipped[Int(rng.next(UInt64(bytes.count)))] ^= 0xFF
            _ = try? EventCodec.decode(flipped)  // may decode to another event; must not crash
            var version = bytes
            version[0] = 9
            #expect(throws: EventCodec.DecodeError.self) { try EventCodec.decode(version) }
        }
    }

    /// Routes `events` (spread over `streams` input partitions by `place`) through the
    /// first-stage engines, then delivers each repartition partition's events in the order a
    /// broker serving long runs would: one input partition's whole share after another's.
    private func repartitioned(
        _ events: [LogEvent], streams: Int, partitions: Int, place: (Int) -> Int, replayFirst: Bool = false
    ) -> (anomalies: [Anomaly], duplicates: Int) {
        var routes = (0..<streams).map { _ in DetectionEngine() }
        // Per destination (scope, partition): per input partition, its events in order.
        var queues: [[[(LogEvent, EventOrigin)]]] = Array(
            repeating: Array(repeating: [], count: streams), count: 2 * partitions)
        var offsets = Array(repeating: Int64(0), count: streams)
        var routed: [(stream: Int, event: LogEvent, origin: EventOrigin)] = []
        for (n, event) in events.enumerated() {
            let stream = place(n)
            var resolved = event
            let watermark = routes[stream].resolve(&resolved)
            let origin = EventOrigin(
                stream: UInt64(stream + 1), streams: streams, offset: offsets[stream], index: 0, watermark: watermark)
            offsets[stream] += 1
            routed.append((stream, resolved, origin))
        }
        // One batch per input partition: host names resolved at its end, as the route stage does.
        for (stream, event, origin) in routed {
            var resolved = event
            if let address = routes[stream].address(for: event) { resolved.sourceIP = address }
            let source = resolved.sourceIP ?? resolved.host ?? ""
            queues[Int(StableHash.hash(source) % UInt64(partitions))][stream].append((resolved, origin))
            if let user = resolved.user {
                queues[partitions + Int(StableHash.hash(user) % UInt64(partitions))][stream].append((resolved, origin))
            }
        }
        var found: [Anomaly] = []
        var duplicates = 0
        for (q, perStream) in queues.enumerated() {
            let byUser = q >= partitions
            // Each scope's engine as the stream's detect stage makes it.
            let scope: DetectionConfig.EntityScope = byUser ? .accounts : .sources
            var engine = DetectionEngine(config: DetectionConfig().scoped(to: scope))
            func keep(_ anomaly: Anomaly, _ origin: EventOrigin) {
                if scope.reports(anomaly.entity.kind) { found.append(anomaly) }
            }
            for (stream, share) in perStream.enumerated() {
                // A replay: the first half of partition 0's share arrives twice.
                let delivered = replayFirst && stream == 0 ? share + share.prefix(share.count / 2) : share
                for (event, origin) in delivered {
                    _ = engine.receive(event, from: origin)
                    engine.release(keep)
                }
                // The route stage's heartbeat at the end of its batch.
                engine.advance(
                    stream: UInt64(stream + 1), streams: streams, watermark: routes[stream].repartitionClock.watermark)
                engine.release(keep)
            }
            // Every input partition read to its end: the route stage says so.
            for stream in 0..<streams {
                engine.advance(
                    stream: UInt64(stream + 1), streams: streams, watermark: routes[stream].repartitionClock.watermark,
                    idle: true)
            }
            engine.release(keep)
            #expect(engine.repartitionClock.queued == 0)
            duplicates += engine.statistics.duplicates
        }
        return (found, duplicates)
    }

    private func parsed() -> [LogEvent] {
        var text = multiHostAuthLog().joined(separator: "\n")
        return text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: reference)).events }
    }

    private func keys(_ anomalies: [Anomaly]) -> Set<String> {
        Set(anomalies.map { "\($0.detector.rawValue) \($0.entity.kind.rawValue):\($0.entity.value)" })
    }

    @Test(
        "unkeyed (random partitions) or keyed by host: the anomalies one engine finds on the whole log, by detector and entity",
        arguments: ["random", "host"])
    func sameAnomalies(placement: String) {
        let events = parsed()
        var single = DetectionEngine()
        let expected = keys(events.flatMap { single.process($0) })
        // The scenario's attacks, each found by the single engine.
        for key in [
            "brute_force source_ip_user:root@203.0.113.7", "brute_force source_ip_user:root@198.51.100.23",
            "account_enumeration source_ip:203.0.113.50", "password_spraying source_ip:198.51.100.77",
            "credential_stuffing user:deploy", "success_after_failures user:user5",
        ] {
            #expect(expected.contains(key), "\(key) not found by one engine: \(expected.sorted())")
        }
        var rng = SeededRandom(seed: 11)
        let hosts = events.map { StableHash.hash($0.host ?? "") }
        let result = repartitioned(
            events, streams: 6, partitions: 6,
            place: { n in placement == "random" ? Int(rng.next(6)) : Int(hosts[n] % 6) })
        let found = keys(result.anomalies)
        let extra = found.subtracting(expected)
        if placement == "host" {
            #expect(extra.isEmpty, "only repartitioned: \(extra.sorted())")
        } else {
            // Unkeyed, a connection's PAM line (naming the source by host name) and sshd's line
            // (naming the address) land on different input partitions: nothing ties the name
            // to the address before routing, so the name counts on its own. Only that differs.
            #expect(
                extra.allSatisfy { $0.contains("scanner.example.net") },
                "only repartitioned, not explained by PAM host names: \(extra.sorted())")
        }
        #expect(expected.subtracting(found).isEmpty, "missed: \(expected.subtracting(found).sorted())")
        // Deterministic ids: the same anomalies carry the same ids as the single engine's.
        #expect(result.duplicates == 0)
    }

    @Test(
        "an engine scoped to sources or to accounts reports exactly that side's anomalies of an unscoped engine, with a model and without"
    )
    func scopedEngines() {
        let logs: [(events: [LogEvent], model: DetectionModel?)] = [
            (Fixture.history + Fixture.test, Fixture.model), (parsed(), nil), (Fixture.history + Fixture.test, nil),
        ]
        for (events, model) in logs {
            var all = DetectionEngine(model: model)
            let expected = events.flatMap { all.process($0) }
            #expect(expected.contains { $0.entity.kind == .user } && expected.contains { $0.entity.kind != .user })
            // With a model, outlier scores are among them (their entity is the account if any).
            if model != nil { #expect(expected.contains { $0.detector == .outlier }) }
            for scope in [DetectionConfig.EntityScope.sources, .accounts] {
                var scoped = DetectionEngine(config: DetectionConfig().scoped(to: scope), model: model)
                let found = events.flatMap { scoped.process($0) }.filter { scope.reports($0.entity.kind) }
                let wanted = expected.filter { scope.reports($0.entity.kind) }
                #expect(found.map(AnomalyJSON.encode) == wanted.map(AnomalyJSON.encode), "\(scope), model: \(model != nil)")
            }
        }
    }

    @Test("a replay of the first stage is skipped, not counted twice")
    func replaySkipped() {
        let events = parsed()
        var rng = SeededRandom(seed: 5)
        let once = repartitioned(events, streams: 6, partitions: 6, place: { _ in Int(rng.next(6)) })
        var again = SeededRandom(seed: 5)
        let twice = repartitioned(
            events, streams: 6, partitions: 6, place: { _ in Int(again.next(6)) }, replayFirst: true)
        #expect(twice.duplicates > 0)
        #expect(twice.anomalies.map(\.id) == once.anomalies.map(\.id))
    }

    @Test("snapshots keep the input partitions' clocks and positions")
    func snapshotKeepsClocks() throws {
        var engine = DetectionEngine()
        let event = LogEvent(
            timestamp: reference, kind: .authFailure, outcome: .failure, user: "a", sourceIP: "192.0.2.1")
        let origin = EventOrigin(stream: 9, streams: 2, offset: 5, index: 0, watermark: reference)
        #expect(engine.process(event, from: origin) != nil)
        var restored = DetectionEngine()
        try restored.restore(engine.snapshot())
        #expect(restored.process(event, from: origin) == nil)  // position 5 already processed
        #expect(restored.repartitionClock.known == 1 && restored.repartitionClock.streams == 2)
        // The event waits for the second partition; the clock follows the events processed.
        #expect(restored.repartitionClock.watermark == .min)
        #expect(restored.repartitionClock.queued == 1)
        restored.advance(stream: 10, streams: 2, watermark: reference + 5_000)
        restored.release { _, _ in }
        #expect(restored.repartitionClock.queued == 0)
        #expect(restored.repartitionClock.watermark == reference)
    }

    private func failure(_ t: Int64, user: String, source: String, pid: Int) -> LogEvent {
        var event = LogEvent(timestamp: t, kind: .authFailure, outcome: .failure, user: user, sourceIP: source)
        event.isAttempt = true
        event.processID = pid
        event.host = "web1"
        event.service = "sshd"
        event.fingerprint = UInt64(t)
        return event
    }

    private func success(_ t: Int64, user: String, source: String) -> LogEvent {
        var event = LogEvent(timestamp: t, kind: .authSuccess, outcome: .success, user: user, sourceIP: source)
        event.isAttempt = true
        event.fingerprint = UInt64(t) + 1
        return event
    }

    @Test("a success that arrives before the failures of other partitions is processed after them, in event time")
    func eventTimeOrder() {
        var engine = DetectionEngine()
        // Partition 2's records (the failures, earlier in event time) reach this engine after
        // partition 1's (the success): the broker served partition 1 first.
        let t0 = reference
        let successOrigin = EventOrigin(
            stream: 1, partition: 0, streams: 2, offset: 0, index: 0, watermark: t0 + 70_000)
        var found: [Anomaly] = []
        _ = engine.receive(success(t0 + 70_000, user: "ana", source: "203.0.113.9"), from: successOrigin)
        engine.release { anomaly, _ in found.append(anomaly) }
        #expect(found.isEmpty && engine.repartitionClock.queued == 1, "held until partition 2 is past it")
        for k in 0..<6 {
            let t = t0 + Int64(k) * 10_000
            let origin = EventOrigin(stream: 2, partition: 1, streams: 2, offset: Int64(k), index: 0, watermark: t)
            _ = engine.receive(failure(t, user: "ana", source: "203.0.113.9", pid: 100 + k), from: origin)
            engine.release { anomaly, _ in found.append(anomaly) }
        }
        #expect(!found.contains { $0.detector == .successAfterFailures }, "partition 2 is not past the success yet")
        engine.advance(stream: 2, streams: 2, watermark: t0 + 80_000)
        var origins: [Int32] = []
        engine.release { anomaly, origin in
            found.append(anomaly)
            origins.append(origin.partition)
        }
        let success = found.first { $0.detector == .successAfterFailures }
        #expect(success?.entity.value == "ana", "\(found.map(\.detector))")
        #expect(origins.last == 0, "the anomaly names the success's input partition")
        #expect(engine.repartitionClock.queued == 0)
    }

    @Test("an idle partition does not hold the others back; past the capacity the oldest events go anyway")
    func idleAndCapacity() {
        var engine = DetectionEngine()
        let origin = { (k: Int) in
            EventOrigin(stream: 1, streams: 2, offset: Int64(k), index: 0, watermark: reference + Int64(k))
        }
        for k in 0..<3 {
            _ = engine.receive(failure(reference + Int64(k), user: "bo", source: "192.0.2.1", pid: k), from: origin(k))
        }
        engine.release { _, _ in }
        #expect(engine.repartitionClock.queued == 3, "partition 2 never heard from")
        engine.advance(stream: 2, streams: 2, watermark: .min, idle: true)
        engine.release { _, _ in }
        #expect(engine.repartitionClock.queued == 0)

        var config = DetectionConfig()
        config.reorderCapacity = 10
        var bounded = DetectionEngine(config: config)
        for k in 0..<50 {
            _ = bounded.receive(failure(reference + Int64(k), user: "bo", source: "192.0.2.1", pid: k), from: origin(k))
            bounded.release { _, _ in }
            #expect(bounded.repartitionClock.queued <= 10)
        }
        #expect(bounded.statistics.events == 40)
    }

    @Test("a snapshot keeps the held events: restored mid-stream, the engine finds what an uninterrupted one finds")
    func snapshotKeepsHeldEvents() throws {
        let events = parsed()
        var rng = SeededRandom(seed: 17)
        var offsets = [Int64](repeating: 0, count: 3)
        let deliveries = events.map { event -> (LogEvent, EventOrigin) in
            let stream = Int(rng.next(3))
            defer { offsets[stream] += 1 }
            return (
                event,
                EventOrigin(
                    stream: UInt64(stream), partition: Int32(stream), streams: 3, offset: offsets[stream], index: 0,
                    watermark: event.timestamp)
            )
        }
        func run(restartAt: Int?) throws -> [String] {
            var engine = DetectionEngine()
            var ids: [String] = []
            for (n, (event, origin)) in deliveries.enumerated() {
                if n == restartAt {
                    #expect(engine.repartitionClock.queued > 0, "the restart point must hold events")
                    var restored = DetectionEngine()
                    try restored.restore(engine.snapshot())
                    engine = restored
                }
                _ = engine.receive(event, from: origin)
                engine.release { anomaly, _ in ids.append(anomaly.id) }
            }
            for stream in 0..<3 { engine.advance(stream: UInt64(stream), streams: 3, watermark: .max, idle: true) }
            engine.release { anomaly, _ in ids.append(anomaly.id) }
            return ids
        }
        let whole = try run(restartAt: nil)
        #expect(!whole.isEmpty)
        #expect(try run(restartAt: deliveries.count / 2) == whole)
    }
}
