import Foundation
import Logging
import Testing
import VigilDetection
import VigilKafka
import VigilServers
import VigilTesting

@testable import VigilAlerts

/// `vigil alert` as a process on the local broker, its webhooks received by real HTTP servers
/// in this process, the undelivered topic read by Python's confluent-kafka.
@Suite("vigil alert end to end", .serialized)
struct AlertRouterTests {
    static func config(
        brokers: String, input: String, undelivered: String, group: String, healthy: Receiver, broken: Receiver,
        metricsPort: Int = 0
    ) -> String {
        """
        brokers: \(brokers)
        metrics_port: \(metricsPort)
        group_id: \(group)
        input_topic: \(input)
        undelivered_topic: \(undelivered)
        commit_interval_ms: 300
        retry_initial_ms: 100
        retry_max_ms: 500
        give_up_after_s: 3
        linger_ms: 10
        consumer:
          session.timeout.ms: "6000"
        sinks:
          - type: webhook
            name: soc
            url: \(healthy.url)/hooks/soc
            secret: ${VIGIL_TEST_WEBHOOK_SECRET}
          - type: webhook
            name: pager
            url: \(broken.url)/hooks/pager
            secret: ${VIGIL_TEST_WEBHOOK_SECRET}
            min_severity: critical
        """
    }

    /// The top of an `alerts.yml` for one test's topics and group, up to `sinks:`.
    static func routing(input: String, undelivered: String, group: String) -> String {
        """
        brokers: \(StreamHarness.brokers)
        metrics_port: 0
        group_id: \(group)
        input_topic: \(input)
        undelivered_topic: \(undelivered)
        commit_interval_ms: 300
        consumer:
          session.timeout.ms: "6000"
        sinks:

        """
    }

    @Test(
        "a sink down for a while then back gets every anomaly once; a sink that never recovers sends its share to the undelivered topic; a restart re-sends nothing"
    )
    func downThenBack() async throws {
        let healthy = try await Receiver.start()
        let broken = try await Receiver.start()
        // Down for the first 25 requests (503, Retry-After: 1 on some), then up.
        healthy.script(
            (0..<25).map { $0 % 5 == 0 ? .init(status: 503, headers: ["Retry-After": "1"]) : .init(status: 503) })
        broken.fallback(.init(status: 500, body: #"{"error":"pager down"}"#))
        let (input, _, undelivered, group) = try await StreamHarness.freshTopics(partitions: 2)
        let alerts = (0..<40).map { Alerts.make($0, severity: $0 % 8 == 0 ? .critical : .high) }
        var records = StreamHarness.Input(partitions: 2)
        for (index, alert) in alerts.enumerated() { records.records.append((Int32(index % 2), alert.json)) }
        records.records.append((0, Array("this is not an anomaly".utf8)))
        try await StreamHarness.produce(records, topic: input)

        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/alerts.yml"
        let metricsPort = FreePort.next()
        try Self.config(
            brokers: StreamHarness.brokers, input: input, undelivered: undelivered, group: group, healthy: healthy,
            broken: broken, metricsPort: metricsPort
        ).write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["VIGIL_TEST_WEBHOOK_SECRET": WebhookTests.secret]

        // --print-config masks the secret.
        let printed = try VigilCommand.run(["alert", "--config", file, "--print-config"], environment: environment)
        #expect(printed.status == 0, "\(printed.errors)")
        #expect(!printed.output.contains(WebhookTests.secret.dropFirst(6)) && printed.output.contains("***"))

        let router = try StreamHarness.StreamProcess(
            command: "alert", arguments: ["--config", file], logPath: "\(dir)/alert.log", environment: environment)
        defer { router.killIfRunning() }
        let criticals = alerts.filter { $0.severity == .critical }
        func accepted() -> [String: Int] {
            // The requests answered 200: everything after the scripted 503s.
            var counts: [String: Int] = [:]
            for request in healthy.requests.dropFirst(25) {
                counts[request.headers["webhook-id"] ?? "", default: 0] += 1
            }
            return counts
        }
        for _ in 0..<600 where accepted().count < alerts.count { try await Task.sleep(for: .milliseconds(100)) }
        #expect(Set(accepted().keys) == Set(alerts.map(\.id)), "\(router.log.suffix(3000))")
        #expect(accepted().values.allSatisfy { $0 == 1 }, "an anomaly delivered twice to the healthy receiver")
        let answered = healthy.requests
        if answered.count > 25, let last = answered.last {
            let recovered = answered[25].at
            print(
                "alert router figures: \(alerts.count) anomalies, healthy sink: \(answered.count - 25) delivered after \(25) refused attempts (503), drained \(last.at - recovered) after recovery; pager sink: \(broken.requests.count) attempts for \(criticals.count) critical anomalies, all given up"
            )
        }

        // Everything finished: committed to the end.
        var committed: [Int32: Int64] = [:]
        for _ in 0..<200 {
            committed = try await StreamHarness.committed(group: group, topic: input, partitions: 2)
            if committed[0] == 21 && committed[1] == 20 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(committed[0] == 21 && committed[1] == 20, "committed \(committed)\n\(router.log.suffix(3000))")
        // The delivery figures by sink, scraped from the router's metrics server; ready while routing.
        let metrics = await LoopbackHTTP.get(port: metricsPort, path: "/metrics")?.body ?? ""
        #expect(metrics.contains("vigil_alerts_sent_total{sink=\"soc\"} 40"), "\(metrics.prefix(3000))")
        #expect(metrics.contains("vigil_alerts_failed_total{sink=\"pager\"} 5"), "\(metrics.prefix(3000))")
        #expect(metrics.contains("vigil_alerts_retried_total{sink=\"soc\"}"))
        #expect(await LoopbackHTTP.get(port: metricsPort, path: "/readyz")?.status == 200)
        router.terminate()
        #expect(await router.wait(timeout: .seconds(40)) == 0, "\(router.log.suffix(2000))")

        let letters = try StreamHarness.dump(undelivered, expect: criticals.count + 1)
        #expect(letters.count == criticals.count + 1)
        let pager = letters.filter { ($0.headers["vigil.alert.sink"] ?? nil) == "pager" }
        #expect(
            Set(pager.compactMap { $0.value.flatMap { try? Alert(json: Array($0.utf8)).id } })
                == Set(criticals.map(\.id)))
        #expect(pager.allSatisfy { (($0.headers["vigil.alert.reason"] ?? nil) ?? "").contains("HTTP 500") })
        let garbage = letters.filter { ($0.headers["vigil.alert.sink"] ?? nil) == "router" }
        #expect(garbage.count == 1 && garbage.first?.value == "this is not an anomaly")

        // A restart: nothing was left unfinished, so nothing is sent again.
        let before = healthy.requests.count
        let again = try StreamHarness.StreamProcess(
            command: "alert", arguments: ["--config", file], logPath: "\(dir)/alert2.log", environment: environment)
        defer { again.killIfRunning() }
        for _ in 0..<100 where !again.log.contains("routing") { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(8))  // a join on the local broker takes a few seconds
        #expect(healthy.requests.count == before, "re-sent after a restart:\n\(again.log.suffix(2000))")
        again.terminate()
        #expect(await again.wait(timeout: .seconds(40)) == 0)
        await healthy.stop()
        await broken.stop()
    }

    @Test("kill -9 mid-delivery and restart: nothing lost; only anomalies past the committed offsets are sent again")
    func killMidDelivery() async throws {
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 200, delay: .milliseconds(150)))
        let (input, _, undelivered, group) = try await StreamHarness.freshTopics(partitions: 2)
        let alerts = (0..<60).map { Alerts.make(100 + $0) }
        var records = StreamHarness.Input(partitions: 2)
        for (index, alert) in alerts.enumerated() { records.records.append((Int32(index % 2), alert.json)) }
        try await StreamHarness.produce(records, topic: input)
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/alerts.yml"
        try
            (Self.routing(input: input, undelivered: undelivered, group: group) + """
                  - type: webhook
                    url: \(receiver.url)/hook
                    secret: \(WebhookTests.secret)
                """).write(toFile: file, atomically: true, encoding: .utf8)
        let first = try StreamHarness.StreamProcess(
            command: "alert", arguments: ["--config", file], logPath: "\(dir)/a.log")
        defer { first.killIfRunning() }
        for _ in 0..<300 where receiver.requests.count < 20 { try await Task.sleep(for: .milliseconds(50)) }
        first.kill9()
        _ = await first.wait(timeout: .seconds(10))
        let received = receiver.requests.compactMap { $0.headers["webhook-id"] }
        #expect(received.count >= 20 && received.count < alerts.count, "\(received.count) before the kill")
        let committed = try await StreamHarness.committed(group: group, topic: input, partitions: 2)
        // Finished before the kill: offset below the partition's committed one.
        let finished = Set(
            alerts.indices.filter { Int64($0 / 2) < (committed[Int32($0 % 2)] ?? -1) }.map { alerts[$0].id })
        #expect(!finished.isEmpty, "nothing committed before the kill: \(committed)")
        // Commits never ahead of delivery: everything below the committed offsets was received.
        #expect(
            finished.isSubset(of: Set(received)), "committed but never delivered: \(finished.subtracting(received))")

        let second = try StreamHarness.StreamProcess(
            command: "alert", arguments: ["--config", file], logPath: "\(dir)/b.log")
        defer { second.killIfRunning() }
        func counts() -> [String: Int] {
            receiver.requests.reduce(into: [:]) { $0[$1.headers["webhook-id"] ?? "", default: 0] += 1 }
        }
        for _ in 0..<600 where counts().count < alerts.count { try await Task.sleep(for: .milliseconds(100)) }
        #expect(Set(counts().keys) == Set(alerts.map(\.id)), "lost after kill -9:\n\(second.log.suffix(2000))")
        let repeated = Set(counts().filter { $0.value > 1 }.keys)
        #expect(repeated.isDisjoint(with: finished), "re-sent although committed: \(repeated.intersection(finished))")
        print(
            "alert kill test: \(received.count) sent before kill -9, \(finished.count) committed, \(repeated.count) sent again"
        )
        second.terminate()
        #expect(await second.wait(timeout: .seconds(40)) == 0)
        await receiver.stop()
    }

    @Test("the Kafka sink: another topic gets each anomaly with the key and headers it had on the anomaly topic")
    func kafkaSink() async throws {
        let (input, escalations, undelivered, group) = try await StreamHarness.freshTopics(partitions: 1)
        let alerts = [
            Alerts.make(1, severity: .critical), Alerts.make(2, severity: .medium), Alerts.make(3, severity: .critical),
        ]
        var config = ProducerConfiguration(bootstrapServers: StreamHarness.brokers)
        config.linger = .milliseconds(5)
        let producer = try KafkaProducer(
            configuration: config, observer: KafkaClientObserver(logger: Logger(label: "test")))
        for alert in alerts {
            _ = try await producer.send(
                ProducerMessage(
                    topic: input, key: Array("203.0.113.9".utf8), value: alert.json,
                    headers: [KafkaHeader(name: "vigil.source.topic", string: "raw-logs")]))
        }
        _ = producer.close(timeout: .seconds(10))
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = "\(dir)/alerts.yml"
        try
            (Self.routing(input: input, undelivered: undelivered, group: group) + """
                  - type: kafka
                    topic: \(escalations)
                    min_severity: critical
                """).write(toFile: file, atomically: true, encoding: .utf8)
        let router = try StreamHarness.StreamProcess(
            command: "alert", arguments: ["--config", file], logPath: "\(dir)/a.log")
        defer { router.killIfRunning() }
        let copied = try StreamHarness.dump(escalations, expect: 2, timeout: 60)
        router.terminate()
        #expect(await router.wait(timeout: .seconds(40)) == 0, "\(router.log.suffix(2000))")
        #expect(copied.count == 2, "\(router.log.suffix(2000))")
        #expect(
            Set(copied.compactMap { $0.value.flatMap { try? Alert(json: Array($0.utf8)).id } }) == [
                alerts[0].id, alerts[2].id,
            ])
        #expect(
            copied.allSatisfy { $0.key == "203.0.113.9" && ($0.headers["vigil.source.topic"] ?? nil) == "raw-logs" })
    }
}
