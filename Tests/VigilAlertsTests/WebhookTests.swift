import Foundation
import Synchronization
import Testing
import VigilDetection
import VigilTesting

@testable import VigilAlerts

/// Anomalies as `vigil stream` publishes them, for the sinks.
enum Alerts {
    static func make(_ index: Int, severity: Severity = .high, detector: String = "brute_force") -> Alert {
        let json = """
            {"schema_version":"1.1","id":"vgl-\(String(format: "%016x", 0xabc000 + index))","detector":"\(detector)","severity":"\(severity.rawValue)","score":0.9,\
            "entity":{"type":"source_ip","value":"203.0.113.\(index % 250)"},"user":"root","source_ip":"203.0.113.\(index % 250)","host":"web1",\
            "event_time":"2026-12-01T10:00:\(String(format: "%02d", index % 60))Z","summary":"8 failed logins from 203.0.113.\(index % 250) within 120 s",\
            "evidence":{"failures":8,"window_s":120,"users":["root","admin"]},\
            "mitre":{"tactic":"Credential Access","technique_id":"T1110.001","technique":"Brute Force: Password Guessing"},\
            "event":{"timestamp":"2026-12-01T10:00:00Z","kind":"auth","outcome":"failure","message":"Failed password for root"}}
            """
        do { return try Alert(json: Array(json.utf8)) } catch { preconditionFailure("\(error)") }
    }

    /// Delivers `alerts` through a runner and waits for every result.
    static func deliver(
        _ alerts: [Alert], sink: any AlertSink, policy: DeliveryPolicy
    ) async -> [String: AlertDelivery] {
        let runner = SinkRunner(sink: sink, policy: policy)
        let results = Results()
        let running = Task { await runner.run() }
        for alert in alerts { await runner.submit(alert) { results.add(alert.id, $0) } }
        let deadline = ContinuousClock.now + policy.giveUpAfter + .seconds(30)
        while results.count < alerts.count && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await runner.stop()
        await running.value
        return results.all
    }
}

final class Results: Sendable {
    private let values = Mutex<[String: AlertDelivery]>([:])
    func add(_ id: String, _ result: AlertDelivery) { values.withLock { $0[id] = result } }
    var count: Int { values.withLock { $0.count } }
    var all: [String: AlertDelivery] { values.withLock { $0 } }
}

@Suite("Signed webhooks (Standard Webhooks), retries and give-up", .serialized)
struct WebhookTests {
    static let secret = "whsec_" + Data("vigil-test-signing-key-0123456789".utf8).base64EncodedString()

    static func sink(
        _ receiver: Receiver, timeout: Duration = .seconds(5), filter: AlertFilter = AlertFilter()
    ) throws
        -> WebhookSink
    {
        var configuration = WebhookSink.Configuration(url: "\(receiver.url)/hooks/vigil", secret: secret)
        configuration.filter = filter
        return try WebhookSink(configuration, http: HTTPSender(timeout: timeout))
    }

    static func fastPolicy(giveUpAfter: Duration = .seconds(20)) -> DeliveryPolicy {
        var policy = DeliveryPolicy()
        policy.initialDelay = .milliseconds(100)
        policy.maxDelay = .seconds(1)
        policy.linger = .milliseconds(10)
        policy.giveUpAfter = giveUpAfter
        return policy
    }

    @Test("every delivery verifies with the standardwebhooks package; the body is the anomaly as published")
    func signatures() async throws {
        let receiver = try await Receiver.start()
        let alerts = (0..<5).map { Alerts.make($0) }
        let results = await Alerts.deliver(alerts, sink: try Self.sink(receiver), policy: Self.fastPolicy())
        #expect(results.values.allSatisfy { $0 == .delivered(attempts: 1) }, "\(results)")
        let requests = receiver.requests
        #expect(requests.count == 5)
        #expect(
            Set(requests.map { String(decoding: $0.body, as: UTF8.self) })
                == Set(alerts.map { String(decoding: $0.json, as: UTF8.self) }))
        #expect(requests.allSatisfy { $0.path == "/hooks/vigil" && $0.headers["content-type"] == "application/json" })
        #expect(Set(requests.compactMap { $0.headers["webhook-id"] }) == Set(alerts.map(\.id)))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-webhooks-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let captured = requests.map {
            ["headers": $0.headers, "body_base64": Data($0.body).base64EncodedString()] as [String: Any]
        }
        try JSONSerialization.data(withJSONObject: captured).write(to: file)
        let (status, output) = try await ChildProcess.run(
            RepositoryFiles.python, [RepositoryFiles.path("scripts/verify-webhooks.py"), Self.secret, file.path])
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: "verified vgl-").count - 1 == 5, "\(output)")
        #expect(output.contains("tampered body refused"), "\(output)")
        await receiver.stop()
    }

    @Test(
        "429 with Retry-After is honoured; 500s and a timeout are retried with the same webhook-id; 400 is not retried")
    func retries() async throws {
        let receiver = try await Receiver.start()
        receiver.script([
            .init(status: 429, headers: ["Retry-After": "1"], body: #"{"error":"slow down"}"#),
            .init(status: 500), .init(status: 503),
        ])
        let first = await Alerts.deliver([Alerts.make(1)], sink: try Self.sink(receiver), policy: Self.fastPolicy())
        #expect(first.values.first == .delivered(attempts: 4), "\(first)")
        let times = receiver.requests.map(\.at)
        #expect(times.count == 4)
        if times.count == 4 { #expect(times[1] - times[0] >= .milliseconds(990), "Retry-After: 1 not honoured") }
        #expect(
            Set(receiver.requests.compactMap { $0.headers["webhook-id"] }).count == 1, "a retry is the same message")

        // A receiver slower than the sink's timeout: the attempt is abandoned and retried.
        receiver.script([.init(status: 200, delay: .seconds(2))])
        let slow = await Alerts.deliver(
            [Alerts.make(2)], sink: try Self.sink(receiver, timeout: .milliseconds(500)), policy: Self.fastPolicy())
        #expect(slow.values.first == .delivered(attempts: 2), "\(slow)")

        receiver.script([.init(status: 400, body: #"{"error":"bad payload"}"#)])
        let refused = await Alerts.deliver([Alerts.make(3)], sink: try Self.sink(receiver), policy: Self.fastPolicy())
        guard case .gaveUp(let reason, let attempts) = refused.values.first else {
            Issue.record("400 was not refused: \(refused)")
            return
        }
        #expect(attempts == 1)
        #expect(reason.contains("HTTP 400") && reason.contains("bad payload"), "\(reason)")
        await receiver.stop()
    }

    @Test(
        "a receiver that stays down is given up at the deadline, with the reason; one that comes back gets everything")
    func downAndBack() async throws {
        let receiver = try await Receiver.start()
        let port = receiver.port
        await receiver.stop()
        // Nothing listens on the port now: connection refused, retried until the deadline.
        var configuration = WebhookSink.Configuration(url: "http://127.0.0.1:\(port)/hook", secret: Self.secret)
        configuration.name = "webhook:down"
        let dead = try WebhookSink(configuration, http: HTTPSender(timeout: .seconds(1)))
        let started = ContinuousClock.now
        let results = await Alerts.deliver(
            [Alerts.make(4)], sink: dead, policy: Self.fastPolicy(giveUpAfter: .seconds(2)))
        guard case .gaveUp(let reason, let attempts) = results.values.first else {
            Issue.record("not given up: \(results)")
            return
        }
        #expect(attempts >= 2, "retried before giving up")
        #expect(reason.contains("gave up after"), "\(reason)")
        #expect(ContinuousClock.now - started < .seconds(10))

        // Down for a while (503s), then back: every alert delivered once, none lost.
        let back = try await Receiver.start()
        back.script(Array(repeating: .init(status: 503), count: 12))
        let alerts = (10..<20).map { Alerts.make($0) }
        let delivered = await Alerts.deliver(alerts, sink: try Self.sink(back), policy: Self.fastPolicy())
        #expect(delivered.count == 10)
        #expect(delivered.values.allSatisfy { if case .delivered = $0 { true } else { false } }, "\(delivered)")
        let accepted = back.requests.suffix(10).compactMap { $0.headers["webhook-id"] }
        #expect(Set(accepted) == Set(alerts.map(\.id)))
        await back.stop()
    }

    @Test("the filter: below the minimum severity or another detector is not sent")
    func filter() async throws {
        let receiver = try await Receiver.start()
        let sink = try Self.sink(receiver, filter: AlertFilter(minimumSeverity: .high, detectors: ["brute_force"]))
        let alerts = [
            Alerts.make(1, severity: .medium), Alerts.make(2, severity: .critical),
            Alerts.make(3, severity: .high, detector: "new_source"),
        ]
        let results = await Alerts.deliver(alerts, sink: sink, policy: Self.fastPolicy())
        #expect(results.count == 3)
        #expect(receiver.requests.compactMap { $0.headers["webhook-id"] } == [alerts[1].id])
        await receiver.stop()
    }

    @Test("a configuration that cannot work is refused with the reason")
    func configuration() {
        #expect(throws: SinkConfigurationError.self) {
            try WebhookSink(.init(url: "ftp://example", secret: Self.secret))
        }
        #expect(throws: SinkConfigurationError.self) {
            try WebhookSink(.init(url: "http://127.0.0.1:1/x", secret: "whsec_not base64!"))
        }
    }

    @Test("the retry delay doubles to its cap, adds jitter, and never undercuts Retry-After")
    func backoff() {
        var policy = DeliveryPolicy()
        policy.initialDelay = .milliseconds(100)
        policy.maxDelay = .milliseconds(800)
        policy.jitter = 0.5
        #expect(policy.delay(attempt: 1, requested: nil, random: 0) == .milliseconds(100))
        #expect(policy.delay(attempt: 3, requested: nil, random: 0) == .milliseconds(400))
        #expect(policy.delay(attempt: 9, requested: nil, random: 0) == .milliseconds(800))
        #expect(policy.delay(attempt: 9, requested: nil, random: 1) == .milliseconds(1200))
        #expect(policy.delay(attempt: 1, requested: .seconds(5), random: 1) == .seconds(5))
    }

    @Test("an anomaly decodes for routing: fields, evidence in order, ATT&CK link; a record that is not one is refused")
    func decoding() throws {
        let alert = Alerts.make(7)
        #expect(alert.severity == .high && alert.detector == "brute_force" && alert.sourceIP == "203.0.113.7")
        #expect(alert.evidence.map(\.name) == ["failures", "window_s", "users"])
        #expect(alert.evidence.last?.value == "root, admin")
        #expect(alert.attackURL == "https://attack.mitre.org/techniques/T1110/001/")
        #expect(throws: Alert.DecodeError.self) { try Alert(json: Array("[1]".utf8)) }
        #expect(throws: Alert.DecodeError.self) {
            try Alert(
                json: Array(#"{"id":"x","detector":"d","severity":"extreme","event_time":"2026-12-01T00:00:00Z"}"#.utf8)
            )
        }
    }
}
