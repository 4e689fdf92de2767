import Foundation
import Testing
import VigilDetection
import VigilTesting

@testable import VigilAlerts

/// The receivers check the wire formats Splunk and Elasticsearch document.
@Suite("Splunk HEC and Elasticsearch sinks", .serialized)
struct SplunkElasticTests {
    static func policy() -> DeliveryPolicy {
        var policy = DeliveryPolicy()
        policy.initialDelay = .milliseconds(100)
        policy.maxDelay = .seconds(1)
        policy.linger = .milliseconds(50)
        policy.giveUpAfter = .seconds(20)
        return policy
    }

    /// The concatenated event objects of a HEC body (not an array), read one after another.
    static func hecEvents(_ body: [UInt8]) throws -> [[String: Any]] {
        var events: [[String: Any]] = []
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
            events.append(try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]))
        }
        return events
    }

    @Test("HEC: Splunk auth header, events concatenated with time, host, source, sourcetype, index and the anomaly")
    func hecEnvelope() async throws {
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 200, body: #"{"text":"Success","code":0}"#))
        var configuration = SplunkHECSink.Configuration(
            url: receiver.url, token: "11111111-2222-3333-4444-555555555555")
        configuration.index = "security"
        let alerts = (0..<7).map { Alerts.make($0) }
        let results = await Alerts.deliver(alerts, sink: try SplunkHECSink(configuration), policy: Self.policy())
        #expect(results.values.allSatisfy { $0 == .delivered(attempts: 1) }, "\(results)")
        let requests = receiver.requests
        #expect(requests.count == 1, "one batch for seven alerts")
        let request = try #require(requests.first)
        #expect(request.path == "/services/collector/event")
        #expect(request.headers["authorization"] == "Splunk 11111111-2222-3333-4444-555555555555")
        #expect(!String(decoding: request.body, as: UTF8.self).hasPrefix("["), "concatenated objects, not an array")
        let events = try Self.hecEvents(request.body)
        #expect(events.count == 7)
        for (event, alert) in zip(events, alerts) {
            #expect(event["time"] as? Double == Double(alert.time) / 1000)
            #expect(event["host"] as? String == "web1")
            #expect(event["source"] as? String == "vigil" && event["sourcetype"] as? String == "vigil:anomaly")
            #expect(event["index"] as? String == "security")
            #expect((event["event"] as? [String: Any])?["id"] as? String == alert.id)
        }
        await receiver.stop()
    }

    @Test(
        "HEC with indexer acknowledgement: delivered only once /services/collector/ack says true, on the same channel")
    func hecAck() async throws {
        let receiver = try await Receiver.start()
        receiver.script([
            .init(status: 200, body: #"{"text":"Success","code":0,"ackId":0}"#),
            .init(status: 200, body: #"{"acks":{"0":false}}"#),
            .init(status: 200, body: #"{"acks":{"0":false}}"#),
            .init(status: 200, body: #"{"acks":{"0":true}}"#),
        ])
        var configuration = SplunkHECSink.Configuration(url: receiver.url, token: "t0k3n")
        configuration.useAck = true
        configuration.ackPollInterval = .milliseconds(50)
        let results = await Alerts.deliver(
            [Alerts.make(1), Alerts.make(2)], sink: try SplunkHECSink(configuration), policy: Self.policy())
        #expect(results.values.allSatisfy { $0 == .delivered(attempts: 1) }, "\(results)")
        let requests = receiver.requests
        #expect(
            requests.map(\.path) == ["/services/collector/event"]
                + Array(repeating: "/services/collector/ack", count: 3))
        let channels = Set(requests.compactMap { $0.headers["x-splunk-request-channel"] })
        #expect(channels.count == 1, "one channel: \(channels)")
        let poll = try #require(try JSONSerialization.jsonObject(with: Data(requests[1].body)) as? [String: Any])
        #expect(poll["acks"] as? [Int] == [0])

        // Never acknowledged within the timeout: sent again (the same ids: a duplicate at worst).
        let silent = try await Receiver.start()
        silent.fallback(
            .init(status: 200, body: #"{"text":"Success","code":0,"ackId":5}"#), path: "/services/collector/event")
        silent.fallback(.init(status: 200, body: #"{"acks":{"5":false}}"#), path: "/services/collector/ack")
        configuration.url = silent.url
        configuration.ackTimeout = .milliseconds(300)
        var short = Self.policy()
        short.giveUpAfter = .seconds(2)
        let unacked = await Alerts.deliver([Alerts.make(3)], sink: try SplunkHECSink(configuration), policy: short)
        guard case .gaveUp(let reason, let attempts) = unacked.values.first else {
            Issue.record("\(unacked)")
            return
        }
        #expect(reason.contains("not acknowledged"), "\(reason)")
        #expect(attempts >= 2)
        await receiver.stop()
        await silent.stop()
    }

    @Test("HEC errors: invalid-event-number splits a batch; busy (503) is retried; a bad token (403) is not")
    func hecErrors() async throws {
        let receiver = try await Receiver.start()
        receiver.script([
            .init(status: 400, body: #"{"text":"Invalid data format","code":6,"invalid-event-number":1}"#)
        ])
        receiver.fallback(.init(status: 200, body: #"{"text":"Success","code":0}"#))
        let sink = try SplunkHECSink(.init(url: receiver.url, token: "t"))
        let outcomes = await sink.send([Alerts.make(1), Alerts.make(2), Alerts.make(3)])
        #expect(outcomes[0] == .delivered)
        if case .rejected(let reason) = outcomes[1] {
            #expect(reason.contains("Invalid data format") && reason.contains("code 6"))
        } else {
            Issue.record("\(outcomes[1])")
        }
        if case .retry = outcomes[2] {} else { Issue.record("the event after the refused one: \(outcomes[2])") }

        receiver.script([
            .init(status: 503, headers: ["Retry-After": "1"], body: #"{"text":"Server is busy","code":9}"#)
        ])
        let busy = await sink.send([Alerts.make(4)])
        #expect(busy == [.retry(reason: "HTTP 503: Server is busy (code 9)", after: .seconds(1))])
        receiver.script([.init(status: 403, body: #"{"text":"Invalid token","code":4}"#)])
        #expect(await sink.send([Alerts.make(5)]) == [.rejected(reason: "HTTP 403: Invalid token (code 4)")])
        await receiver.stop()
    }

    @Test("Elasticsearch: _bulk NDJSON of create actions with the id and ECS documents; basic and API-key auth")
    func bulkFormat() async throws {
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 200, body: #"{"took":3,"errors":false,"items":[]}"#))
        var configuration = ElasticsearchSink.Configuration(url: receiver.url)
        configuration.index = "logs-vigil-default"
        configuration.user = "elastic"
        configuration.password = "changeme"
        let alerts = (0..<3).map { Alerts.make($0) }
        let results = await Alerts.deliver(alerts, sink: try ElasticsearchSink(configuration), policy: Self.policy())
        #expect(results.values.allSatisfy { $0 == .delivered(attempts: 1) })
        let request = try #require(receiver.requests.first)
        #expect(request.path == "/_bulk")
        #expect(request.headers["content-type"] == "application/x-ndjson")
        #expect(request.headers["authorization"] == "Basic " + Data("elastic:changeme".utf8).base64EncodedString())
        let lines = String(decoding: request.body, as: UTF8.self).split(separator: "\n")
        #expect(String(decoding: request.body, as: UTF8.self).hasSuffix("\n"), "NDJSON ends with a newline")
        #expect(lines.count == 6)
        for (index, alert) in alerts.enumerated() {
            let action = try #require(
                try JSONSerialization.jsonObject(with: Data(lines[2 * index].utf8)) as? [String: Any])
            let create = try #require(action["create"] as? [String: Any], "data streams take only create")
            #expect(create["_index"] as? String == "logs-vigil-default" && create["_id"] as? String == alert.id)
            let document = try #require(
                try JSONSerialization.jsonObject(with: Data(lines[2 * index + 1].utf8)) as? [String: Any])
            #expect(document["@timestamp"] as? String != nil)
            let event = try #require(document["event"] as? [String: Any])
            #expect(
                event["kind"] as? String == "alert" && event["id"] as? String == alert.id
                    && event["severity"] as? Int == 73)
            #expect((document["rule"] as? [String: Any])?["name"] as? String == "brute_force")
            #expect((document["source"] as? [String: Any])?["ip"] as? String == alert.sourceIP)
            #expect((document["user"] as? [String: Any])?["name"] as? String == "root")
            #expect(
                ((document["threat"] as? [String: Any])?["technique"] as? [String: Any])?["id"] as? String
                    == "T1110.001")
            #expect(document["message"] as? String == alert.summary)
        }
        configuration.apiKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
        _ = await try ElasticsearchSink(configuration).send([alerts[0]])
        #expect(
            receiver.requests.last?.headers["authorization"]
                == "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
        #expect(throws: SinkConfigurationError.self) {
            var bad = ElasticsearchSink.Configuration(url: receiver.url)
            bad.index = "Vigil Anomalies"
            _ = try ElasticsearchSink(bad)
        }
        await receiver.stop()
    }

    @Test(
        "Elasticsearch partial failure: a 200 with errors is read item by item; only 429/5xx items are resent; 409 is done"
    )
    func bulkPartialFailure() async throws {
        let receiver = try await Receiver.start()
        receiver.script([
            .init(
                status: 200,
                body: """
                    {"took":5,"errors":true,"items":[
                    {"create":{"_index":"vigil-anomalies","_id":"a","status":201}},
                    {"create":{"_index":"vigil-anomalies","_id":"b","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
                    {"create":{"_index":"vigil-anomalies","_id":"c","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [source.ip]"}}},
                    {"create":{"_index":"vigil-anomalies","_id":"d","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}},
                    {"create":{"_index":"vigil-anomalies","_id":"e","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}}]}
                    """)
        ])
        receiver.fallback(.init(status: 200, body: #"{"took":1,"errors":false,"items":[]}"#))
        var configuration = ElasticsearchSink.Configuration(url: receiver.url)
        configuration.maxBatch = 5
        let alerts = (0..<5).map { Alerts.make($0) }
        let results = await Alerts.deliver(alerts, sink: try ElasticsearchSink(configuration), policy: Self.policy())
        #expect(results[alerts[0].id] == .delivered(attempts: 1))
        #expect(results[alerts[1].id] == .delivered(attempts: 2))
        #expect(results[alerts[3].id] == .delivered(attempts: 1), "409: already there")
        #expect(results[alerts[4].id] == .delivered(attempts: 2))
        guard case .gaveUp(let reason, 1) = results[alerts[2].id] else {
            Issue.record("the 400 item: \(String(describing: results[alerts[2].id]))")
            return
        }
        #expect(reason.contains("mapper_parsing_exception"), "\(reason)")
        let requests = receiver.requests
        #expect(requests.count == 2)
        let resent = String(decoding: requests.last?.body ?? [], as: UTF8.self).split(separator: "\n")
        #expect(resent.count == 4, "only the two retryable items are sent again")
        #expect(resent.count == 4 && resent[0].contains(alerts[1].id) && resent[2].contains(alerts[4].id))
        await receiver.stop()
    }

    /// A CA and a server certificate it signed (for 127.0.0.1), made with openssl.
    static func privateCA(in dir: String) async throws -> (ca: String, certificate: String, key: String) {
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Vigil test CA",
                "-keyout", "\(dir)/ca.key", "-out", "\(dir)/ca.crt",
            ],
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "\(dir)/server.key",
                "-out", "\(dir)/server.csr",
            ],
            [
                "x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", "\(dir)/san.cnf", "-out", "\(dir)/server.crt",
            ],
        ]
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(dir)/san.cnf", atomically: true, encoding: .utf8)
        for step in steps {
            let (status, output) = try await ChildProcess.run("/usr/bin/openssl", step)
            #expect(status == 0, "openssl \(step.first ?? ""): \(output)")
        }
        return ("\(dir)/ca.crt", "\(dir)/server.crt", "\(dir)/server.key")
    }

    @Test(
        "HEC and Elasticsearch over https with a private CA: delivered with ca_file; without it the certificate is refused and retried"
    )
    func privateCATLS() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (ca, certificate, key) = try await Self.privateCA(in: dir)
        let receiver = try await Receiver.start(tls: (certificate, key))
        #expect(receiver.url.hasPrefix("https://"))
        receiver.fallback(.init(status: 200, body: #"{"text":"Success","code":0}"#), path: "/services/collector/event")
        receiver.fallback(.init(status: 200, body: #"{"took":1,"errors":false,"items":[]}"#), path: "/_bulk")

        var hec = SplunkHECSink.Configuration(url: receiver.url, token: "11111111-2222-3333-4444-555555555555")
        hec.caFile = ca
        let delivered = await Alerts.deliver([Alerts.make(1)], sink: try SplunkHECSink(hec), policy: Self.policy())
        #expect(delivered.values.allSatisfy { $0 == .delivered(attempts: 1) }, "\(delivered)")
        var es = ElasticsearchSink.Configuration(url: receiver.url)
        es.caFile = ca
        es.apiKey = "a2V5OnNlY3JldA=="
        let indexed = await Alerts.deliver([Alerts.make(2)], sink: try ElasticsearchSink(es), policy: Self.policy())
        #expect(indexed.values.allSatisfy { $0 == .delivered(attempts: 1) }, "\(indexed)")
        #expect(receiver.requests.map(\.path) == ["/services/collector/event", "/_bulk"])

        // The system's trust store does not know the private CA: no request gets through.
        var untrusted = hec
        untrusted.caFile = nil
        var quick = Self.policy()
        quick.giveUpAfter = .milliseconds(400)
        let refused = await Alerts.deliver(
            [Alerts.make(3)], sink: try SplunkHECSink(untrusted, http: HTTPSender(timeout: .seconds(1))), policy: quick)
        guard case .gaveUp(let reason, _)? = refused.values.first else {
            Issue.record("delivered without trusting the CA: \(refused)")
            return
        }
        #expect(reason.lowercased().contains("certificate") || reason.contains("SSL"), "\(reason)")
        #expect(receiver.requests.count == 2)

        // A ca_file that is not a certificate is refused when the sink is made.
        try "not a certificate".write(toFile: "\(dir)/bad.pem", atomically: true, encoding: .utf8)
        var bad = hec
        bad.caFile = "\(dir)/bad.pem"
        #expect(throws: SinkConfigurationError.self) { try SplunkHECSink(bad) }
        await receiver.stop()
    }
}
