import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// One HTTP request a sink sends, and what came back.
public struct HTTPExchange: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// `Retry-After` in seconds (the HTTP-date form is read too).
    public var retryAfter: Duration? {
        guard let value = header("Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(min(seconds, 3_600)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .seconds(max(0, min(3_600, Int(date.timeIntervalSinceNow.rounded(.up)))))
    }
}

/// The HTTP client the HTTP sinks share (async-http-client), and the rule that turns a
/// response into an outcome.
public struct HTTPSender: Sendable {
    let client: HTTPClient
    /// One request's time, connect to last byte.
    public var timeout: Duration

    public init(client: HTTPClient = .shared, timeout: Duration = .seconds(10)) {
        self.client = client
        self.timeout = timeout
    }

    /// A sender that trusts the certificates in `caFile` (PEM) for https — a Splunk or an
    /// Elasticsearch with a private CA — or the system's trust store when nil.
    public init(caFile: String?, timeout: Duration = .seconds(10)) throws(SinkConfigurationError) {
        guard let caFile else {
            self.init(timeout: timeout)
            return
        }
        self.init(client: try TrustedClients.client(caFile: caFile), timeout: timeout)
    }

    /// POSTs `body`; the exchange, or the network error as text.
    public func post(_ url: String, headers: [(String, String)], body: [UInt8]) async -> Result<HTTPExchange, SendError>
    {
        await request("POST", url, headers: headers, body: body)
    }

    public func request(
        _ method: String, _ url: String, headers: [(String, String)], body: [UInt8]?
    ) async -> Result<
        HTTPExchange, SendError
    > {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let (seconds, attoseconds) = timeout.components
        do {
            let response = try await client.execute(
                request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return .success(
                HTTPExchange(
                    status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                    body: Array(buffer: bytes)))
        } catch {
            return .failure(SendError(reason: Self.describe(error)))
        }
    }

    /// 2xx delivered; 408, 429 and 5xx retried (after `Retry-After` when given); any other
    /// status refused for good, with the start of the receiver's answer as the reason.
    public static func outcome(_ result: Result<HTTPExchange, SendError>) -> SendOutcome {
        switch result {
        case .failure(let error):
            return .retry(reason: error.reason, after: nil)
        case .success(let exchange):
            switch exchange.status {
            case 200..<300: return .delivered
            case 408, 429, 500..<600:
                return .retry(reason: "HTTP \(exchange.status)\(snippet(exchange))", after: exchange.retryAfter)
            default:
                return .rejected(reason: "HTTP \(exchange.status)\(snippet(exchange))")
            }
        }
    }

    static func snippet(_ exchange: HTTPExchange) -> String {
        let text = String(decoding: exchange.body.prefix(200), as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : ": \(text)"
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout { return "timed out" }
            return "\(error)"
        }
        return "\(error)"
    }
}

/// A request that got no HTTP answer (refused connection, timeout, TLS failure).
public struct SendError: Error, Sendable, Equatable {
    public var reason: String
}

/// One HTTP client per trusted CA file, for the process's lifetime (like `HTTPClient.shared`:
/// a client must be shut down before it is released, and sinks live as long as the process).
enum TrustedClients {
    private static let clients = Mutex<[String: HTTPClient]>([:])

    static func client(caFile: String) throws(SinkConfigurationError) -> HTTPClient {
        let roots: [NIOSSLCertificate]
        do { roots = try NIOSSLCertificate.fromPEMFile(caFile) } catch {
            throw SinkConfigurationError("ca_file \(caFile): not readable PEM certificates (\(error))")
        }
        guard !roots.isEmpty else { throw SinkConfigurationError("ca_file \(caFile): no certificate in it") }
        return clients.withLock { clients in
            if let client = clients[caFile] { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(roots)
            let client = HTTPClient(
                eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
            clients[caFile] = client
            return client
        }
    }
}
