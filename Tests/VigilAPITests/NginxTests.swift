import Foundation
import Testing
import VigilServers
import VigilTesting

@testable import VigilAPI

/// deploy/nginx/vigil.conf run for real: Debian's nginx (scripts/systools) on loopback with a
/// certificate the test makes, in front of two `vigil serve` processes, driven by curl — the
/// proxy, the servers and the client are all real; only the addresses and paths are the test's.
@Suite("nginx with TLS in front of two vigil serve", .serialized)
struct NginxTests {
    static let nginx = "/usr/sbin/nginx"

    /// The deploy file with the test's upstream ports, listen port and certificate folder.
    static func configuration(in dir: String, listen: Int, upstreams: [Int]) throws -> String {
        var text = try RepositoryFiles.text("deploy/nginx/vigil.conf")
        for (name, port) in zip(["anomaly-api:8000", "anomaly-api-2:8000"], upstreams) {
            #expect(text.contains("server \(name) "), "the upstream \(name) is in the file")
            text = text.replacingOccurrences(of: "server \(name) ", with: "server 127.0.0.1:\(port) ")
        }
        #expect(text.contains("listen 8443 ssl"))
        text = text.replacingOccurrences(of: "listen 8443 ssl", with: "listen 127.0.0.1:\(listen) ssl")
        text = text.replacingOccurrences(of: "/etc/nginx/certs/", with: "\(dir)/")
        try text.write(toFile: "\(dir)/vigil.conf", atomically: true, encoding: .utf8)
        let main = """
            worker_processes 1;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log warn;
            events { worker_connections 256; }
            http {
                access_log \(dir)/access.log;
                client_body_temp_path \(dir)/tmp/body;
                proxy_temp_path \(dir)/tmp/proxy;
                fastcgi_temp_path \(dir)/tmp/fastcgi;
                uwsgi_temp_path \(dir)/tmp/uwsgi;
                scgi_temp_path \(dir)/tmp/scgi;
                include \(dir)/vigil.conf;
            }
            """
        try main.write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        // nginx's workers may run as nobody: the temporary folders are theirs to write.
        try FileManager.default.createDirectory(
            atPath: "\(dir)/tmp", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        return "\(dir)/nginx.conf"
    }

    static func freePort() -> Int { FreePort.next() }

    /// curl through nginx, verifying its certificate: (status, body). `expectConnection: false`
    /// while waiting for nginx to listen — a refused connection then is not a failure.
    static func curl(
        _ port: Int, _ path: String, dir: String, method: String = "GET", bodyFile: String? = nil,
        contentType: String = "text/plain", expectConnection: Bool = true
    ) async throws -> (Int, String) {
        var arguments = [
            "-sS", "--cacert", "\(dir)/server.crt", "-o", "\(dir)/reply", "-w", "%{http_code}", "-X", method,
            "https://127.0.0.1:\(port)\(path)",
        ]
        if let bodyFile { arguments += ["-H", "Content-Type: \(contentType)", "--data-binary", "@\(bodyFile)"] }
        let (status, output) = try await ChildProcess.run("/usr/bin/curl", arguments, timeout: .seconds(60))
        if expectConnection { #expect(status == 0, "curl: \(output)") }
        let body = (try? String(contentsOfFile: "\(dir)/reply", encoding: .utf8)) ?? ""
        return (Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, body)
    }

    static func eventsAnalysed(_ port: Int) async -> Int {
        guard let (status, body) = await LoopbackHTTP.get(port: port, path: "/stats"), status == 200,
            let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        else { return -1 }
        return object["events_analyzed"] as? Int ?? -1
    }

    @Test("the body limits in deploy/nginx equal the API's max_body_bytes and max_upload_bytes")
    func limitsMatchTheAPI() throws {
        let text = try RepositoryFiles.text("deploy/nginx/vigil.conf")
        let limits = text.matches(of: /client_max_body_size (\d+)m;/).compactMap { Int($0.output.1) }
        let defaults = APIConfiguration()
        #expect(limits == [defaults.maxBodyBytes >> 20, defaults.maxUploadBytes >> 20], "\(limits)")
        #expect(text.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"))
        #expect(text.contains("proxy_set_header X-Forwarded-Proto $scheme;"))
    }

    @Test(
        "nginx -t passes; requests reach both instances over TLS; a killed one is routed around; an oversize body gets 413 from nginx"
    )
    func proxyInFrontOfTwoServers() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.nginx), "nginx is not installed (scripts/systools)")
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (made, madeOutput) = try await ChildProcess.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", "\(dir)/server.key", "-out",
                "\(dir)/server.crt",
            ])
        #expect(made == 0, "openssl: \(madeOutput)")
        let (first, firstPort) = try await VigilServe.start([], log: "\(dir)/api1.log")
        let (second, secondPort) = try await VigilServe.start([], log: "\(dir)/api2.log")
        defer {
            first.kill9()
            second.kill9()
        }
        let listen = Self.freePort()
        let conf = try Self.configuration(in: dir, listen: listen, upstreams: [firstPort, secondPort])
        let (checked, checkOutput) = try await ChildProcess.run(Self.nginx, ["-t", "-p", dir, "-c", conf])
        #expect(checked == 0 && checkOutput.contains("test is successful"), "nginx -t: \(checkOutput)")
        let proxy = try StreamHarness.StreamProcess.external(
            Self.nginx, ["-p", dir, "-c", conf, "-g", "daemon off;"], logPath: "\(dir)/nginx.out")
        defer { proxy.terminate() }
        var ready = false
        for _ in 0..<100 where !ready {
            ready = (try? await Self.curl(listen, "/health", dir: dir, expectConnection: false).0) == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(
            ready, "nginx did not answer: \((try? String(contentsOfFile: "\(dir)/error.log", encoding: .utf8)) ?? "")")

        // Requests through nginx reach both instances (round robin). Each body differs, so no
        // answer comes from an instance's cache.
        func body(_ request: Int) throws -> String {
            let log = (0..<12).map {
                "Dec  1 10:00:\(String(format: "%02d", $0)) web\(request) sshd[7]: Failed password for root from 198.51.100.9 port 4\($0) ssh2"
            }.joined(separator: "\n")
            try log.write(toFile: "\(dir)/auth\(request).log", atomically: true, encoding: .utf8)
            return "\(dir)/auth\(request).log"
        }
        for request in 0..<6 {
            let (status, body) = try await Self.curl(
                listen, "/analyze", dir: dir, method: "POST", bodyFile: try body(request))
            #expect(status == 200, "\(body)")
            #expect(body.contains("\"anomalies_detected\""))
        }
        let (one, two) = (await Self.eventsAnalysed(firstPort), await Self.eventsAnalysed(secondPort))
        #expect(one > 0 && two > 0, "both instances analysed: \(one), \(two)")

        // One instance killed: every request still answered, by the other.
        first.kill9()
        _ = await first.wait(timeout: .seconds(5))
        let before = await Self.eventsAnalysed(secondPort)
        for request in 6..<12 {
            let (status, body) = try await Self.curl(
                listen, "/analyze", dir: dir, method: "POST", bodyFile: try body(request))
            #expect(status == 200, "routed around the killed instance: \(body)")
        }
        #expect(await Self.eventsAnalysed(secondPort) == before + 6 * 12)

        // Over max_body_bytes: nginx answers 413 itself; the API never sees the body.
        let big = [UInt8](repeating: 0x61, count: (16 << 20) + 1024)
        FileManager.default.createFile(atPath: "\(dir)/big", contents: Data(big))
        let analysed = await Self.eventsAnalysed(secondPort)
        let (status, body) = try await Self.curl(listen, "/analyze", dir: dir, method: "POST", bodyFile: "\(dir)/big")
        #expect(status == 413)
        #expect(body.contains("nginx"), "the 413 page is nginx's: \(body.prefix(300))")
        #expect(await Self.eventsAnalysed(secondPort) == analysed)
        // Forwarded headers reach the API (its access is logged by nginx with the request id).
        let access = (try? String(contentsOfFile: "\(dir)/access.log", encoding: .utf8)) ?? ""
        #expect(access.split(separator: "\n").count >= 13)
    }
}
