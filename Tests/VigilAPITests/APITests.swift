import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Testing
import VigilAnalysis
import VigilDetection
import VigilTesting

@testable import VigilAPI

/// `vigil serve`'s server, in process on a loopback port, driven by async-http-client.
struct RunningAPI {
    let port: Int
    let server: APIServer
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// The test process's registry (metrics are bootstrapped once for all test targets).
    static let registry: PrometheusCollectorRegistry = {
        SharedMetrics.bootstrap()
        return SharedMetrics.registry
    }()

    static func start(_ configure: (inout APIConfiguration) -> Void = { _ in }) async throws -> RunningAPI {
        var configuration = APIConfiguration()
        configuration.port = 0
        configuration.modelDirectory = "/nonexistent/vigil-test-model"
        configure(&configuration)
        var logger = Logger(label: "vigil.test.api")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = try APIServer(
            configuration: configuration, registry: registry, versions: [("vigil", "test")], logger: logger,
            onBound: { continuation.yield($0) })
        let group = ServiceGroup(services: [server], logger: logger)
        let task = Task { try await group.run() }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        return RunningAPI(port: port, server: server, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    func get(_ path: String, headers: [String: String] = [:]) async throws -> LoopbackHTTP.Reply {
        try await LoopbackHTTP.send("GET", port: port, path: path, headers: headers)
    }

    func post(
        _ path: String, json: String, headers: [String: String] = ["Content-Type": "application/json"]
    ) async throws -> LoopbackHTTP.Reply {
        try await LoopbackHTTP.send("POST", port: port, path: path, headers: headers, body: Array(json.utf8))
    }

    func post(_ path: String, body: [UInt8], contentType: String) async throws -> LoopbackHTTP.Reply {
        try await LoopbackHTTP.send("POST", port: port, path: path, headers: ["Content-Type": contentType], body: body)
    }
}

/// A request body holding `records` (JSON objects, as the generator writes them).
func logsBody(_ records: some Sequence<String>, context: String? = nil) -> String {
    "{\"logs\":[" + records.joined(separator: ",") + "]" + (context.map { ",\"context\":\"\($0)\"" } ?? "") + "}"
}

/// The error code of an error answer.
func errorCode(_ reply: LoopbackHTTP.Reply) -> String? {
    (reply.json?["error"] as? [String: Any])?["code"] as? String
}

/// Anomalies of an answer, each as canonical JSON (keys sorted), sorted.
func anomalies(_ reply: LoopbackHTTP.Reply) -> [String] {
    let list = reply.json?["anomalies"] as? [[String: Any]] ?? []
    return list.compactMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
        .map { String(decoding: $0, as: UTF8.self) }.sorted()
}

let brute = (0..<10).map { i in
    #"{"timestamp":"2026-11-30T10:00:\#(String(format: "%02d", i))Z","event_type":"login_failed","user":"root","source_ip":"203.0.113.7","host":"web1"}"#
}

@Suite("REST API on loopback", .serialized)
struct APITests {
    @Test("health, liveness and readiness with the rules-only default; every error is JSON with a code")
    func health() async throws {
        let api = try await RunningAPI.start()
        defer { Task { await api.stop() } }
        let health = try await api.get("/health")
        #expect(health.status == 200)
        #expect(health.json?["status"] as? String == "ok")
        #expect(health.json?["model_loaded"] as? Bool == true)
        #expect((health.json?["model"] as? [String: Any])?["kind"] as? String == "rules-only")
        #expect(health.json?["vigil_version"] as? String == "test")
        #expect(health.json?["uptime_seconds"] is Int)
        #expect(try await api.get("/health/live").status == 200)
        #expect(try await api.get("/health/ready").status == 200)
        let missing = try await api.get("/no/such/path")
        #expect(missing.status == 404)
        #expect(errorCode(missing) == "not_found")
        #expect(missing.header("content-type") == "application/json")
        await api.stop()
    }

    @Test("a configured model directory that is missing: not ready (503 with the reason) until a model is loaded")
    func readiness() async throws {
        let root = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let api = try await RunningAPI.start {
            $0.modelDirectory = "\(root)/missing"
            $0.modelDirectoryExplicit = true
            $0.modelRoots = [root]
        }
        let ready = try await api.get("/health/ready")
        #expect(ready.status == 503)
        #expect((ready.json?["reason"] as? String)?.contains("does not exist") == true, "\(ready.text)")
        let refused = try await api.post("/analyze", json: logsBody(brute))
        #expect(refused.status == 503)
        #expect(errorCode(refused) == "no_model")
        try ModelDirectory.save(GeneratedFixture.model, to: "\(root)/model", vigilVersion: "test")
        let loaded = try await api.post("/models/load", json: #"{"model_dir":"\#(root)/model"}"#)
        #expect(loaded.status == 200, "\(loaded.text)")
        #expect(try await api.get("/health/ready").status == 200)
        await api.stop()
    }

    @Test("models/load: a trained model is used; outside the roots 403, missing 404, corrupt 422 — the old model stays")
    func modelLoading() async throws {
        let root = StreamHarness.temporaryDirectory()
        let outside = StreamHarness.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: outside)
        }
        try ModelDirectory.save(GeneratedFixture.model, to: "\(root)/good", vigilVersion: "test")
        try ModelDirectory.save(GeneratedFixture.model, to: "\(outside)/elsewhere", vigilVersion: "test")
        try FileManager.default.createDirectory(atPath: "\(root)/corrupt", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(root)/good/manifest.json", toPath: "\(root)/corrupt/manifest.json")
        var damaged = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(root)/good/model.bin")))
        damaged[damaged.count / 2] ^= 0xFF
        try Data(damaged).write(to: URL(fileURLWithPath: "\(root)/corrupt/model.bin"))
        // A symlink inside the root pointing outside it does not escape.
        try FileManager.default.createSymbolicLink(
            atPath: "\(root)/escape", withDestinationPath: "\(outside)/elsewhere")

        let api = try await RunningAPI.start { $0.modelRoots = [root] }
        let good = try await api.post("/models/load", json: #"{"model_dir":"\#(root)/good"}"#)
        #expect(good.status == 200, "\(good.text)")
        let model = (good.json?["model"] as? [String: Any]) ?? [:]
        #expect(model["kind"] as? String == "trained")
        let version = try #require(model["version"] as? String)
        #expect(version.hasPrefix("sha256:"))

        for (path, status, code) in [
            ("\(outside)/elsewhere", 403, "model_dir_not_allowed"), ("\(root)/escape", 403, "model_dir_not_allowed"),
            ("\(root)/nothing-here", 404, "model_not_found"), ("\(root)/corrupt", 422, "invalid_model"),
        ] {
            let reply = try await api.post("/models/load", json: #"{"model_dir":"\#(path)"}"#)
            #expect(reply.status == status, "\(path): \(reply.text)")
            #expect(errorCode(reply) == code, "\(path): \(reply.text)")
        }
        for (body, code) in [
            (#"{"model_dir": 5}"#, "invalid_field"), (#"{"model_directory":"x"}"#, "unknown_field"),
            ("{not json", "invalid_json"),
        ] {
            let reply = try await api.post("/models/load", json: body)
            #expect(errorCode(reply) == code, "\(body): \(reply.text)")
        }
        let health = try await api.get("/health")
        #expect(
            (health.json?["model"] as? [String: Any])?["version"] as? String == version, "the old model was replaced")
        await api.stop()
    }

    @Test("analyze: events as JSON objects, raw lines and NDJSON; record errors name their index; the anomaly schema")
    func analyze() async throws {
        let api = try await RunningAPI.start()
        let json = try await api.post("/analyze", json: logsBody(brute + [#"{"user":"x"}"#]))
        #expect(json.status == 200, "\(json.text)")
        let body = try #require(json.json)
        // Ten failures for root from one address in ten seconds: brute force (the pair and the
        // source) and the privileged account.
        #expect(body["anomalies_detected"] as? Int == 3)
        #expect(body["events_analyzed"] as? Int == 10)
        #expect(body["errors_total"] as? Int == 1)
        let errors = body["errors"] as? [[String: Any]] ?? []
        #expect(errors.first?["index"] as? Int == 10)
        #expect((errors.first?["reason"] as? String)?.contains("timestamp") == true)
        let list = try #require(body["anomalies"] as? [[String: Any]])
        #expect(Set(list.compactMap { $0["detector"] as? String }) == ["brute_force", "privileged_account"])
        for anomaly in list {
            #expect(anomaly["schema_version"] as? String == "1.1")
            #expect(anomaly["summary"] is String)
            #expect(anomaly["evidence"] is [String: Any])
        }

        let lines = (0..<10).map {
            "Nov 30 10:00:0\($0) web1 sshd[4\($0)]: Failed password for root from 203.0.113.8 port 4\($0)22 ssh2"
        }
        let text = try await api.post(
            "/analyze", body: Array(lines.joined(separator: "\n").utf8), contentType: "text/plain")
        #expect(text.json?["anomalies_detected"] as? Int == 3, "\(text.text)")
        let string = try await api.post(
            "/analyze",
            json:
                "{\"logs\":\(String(decoding: try JSONSerialization.data(withJSONObject: lines.joined(separator: "\n"), options: .fragmentsAllowed), as: UTF8.self))}"
        )
        #expect(string.json?["anomalies_detected"] as? Int == 3, "\(string.text)")
        let ndjson = try await api.post(
            "/analyze", body: Array(brute.joined(separator: "\n").utf8), contentType: "application/x-ndjson")
        #expect(ndjson.json?["anomalies_detected"] as? Int == 3, "\(ndjson.text)")
        // The same events as an array and as NDJSON are the same records at the same positions.
        #expect(anomalies(ndjson) == anomalies(json))
        await api.stop()
    }

    @Test("bad requests: malformed JSON 400, wrong fields 422, media type 415, over the body or event limit 413")
    func badRequests() async throws {
        let api = try await RunningAPI.start {
            $0.maxBodyBytes = 4_096
            $0.maxEventsPerRequest = 20
        }
        let cases: [(String, String, Int, String)] = [
            ("{\"logs\": [", "application/json", 400, "invalid_json"),
            ("[1,2]", "application/json", 400, "invalid_json"),
            ("{}", "application/json", 422, "missing_field"),
            ("{\"logs\": 5}", "application/json", 422, "invalid_field"),
            ("{\"logs\": [], \"extra\": 1}", "application/json", 422, "unknown_field"),
            ("{\"logs\": [], \"context\": \"a b\"}", "application/json", 422, "invalid_field"),
            ("{\"logs\": []}", "application/xml", 415, "unsupported_media_type"),
            (logsBody(Array(repeating: "{}", count: 3_000)), "application/json", 413, "body_too_large"),
            (Array(repeating: "a", count: 30).joined(separator: "\n"), "text/plain", 413, "too_many_events"),
        ]
        for (body, type, status, code) in cases {
            let reply = try await api.post("/analyze", body: Array(body.utf8), contentType: type)
            #expect(reply.status == status, "\(body.prefix(40)): \(reply.text)")
            #expect(errorCode(reply) == code, "\(body.prefix(40)): \(reply.text)")
            #expect((reply.json?["error"] as? [String: Any])?["message"] is String)
        }
        // A known path with another method: 405 naming the allowed ones.
        let wrongMethod = try await api.get("/analyze")
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.header("allow") == "POST")
        #expect(errorCode(wrongMethod) == "method_not_allowed")
        #expect(try await LoopbackHTTP.send("DELETE", port: api.port, path: "/stats").header("allow") == "GET")
        // Elements that are not events are errors at their index; the others are analysed.
        let mixed = try await api.post("/analyze", json: #"{"logs": ["text", 5, \#(brute[0])]}"#)
        #expect(mixed.status == 200)
        #expect(mixed.json?["events_analyzed"] as? Int == 1)
        #expect((mixed.json?["errors"] as? [[String: Any]])?.compactMap { $0["index"] as? Int } == [0, 1])
        // The server still answers.
        #expect(try await api.post("/analyze", json: "{\"logs\":[]}").status == 200)
        await api.stop()
    }

    @Test("a log sent in chunks of 1,000 under a context gives exactly the anomalies, ids included, of one request")
    func chunkedContext() async throws {
        let api = try await RunningAPI.start()
        let records = GeneratedFixture.data.test
        #expect(records.count > 2_000)
        let whole = try await api.post("/analyze", json: logsBody(records))
        #expect(whole.status == 200)
        let expected = anomalies(whole)
        #expect(expected.count > 10)
        var chunked: [String] = []
        for start in stride(from: 0, to: records.count, by: 1_000) {
            let reply = try await api.post(
                "/analyze", json: logsBody(records[start..<min(start + 1_000, records.count)], context: "chunks"))
            #expect(reply.status == 200)
            #expect(reply.header("x-cache") == "miss")
            chunked += anomalies(reply)
        }
        #expect(chunked.sorted() == expected)
        // Without the context, each chunk starts afresh: windows spanning chunks are lost.
        var separate: [String] = []
        for start in stride(from: 0, to: records.count, by: 1_000) {
            separate += anomalies(
                try await api.post("/analyze", json: logsBody(records[start..<min(start + 1_000, records.count)])))
        }
        #expect(separate.sorted() != expected)
        let listed = try await api.get("/contexts")
        #expect(listed.json?["contexts"] as? [String] == ["chunks"])
        #expect(try await LoopbackHTTP.send("DELETE", port: api.port, path: "/contexts/chunks").status == 204)
        let again = try await LoopbackHTTP.send("DELETE", port: api.port, path: "/contexts/chunks")
        #expect(again.status == 404)
        #expect(errorCode(again) == "context_not_found")
        await api.stop()
    }

    @Test("identical bodies are answered from the cache (X-Cache: hit) with the same bytes; contexts are never cached")
    func cache() async throws {
        let api = try await RunningAPI.start()
        let body = logsBody(brute)
        let first = try await api.post("/analyze", json: body)
        let second = try await api.post("/analyze", json: body)
        #expect(first.header("x-cache") == "miss")
        #expect(second.header("x-cache") == "hit")
        #expect(first.body == second.body)
        let withContext = logsBody(brute, context: "c")
        _ = try await api.post("/analyze", json: withContext)
        #expect(try await api.post("/analyze", json: withContext).header("x-cache") == "miss")
        let stats = try await api.get("/stats")
        #expect((stats.json?["cache"] as? [String: Any])?["hits"] as? Int == 1)
        await api.stop()
    }

    @Test("analyze/file: a gzip upload streamed to disk; a missing field 422, broken multipart 400, too large 413")
    func fileUpload() async throws {
        let api = try await RunningAPI.start { $0.maxUploadBytes = 64 << 10 }
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = brute.joined(separator: "\n") + "\n"
        try plain.write(toFile: "\(dir)/auth.ndjson", atomically: true, encoding: .utf8)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
        gzip.arguments = ["-k", "\(dir)/auth.ndjson"]
        try gzip.run()
        gzip.waitUntilExit()
        let compressed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(dir)/auth.ndjson.gz")))
        func multipart(_ parts: [(name: String, file: String?, bytes: [UInt8])], boundary: String = "XyZ123") -> [UInt8]
        {
            var body: [UInt8] = []
            for part in parts {
                body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"".utf8)
                if let file = part.file { body += Array("; filename=\"\(file)\"".utf8) }
                body +=
                    Array("\r\nContent-Type: application/octet-stream\r\n\r\n".utf8) + part.bytes + Array("\r\n".utf8)
            }
            return body + Array("--\(boundary)--\r\n".utf8)
        }
        let type = "multipart/form-data; boundary=XyZ123"
        let reply = try await api.post(
            "/analyze/file",
            body: multipart([("note", nil, Array("hello".utf8)), ("file", "auth.ndjson.gz", compressed)]),
            contentType: type)
        #expect(reply.status == 200, "\(reply.text)")
        #expect(reply.json?["anomalies_detected"] as? Int == 3)
        #expect(reply.json?["events_analyzed"] as? Int == 10)
        let missing = try await api.post("/analyze/file", body: multipart([("other", nil, [1, 2])]), contentType: type)
        #expect(missing.status == 422)
        #expect(errorCode(missing) == "missing_field")
        let truncated = Array(multipart([("file", "a.log", Array(plain.utf8))]).dropLast(12))
        let broken = try await api.post("/analyze/file", body: truncated, contentType: type)
        #expect(broken.status == 400, "\(broken.text)")
        #expect(errorCode(broken) == "invalid_multipart")
        let big = try await api.post(
            "/analyze/file", body: multipart([("file", "big.log", [UInt8](repeating: 0x61, count: 100_000))]),
            contentType: type)
        #expect(big.status == 413)
        #expect(errorCode(big) == "body_too_large")
        let noBoundary = try await api.post("/analyze/file", body: [1, 2, 3], contentType: "application/octet-stream")
        #expect(noBoundary.status == 415)
        let left = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("vigil-upload-") }
        #expect(left.isEmpty, "uploads left behind: \(left)")
        await api.stop()
    }

    @Test("bearer tokens: none or a wrong one is 401 with a challenge; the probes, metrics and docs stay open")
    func authentication() async throws {
        let api = try await RunningAPI.start { $0.tokens = ["s3cret-token", "second"] }
        let none = try await api.post("/analyze", json: logsBody(brute))
        #expect(none.status == 401)
        #expect(none.header("www-authenticate")?.hasPrefix("Bearer") == true)
        #expect(errorCode(none) == "unauthorized")
        let wrong = try await api.post(
            "/analyze", json: logsBody(brute),
            headers: ["Content-Type": "application/json", "Authorization": "Bearer s3cret-tokem"])
        #expect(wrong.status == 401)
        let basic = try await api.get("/stats", headers: ["Authorization": "Basic czNjcmV0"])
        #expect(basic.status == 401)
        for token in ["s3cret-token", "second"] {
            let right = try await api.post(
                "/analyze", json: logsBody(brute),
                headers: ["Content-Type": "application/json", "Authorization": "bearer \(token)"])
            #expect(right.status == 200)
        }
        for path in ["/health", "/health/live", "/health/ready", "/metrics", "/docs", "/openapi.json"] {
            #expect(try await api.get(path).status == 200, "\(path)")
        }
        await api.stop()
        let closed = try await RunningAPI.start {
            $0.tokens = ["t"]
            $0.openProbes = false
        }
        #expect(try await closed.get("/metrics").status == 401)
        #expect(try await closed.get("/health").status == 401)
        #expect(try await closed.get("/metrics", headers: ["Authorization": "Bearer t"]).status == 200)
        await closed.stop()
    }

    @Test("rate limit: past the burst a client gets 429 with Retry-After; the probes are not limited")
    func rateLimit() async throws {
        let api = try await RunningAPI.start {
            $0.rateLimitPerSecond = 1.0 / 60
            $0.rateLimitBurst = 3
        }
        var statuses: [Int] = []
        for _ in 0..<5 { statuses.append(try await api.get("/stats").status) }
        #expect(statuses == [200, 200, 200, 429, 429])
        let limited = try await api.get("/stats")
        #expect(errorCode(limited) == "rate_limited")
        let retry = try #require(limited.header("retry-after").flatMap(Int.init))
        #expect((1...60).contains(retry))
        #expect(try await api.get("/health").status == 200)
        await api.stop()
    }

    @Test("many clients at once all get their answer, the same for the same request")
    func concurrentClients() async throws {
        let api = try await RunningAPI.start { $0.cacheBytes = 0 }
        let body = logsBody(GeneratedFixture.data.test.prefix(1_000))
        let reference = anomalies(try await api.post("/analyze", json: body))
        let results = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for _ in 0..<32 {
                group.addTask {
                    let reply = try await api.post("/analyze", json: body)
                    return (reply.status, anomalies(reply))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 32)
        #expect(results.allSatisfy { $0.0 == 200 && $0.1 == reference })
        await api.stop()
    }

    @Test("stats and metrics count requests, events and anomalies")
    func statsAndMetrics() async throws {
        let api = try await RunningAPI.start()
        _ = try await api.post("/analyze", json: logsBody(brute))
        let stats = try #require(try await api.get("/stats").json)
        #expect(stats["events_analyzed"] as? Int == 10)
        #expect((stats["anomalies_by_detector"] as? [String: Any])?["brute_force"] as? Int == 2)
        #expect((stats["anomalies_by_severity"] as? [String: Int])?.values.reduce(0, +) == 3)
        #expect((stats["requests"] as? [String: Int])?["POST /analyze"] == 1)
        let metrics = try await api.get("/metrics").text
        #expect(metrics.contains("vigil_api_requests_total{"))
        #expect(metrics.contains("route=\"/analyze\""))
        #expect(metrics.contains("vigil_api_request_duration_seconds_bucket{"))
        #expect(metrics.contains("vigil_api_events_analyzed_total"))
        await api.stop()
    }

    @Test("the OpenAPI document names every route the server has; the docs page shows every path")
    func document() async throws {
        let api = try await RunningAPI.start()
        let document = try #require(try await api.get("/openapi.json").json)
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: Any])
        let routes = [
            "/health", "/health/live", "/health/ready", "/models/load", "/analyze", "/analyze/file", "/contexts",
            "/contexts/{name}", "/stats", "/metrics", "/openapi.json", "/docs",
        ]
        #expect(Set(paths.keys) == Set(routes))
        let schemas = ((document["components"] as? [String: Any])?["schemas"] as? [String: Any]) ?? [:]
        // The shared anomaly schema, embedded as it is in schemas/.
        var shared = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: RepositoryFiles.path("schemas/anomaly-v1.schema.json"))))
                as? [String: Any])
        shared.removeValue(forKey: "$schema")
        shared.removeValue(forKey: "$id")
        let embedded = try #require(schemas["Anomaly"] as? [String: Any])
        let canonical = { (object: [String: Any]) -> String in
            String(
                decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(),
                as: UTF8.self)
        }
        #expect(canonical(embedded) == canonical(shared))
        let docs = try await api.get("/docs")
        #expect(docs.header("content-type")?.hasPrefix("text/html") == true)
        for path in routes { #expect(docs.text.contains(">\(path)<"), "\(path) missing from /docs") }
        #expect(!docs.text.contains("<script"))
        #expect(!docs.text.contains("http://") && !docs.text.contains("https://"))
        await api.stop()
    }

    @Test("an analysis past the request timeout stops and answers 503 timeout; the server goes on answering")
    func requestTimeout() async throws {
        let api = try await RunningAPI.start { $0.requestTimeoutMs = 100 }
        // Several megabytes of events: several read steps, far more than 100 ms of analysis.
        let records = Array(repeating: GeneratedFixture.data.test, count: 12).flatMap { $0 }
        let reply = try await api.post("/analyze", json: logsBody(records))
        #expect(reply.status == 503, "\(reply.text.prefix(300))")
        #expect(errorCode(reply) == "timeout")
        #expect(try await api.get("/health").status == 200)
        await api.stop()
    }

    @Test("HTTPS directly: a client verifying the server's certificate gets its answers; plain HTTP is not served")
    func tls() async throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (made, output) = try await ChildProcess.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/key.pem", "-out", "\(dir)/cert.pem",
                "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ])
        #expect(made == 0, "\(output)")
        let api = try await RunningAPI.start {
            $0.tlsCertificatePath = "\(dir)/cert.pem"
            $0.tlsKeyPath = "\(dir)/key.pem"
        }
        // curl, verifying against the certificate (no -k).
        let (status, body) = try await ChildProcess.run(
            "/usr/bin/curl", ["-sS", "--cacert", "\(dir)/cert.pem", "https://127.0.0.1:\(api.port)/health"])
        #expect(status == 0, "\(body)")
        #expect(body.contains("\"status\":\"ok\""), "\(body)")
        let (plain, _) = try await ChildProcess.run(
            "/usr/bin/curl", ["-sS", "--max-time", "5", "http://127.0.0.1:\(api.port)/health"])
        #expect(plain != 0, "plain HTTP was answered on the TLS port")
        await api.stop()
    }
}
