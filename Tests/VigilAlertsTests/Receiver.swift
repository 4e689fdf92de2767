import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
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

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    var url: String { "http://127.0.0.1:\(port)" }
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

    static func start() async throws -> Receiver {
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
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        let receiver = Receiver(port: port, task: task)
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
