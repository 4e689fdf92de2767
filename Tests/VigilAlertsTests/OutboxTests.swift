import Foundation
import Logging
import Testing
import VigilTesting

@testable import VigilAlerts

/// The on-disk outbox through which `vigil batch` and `vigil serve` use the sinks: in process
/// against loopback receivers, then the real commands (kill -9 included).
@Suite("Alert outbox: the batch processor and the API on the same sinks", .serialized)
struct OutboxTests {
    static let logger = Logger(label: "vigil.test.outbox")

    static func webhook(_ receiver: Receiver, name: String, path: String = "/hook") throws -> WebhookSink {
        var configuration = WebhookSink.Configuration(url: receiver.url + path, secret: WebhookTests.secret)
        configuration.name = name
        return try WebhookSink(configuration)
    }

    static var quickPolicy: DeliveryPolicy {
        var policy = DeliveryPolicy()
        policy.initialDelay = .milliseconds(50)
        policy.giveUpAfter = .seconds(3)
        policy.linger = .milliseconds(5)
        return policy
    }

    static func write(_ alerts: [Alert], to outbox: AlertOutbox, extra: [String] = []) throws -> String {
        let segment = try outbox.segment(tag: "test")
        for alert in alerts { segment.add(json: alert.json) }
        for line in extra { segment.add(json: Array(line.utf8)) }
        try segment.commit()
        return segment.name
    }

    /// A delivery of `outbox` to one webhook sink `soc` at `receiver`.
    static func delivery(
        _ outbox: AlertOutbox, to receiver: Receiver, shutdownTimeout: Duration = .seconds(20)
    ) throws -> OutboxDelivery {
        OutboxDelivery(
            outbox: outbox, sinks: [try webhook(receiver, name: "soc")], policy: quickPolicy, logger: logger,
            shutdownTimeout: shutdownTimeout)
    }

    /// How often each alert id reached `receiver`.
    static func counts(_ receiver: Receiver) -> [String: Int] {
        ids(receiver).reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
    }

    static func ids(_ receiver: Receiver, path: String = "/hook") -> [String] {
        receiver.requests.filter { $0.path == path }.compactMap { $0.headers["webhook-id"] }
    }

    static func undelivered(_ outbox: AlertOutbox) -> [[String: Any]] {
        let text = (try? String(contentsOfFile: outbox.undeliveredPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    @Test(
        "every alert to every sink once; a sink that refuses gives up into undelivered.ndjson; the segment and its journal are removed"
    )
    func deliverAndGiveUp() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let receiver = try await Receiver.start()
        let refusing = try await Receiver.start()
        refusing.fallback(.init(status: 400, body: "{\"error\":\"schema\"}"))
        receiver.script([.init(status: 503), .init(status: 429, headers: ["Retry-After": "1"])])
        let outbox = try AlertOutbox(directory: dir)
        let alerts = (0..<10).map { Alerts.make($0) }
        _ = try Self.write(alerts, to: outbox)
        let delivery = OutboxDelivery(
            outbox: outbox,
            sinks: [try Self.webhook(receiver, name: "soc"), try Self.webhook(refusing, name: "siem")],
            policy: Self.quickPolicy, logger: Self.logger)
        let totals = await delivery.deliverAll()

        #expect(totals.delivered == 10 && totals.gaveUp == 10 && totals.segments == 1, "\(totals)")
        let delivered = Self.ids(receiver)
        // The two scripted refusals were retried: every alert exactly once in the end.
        #expect(Set(delivered) == Set(alerts.map(\.id)))
        #expect(receiver.requests.filter { $0.path == "/hook" && $0.headers["webhook-id"] != nil }.count == 12)
        let dead = Self.undelivered(outbox)
        #expect(dead.count == 10)
        #expect(dead.allSatisfy { $0["sink"] as? String == "siem" && ($0["reason"] as? String ?? "").contains("400") })
        #expect(Set(dead.compactMap { ($0["anomaly"] as? [String: Any])?["id"] as? String }) == Set(alerts.map(\.id)))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0 != "undelivered.ndjson" }
        #expect(left.isEmpty, "\(left)")
        await receiver.stop()
        await refusing.stop()
    }

    @Test("a delivery stopped midway resumes with only the alerts that had no result; none is sent twice")
    func resumeAfterStop() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 200, delay: .milliseconds(60)))
        let outbox = try AlertOutbox(directory: dir)
        let alerts = (0..<30).map { Alerts.make(200 + $0) }
        let name = try Self.write(alerts, to: outbox)
        let first = try Self.delivery(outbox, to: receiver, shutdownTimeout: .milliseconds(1))
        let running = Task { await first.deliverAll() }
        for _ in 0..<200 where Self.ids(receiver).count < 8 { try await Task.sleep(for: .milliseconds(10)) }
        first.stop()
        let totals = await running.value
        #expect(totals.delivered >= 8 && totals.delivered < 30, "\(totals)")
        #expect(outbox.released() == [name], "the unfinished segment stays")
        #expect(outbox.finished(name).count == totals.delivered, "journalled as they came")

        receiver.fallback(.init(status: 200))
        let second = try Self.delivery(outbox, to: receiver)
        let rest = await second.deliverAll()
        let counts = Self.counts(receiver)
        #expect(Set(counts.keys) == Set(alerts.map(\.id)))
        #expect(counts.values.allSatisfy { $0 == 1 }, "sent twice: \(counts.filter { $0.value > 1 })")
        #expect(rest.delivered == 30 - totals.delivered && outbox.released().isEmpty)
        await receiver.stop()
    }

    @Test("a torn journal line, an orphan journal and a damaged segment line: read safely, nothing lost or repeated")
    func damagedFiles() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let receiver = try await Receiver.start()
        let outbox = try AlertOutbox(directory: dir)
        let alerts = (0..<3).map { Alerts.make(300 + $0) }
        let name = try Self.write(alerts, to: outbox, extra: ["{\"id\":\"not an anomaly\""])
        // The first alert was delivered before a crash that tore the next journal line.
        try "delivered\tsoc\t\(alerts[0].id)\ndeliv".write(
            toFile: "\(dir)/\(name).journal", atomically: true, encoding: .utf8)
        try "delivered\tsoc\tvgl-old\n".write(
            toFile: "\(dir)/0000000000001-1-000001-gone.journal", atomically: true, encoding: .utf8)
        let delivery = try Self.delivery(outbox, to: receiver)
        let totals = await delivery.deliverAll()
        #expect(Self.ids(receiver).sorted() == [alerts[1].id, alerts[2].id])
        #expect(totals.unreadable == 1 && totals.delivered == 2)
        let dead = Self.undelivered(outbox)
        #expect(dead.count == 1 && dead.first?["sink"] as? String == "outbox")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["undelivered.ndjson"])
        await receiver.stop()
    }

    // MARK: The commands

    /// sshd lines of `sources` addresses each failing 8 times for root within 16 s: a brute
    /// force per address (and more) — one anomaly per webhook request.
    static func attackLog(sources: Int) -> String {
        var lines: [String] = []
        for source in 0..<sources {
            for attempt in 0..<8 {
                lines.append(
                    String(
                        format:
                            "Dec  1 10:%02d:%02d web1 sshd[%d]: Failed password for root from 198.51.%d.%d port %d ssh2",
                        source / 3, (source % 3) * 20 + attempt * 2, 4000 + source, source / 200, source % 200 + 1,
                        40000 + attempt))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The anomaly ids in a batch output folder's reports.
    static func reportedIDs(_ output: String) throws -> [String] {
        let reports = "\(output)/reports"
        return try FileManager.default.contentsOfDirectory(atPath: reports).flatMap { name -> [String] in
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(reports)/\(name)"))
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            return (object?["anomalies"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
    }

    @Test(
        "vigil batch --alerts: killed (-9) mid-delivery, the next run sends the rest — every anomaly delivered, repeats only of the send in flight"
    )
    func batchKillMidDelivery() async throws {
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 200, delay: .milliseconds(150)))
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/logs", withIntermediateDirectories: true)
        try Self.attackLog(sources: 30).write(toFile: "\(dir)/logs/auth.log", atomically: true, encoding: .utf8)
        try """
        give_up_after_s: 60
        retry_initial_ms: 100
        sinks:
          - type: webhook
            name: soc
            url: \(receiver.url)/hook
            secret: \(WebhookTests.secret)
        """.write(toFile: "\(dir)/alerts.yml", atomically: true, encoding: .utf8)
        let arguments = [
            "--log-dir", "\(dir)/logs", "--output-dir", "\(dir)/out", "--once", "--alerts", "\(dir)/alerts.yml",
            "--settle-seconds", "0",
        ]
        let first = try StreamHarness.StreamProcess(command: "batch", arguments: arguments, logPath: "\(dir)/1.log")
        defer { first.killIfRunning() }
        for _ in 0..<400 where Self.ids(receiver).count < 10 { try await Task.sleep(for: .milliseconds(25)) }
        first.kill9()
        _ = await first.wait(timeout: .seconds(10))
        let beforeKill = Self.ids(receiver)
        let reported = try Self.reportedIDs("\(dir)/out")
        #expect(
            reported.count > beforeKill.count, "\(reported.count) anomalies, \(beforeKill.count) sent:\n\(first.log)")

        receiver.fallback(.init(status: 200))
        let second = try StreamHarness.StreamProcess(command: "batch", arguments: arguments, logPath: "\(dir)/2.log")
        defer { second.killIfRunning() }
        #expect(await second.wait(timeout: .seconds(60)) == 0, "\(second.log)")
        #expect(!second.log.contains("auth.log: new"), "analysed again:\n\(second.log)")
        let counts = Self.counts(receiver)
        #expect(Set(counts.keys) == Set(reported), "lost after kill -9:\n\(second.log)")
        let repeated = counts.filter { $0.value > 1 }
        // A webhook carries one alert per request, sent one at a time: at most the one in flight.
        #expect(repeated.count <= 1, "sent again: \(repeated)")
        print(
            "batch alert kill test: \(reported.count) anomalies, \(beforeKill.count) sent before kill -9, \(repeated.count) sent again"
        )

        // A third run: nothing new, nothing sent.
        let sent = receiver.requests.count
        let third = try StreamHarness.StreamProcess(command: "batch", arguments: arguments, logPath: "\(dir)/3.log")
        defer { third.killIfRunning() }
        #expect(await third.wait(timeout: .seconds(60)) == 0, "\(third.log)")
        #expect(receiver.requests.count == sent)
        #expect(third.log.contains("alerts: 0 delivered, 0 given up"), "\(third.log)")
        await receiver.stop()
    }

    @Test("vigil batch --alerts: a sink that refuses exits 1 with the anomalies in undelivered.ndjson")
    func batchGiveUp() async throws {
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 403, body: "forbidden"))
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/logs", withIntermediateDirectories: true)
        try Self.attackLog(sources: 2).write(toFile: "\(dir)/logs/auth.log", atomically: true, encoding: .utf8)
        try """
        sinks:
          - type: webhook
            url: \(receiver.url)/hook
            secret: \(WebhookTests.secret)
        """.write(toFile: "\(dir)/alerts.yml", atomically: true, encoding: .utf8)
        let run = try StreamHarness.StreamProcess(
            command: "batch",
            arguments: ["--log-dir", "\(dir)/logs", "--output-dir", "\(dir)/out", "--once", "--settle-seconds", "0"],
            logPath: "\(dir)/1.log", environment: ["VIGIL_ALERTS_CONFIG": "\(dir)/alerts.yml"])
        defer { run.killIfRunning() }
        #expect(await run.wait(timeout: .seconds(60)) == 1, "\(run.log)")
        let outbox = try AlertOutbox(directory: "\(dir)/out/alerts")
        let dead = Self.undelivered(outbox)
        #expect(dead.count == (try Self.reportedIDs("\(dir)/out")).count && !dead.isEmpty)
        #expect(dead.allSatisfy { ($0["reason"] as? String ?? "").contains("403") })
        #expect(run.log.contains("given up (in \(dir)/out/alerts/undelivered.ndjson)"), "\(run.log)")
        await receiver.stop()
    }

    @Test(
        "vigil serve --alerts: answered anomalies reach the sink once (a cached repeat is not re-sent); after kill -9 with the sink down, the restarted server delivers them"
    )
    func serveAlerts() async throws {
        let receiver = try await Receiver.start()
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        give_up_after_s: 120
        retry_initial_ms: 100
        sinks:
          - type: webhook
            name: soc
            url: \(receiver.url)/hook
            secret: \(WebhookTests.secret)
        """.write(toFile: "\(dir)/alerts.yml", atomically: true, encoding: .utf8)
        let arguments = ["--alerts", "\(dir)/alerts.yml", "--alerts-outbox", "\(dir)/outbox"]
        let (server, port) = try await VigilServe.start(arguments, log: "\(dir)/1.log")
        defer { server.killIfRunning() }
        let body = Array(Self.attackLog(sources: 3).utf8)
        func analyze(_ body: [UInt8]) async throws -> [String] {
            let reply = try await LoopbackHTTP.send(
                "POST", port: port, path: "/analyze", headers: ["Content-Type": "text/plain"], body: body)
            #expect(reply.status == 200, "\(reply.text)")
            return (reply.json?["anomalies"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        let answered = try await analyze(body)
        #expect(!answered.isEmpty)
        for _ in 0..<100 where Self.ids(receiver).count < answered.count {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Self.ids(receiver).sorted() == answered.sorted())
        _ = try await analyze(body)  // the cache answers: the same anomalies, not alerted again
        try await Task.sleep(for: .seconds(1))
        #expect(Self.ids(receiver).count == answered.count)

        // The sink goes down; the next answers wait in the outbox; the server is killed.
        receiver.fallback(.init(status: 503))
        // A different body: not cached. Its first records are the first request's, so some ids
        // are the same (ids derive from the content): those are alerted again, identifiably.
        let later = try await analyze(Array(Self.attackLog(sources: 5).utf8))
        #expect(!Set(later).subtracting(answered).isEmpty)
        try await Task.sleep(for: .milliseconds(500))
        server.kill9()
        _ = await server.wait(timeout: .seconds(10))
        #expect(Self.ids(receiver).count > answered.count, "the sink was tried before the kill")
        let mark = receiver.requests.count
        receiver.fallback(.init(status: 200))
        let (again, _) = try await VigilServe.start(arguments, log: "\(dir)/2.log")
        defer { again.killIfRunning() }
        // Requests answered 200: those after the restart.
        func delivered() -> [String] { receiver.requests.dropFirst(mark).compactMap { $0.headers["webhook-id"] } }
        for _ in 0..<200 where Set(delivered()) != Set(later) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Set(delivered()) == Set(later), "lost after kill -9:\n\(again.log)")
        #expect(delivered().count == later.count, "sent twice after the restart")
        again.terminate()
        #expect(await again.wait(timeout: .seconds(30)) == 0, "\(again.log)")
        await receiver.stop()
    }
}
