import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Requests to a server on 127.0.0.1 (Vigil's metrics, health and API endpoints), through
/// async-http-client — a client Vigil did not write.
public enum LoopbackHTTP {
    /// A response: status, headers and body.
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
        /// The body as a JSON object (nil if it is not one).
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        }
    }

    /// Sends a request; throws if nothing answers within `timeout`.
    public static func send(
        _ method: String, port: Int, path: String, headers: [String: String] = [:], body: [UInt8]? = nil,
        scheme: String = "http", timeout: Duration = .seconds(60)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: "\(scheme)://127.0.0.1:\(port)\(path)")
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
        let bytes = try await response.body.collect(upTo: 512 << 20)
        return Reply(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Array(buffer: bytes))
    }

    /// (status, body), or nil if nothing answers within `timeout`.
    public static func get(
        port: Int, path: String, timeout: Duration = .seconds(10)
    ) async -> (status: Int, body: String)? {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .nanoseconds(timeout.nanoseconds)),
            let body = try? await response.body.collect(upTo: 64 << 20)
        else { return nil }
        return (Int(response.status.code), String(buffer: body))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
