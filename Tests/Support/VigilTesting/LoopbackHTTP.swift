import AsyncHTTPClient
import NIOCore

/// GET requests to a server on 127.0.0.1 (Vigil's metrics, health and API endpoints), through
/// async-http-client.
public enum LoopbackHTTP {
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
