import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// A real HTTP server on loopback standing in for Slack, Splunk, Elasticsearch or a webhook
/// receiver: it records every request and answers from a script (status, headers, body,
/// a delay), then with 200 once the script is used up.
final class Receiver: Sendable {
    struct Request: Sendable {
        var path: String
        var headers: [String: String]
        var body: [UInt8]
        var at: ContinuousClock.Instant
    }

    struct Answer: Sendable {
        var status: Int = 200
        var headers: [String: String] = [:]
        var body: String = ""
        var delay: Duration = .zero
    }

    private let state = Mutex<(requests: [Request], script: [Answer], fallback: Answer, byPath: [String: Answer])>(
        ([], [], Answer(), [:]))
    let port: Int
    private let task: Task<Void, any Error>

    private init(port: Int, scheme: String, task: Task<Void, any Error>) {
        self.port = port
        self.scheme = scheme
        self.task = task
    }

    let scheme: String
    var url: String { "\(scheme)://127.0.0.1:\(port)" }
    var requests: [Request] { state.withLock { $0.requests } }

    /// The next answers, in order.
    func script(_ answers: [Answer]) { state.withLock { $0.script += answers } }
    /// The answer once the script is used up (for one path only, when given).
    func fallback(_ answer: Answer, path: String? = nil) {
        state.withLock { s in
            if let path { s.byPath[path] = answer } else { s.fallback = answer }
        }
    }

    fileprivate func answer(_ request: Request) -> Answer {
        state.withLock { s in
            s.requests.append(request)
            if !s.script.isEmpty { return s.script.removeFirst() }
            return s.byPath[request.path] ?? s.fallback
        }
    }

    /// Starts the receiver; with `tls` (PEM certificate and key files) it serves https.
    static func start(tls: (certificate: String, key: String)? = nil) async throws -> Receiver {
        let router = Router()
        let holder = ReceiverHolder()
        router.post("**") { request, context -> Response in
            let body = try await request.body.collect(upTo: 64 << 20)
            var headers: [String: String] = [:]
            // Names as HTTP/2 spells them: lower case.
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            guard let receiver = holder.receiver else { return Response(status: .serviceUnavailable) }
            let answer = receiver.answer(
                Request(path: request.uri.path, headers: headers, body: Array(buffer: body), at: .now))
            if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let field = HTTPField.Name(name) { fields[field] = value }
            }
            fields[.contentType] = "application/json"
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
        }
        var logger = Logger(label: "vigil.test.receiver")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let configuration = ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0))
        let running: @Sendable (any Channel) async -> Void = { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
        }
        let task: Task<Void, any Error>
        if let tls {
            let server = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(tls.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: tls.key, format: .pem)))
            let app = Application(
                router: router, server: try .tls(.http1(), tlsConfiguration: server), configuration: configuration,
                onServerRunning: running, logger: logger)
            task = Task { try await app.runService(gracefulShutdownSignals: []) }
        } else {
            let app = Application(
                router: router, configuration: configuration, onServerRunning: running, logger: logger)
            task = Task { try await app.runService(gracefulShutdownSignals: []) }
        }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        let receiver = Receiver(port: port, scheme: tls == nil ? "http" : "https", task: task)
        holder.set(receiver)
        return receiver
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// Lets the route reach the receiver created after the router.
private final class ReceiverHolder: Sendable {
    private let value = Mutex<Receiver?>(nil)
    var receiver: Receiver? { value.withLock { $0 } }
    func set(_ receiver: Receiver) { value.withLock { $0 = receiver } }
}
