import Foundation
import Testing
import VigilDetection
import VigilTesting

@testable import VigilAlerts

/// The receiver holds Slack's documented limits: 50 blocks, 3,000 characters per text, a
/// `text` fallback, about one message a second per webhook.
@Suite("Slack sink", .serialized)
struct SlackTests {
    static func blocks(_ request: Receiver.Request) throws -> (text: String, blocks: [[String: Any]]) {
        let message = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        return (message["text"] as? String ?? "", message["blocks"] as? [[String: Any]] ?? [])
    }

    /// Every text object in the blocks, for the length limit.
    static func texts(_ blocks: [[String: Any]]) -> [String] {
        var texts: [String] = []
        for block in blocks {
            if let text = (block["text"] as? [String: Any])?["text"] as? String { texts.append(text) }
            for field in block["fields"] as? [[String: Any]] ?? [] {
                if let text = field["text"] as? String { texts.append(text) }
            }
            for element in block["elements"] as? [[String: Any]] ?? [] {
                if let text = element["text"] as? String { texts.append(text) }
            }
        }
        return texts
    }

    @Test("one alert: severity, summary, entity, evidence, ATT&CK link; a burst becomes digests, posts a second apart")
    func messages() async throws {
        let receiver = try await Receiver.start()
        receiver.fallback(.init(status: 200, body: "ok"))
        let sink = try SlackSink(.init(url: "\(receiver.url)/services/T000/B000/XXXX"))
        var policy = DeliveryPolicy()
        policy.linger = .milliseconds(100)
        let single = await Alerts.deliver([Alerts.make(1, severity: .critical)], sink: sink, policy: policy)
        #expect(single.values.first == .delivered(attempts: 1))
        let first = try Self.blocks(try #require(receiver.requests.first))
        #expect(first.text.contains("critical brute_force"))
        let all = Self.texts(first.blocks).joined(separator: "\n")
        #expect(all.contains("8 failed logins from 203.0.113.1"))
        #expect(all.contains("203.0.113.1") && all.contains("root") && all.contains("web1"))
        #expect(all.contains("failures: 8"))
        #expect(all.contains("<https://attack.mitre.org/techniques/T1110/001/|T1110.001"))

        // 60 alerts at once: digests of at most 47 lines, each message within the limits, a second apart.
        let burst = (100..<160).map { Alerts.make($0) }
        let results = await Alerts.deliver(burst, sink: sink, policy: policy)
        #expect(results.count == 60 && results.values.allSatisfy { if case .delivered = $0 { true } else { false } })
        let digests = Array(receiver.requests.dropFirst())
        #expect(digests.count >= 2 && digests.count <= 4, "\(digests.count) messages for a burst of 60")
        var listed = Set<String>()
        for request in digests {
            let (text, blocks) = try Self.blocks(request)
            #expect(!text.isEmpty, "a fallback text")
            #expect(blocks.count <= 50)
            #expect(Self.texts(blocks).allSatisfy { $0.count <= 3_000 })
            for id in burst.map(\.id) where Self.texts(blocks).contains(where: { $0.contains(id) }) {
                listed.insert(id)
            }
        }
        #expect(listed == Set(burst.map(\.id)), "every alert of the burst is in a digest")
        for (a, b) in zip(receiver.requests, receiver.requests.dropFirst()) {
            #expect(b.at - a.at >= .seconds(1), "posts closer than a second")
        }
        await receiver.stop()
    }

    @Test(
        "a summary longer than Slack's 3,000 characters is cut; 429 with Retry-After is waited out; 404 no_service is not retried"
    )
    func limitsAndErrors() async throws {
        let receiver = try await Receiver.start()
        receiver.script([.init(status: 429, headers: ["Retry-After": "1"], body: "rate_limited")])
        receiver.fallback(.init(status: 200, body: "ok"))
        var long = Alerts.make(5)
        long.summary = String(repeating: "x", count: 5_000)
        var configuration = SlackSink.Configuration(url: "\(receiver.url)/services/T1/B1/Y")
        configuration.minInterval = .milliseconds(10)
        let sink = try SlackSink(configuration)
        var policy = DeliveryPolicy()
        policy.initialDelay = .milliseconds(50)
        let results = await Alerts.deliver([long], sink: sink, policy: policy)
        #expect(results.values.first == .delivered(attempts: 2))
        let requests = receiver.requests
        #expect(requests.count == 2)
        if requests.count == 2 { #expect(requests[1].at - requests[0].at >= .milliseconds(990)) }
        let (text, blocks) = try Self.blocks(try #require(requests.last))
        #expect(text.count <= 3_000 && Self.texts(blocks).allSatisfy { $0.count <= 3_000 })

        receiver.script([.init(status: 404, body: "no_service")])
        let gone = await sink.send([Alerts.make(6)])
        #expect(gone == [.rejected(reason: "HTTP 404: no_service")])
        await receiver.stop()
    }
}
