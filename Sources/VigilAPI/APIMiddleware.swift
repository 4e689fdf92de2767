import Crypto
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Synchronization

/// The request context of the API: Hummingbird's, plus the client's address (rate limits are
/// per client).
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Around every request: access control (bearer tokens), the per-client rate limit, errors
/// turned into the JSON error shape, and the request metrics. (The request deadline is kept
/// by the analysis, which checks it between steps, and by the server's idle timeout for
/// clients that stop sending.)
struct APIMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let tokenDigests: [SHA256Digest]
    let openProbes: Bool
    let limiter: RateLimiter?
    let statistics: APIStatistics
    let logger: Logger

    /// Paths that never need a token: the documentation, and the probes unless configured
    /// otherwise.
    private func isOpen(_ path: String) -> Bool {
        if path == "/docs" || path == "/openapi.json" { return true }
        return openProbes && (path == "/health" || path.hasPrefix("/health/") || path == "/metrics")
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        var response: Response
        do {
            try authorize(request, path: path)
            if let limiter, !path.hasPrefix("/health"), path != "/metrics" {
                let client = context.remoteAddress?.ipAddress ?? "unknown"
                if let wait = limiter.take(client) {
                    let seconds = max(1, Int(wait.rounded(.up)))
                    throw APIError(
                        .tooManyRequests, "rate_limited", "too many requests from \(client); retry in \(seconds) s",
                        headers: [.retryAfter: String(seconds)])
                }
            }
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        } catch is NIOTooManyBytesError {
            response = try APIError.tooLarge("the request body is larger than allowed").response(
                from: request, context: context)
        } catch let error as HTTPError {
            if error.status == .notFound, let methods = OpenAPIDocument.methods(for: path) {
                response = try APIError(
                    .methodNotAllowed, "method_not_allowed",
                    "\(path) answers \(methods.joined(separator: ", ")), not \(request.method)",
                    headers: [.allow: methods.joined(separator: ", ")]
                ).response(from: request, context: context)
            } else {
                response = try Self.translate(error).response(from: request, context: context)
            }
        } catch {
            logger.error("\(request.method) \(path): \(error)")
            response = try APIError(.internalServerError, "internal", "the request failed inside the server")
                .response(from: request, context: context)
        }
        let route = context.endpointPath ?? "unmatched"
        statistics.request(route: "\(request.method) \(route)")
        Counter(
            label: "vigil_api_requests_total",
            dimensions: [("route", route), ("method", request.method.rawValue), ("status", String(response.status.code))]
        ).increment()
        Metrics.Timer(label: "vigil_api_request_duration_seconds", dimensions: [("route", route)])
            .recordNanoseconds(Int64((ContinuousClock.now - started).milliseconds * 1_000_000))
        return response
    }

    private func authorize(_ request: Request, path: String) throws(APIError) {
        guard !tokenDigests.isEmpty, !isOpen(path) else { return }
        let challenge: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"vigil\""]
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, "unauthorized", "a bearer token is required", headers: challenge)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError(
                .unauthorized, "unauthorized", "the Authorization header must be `Bearer <token>`", headers: challenge)
        }
        // Digests of equal length compared in constant time: neither the token nor its length
        // leaks through timing.
        let digest = SHA256.hash(data: Array(parts[1].utf8))
        var accepted = false
        for known in tokenDigests where known == digest { accepted = true }
        guard accepted else {
            throw APIError(.unauthorized, "unauthorized", "the bearer token is not accepted", headers: challenge)
        }
    }

    /// Hummingbird's own errors (no route, body over the limit, …) in the JSON shape.
    static func translate(_ error: HTTPError) -> APIError {
        switch error.status {
        case .notFound: APIError(.notFound, "not_found", "no such endpoint")  // (405 is decided in handle)
        case .methodNotAllowed: APIError(.methodNotAllowed, "method_not_allowed", "method not allowed here")
        case .contentTooLarge: APIError.tooLarge(error.body ?? "the request body is larger than allowed")
        default:
            APIError(
                error.status, error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                error.body ?? error.status.reasonPhrase)
        }
    }
}

/// Token buckets per client: `rate` tokens a second up to `burst`; a request takes one.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }
    private let buckets = Mutex<[String: Bucket]>([:])
    let rate: Double
    let burst: Double

    init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(max(1, burst))
    }

    /// Takes a token for `client`; nil when it had one, else the seconds until it will.
    func take(_ client: String) -> Double? {
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            // Full buckets carry no information: drop them when the table grows.
            if buckets.count > 10_000 {
                buckets = buckets.filter { now - $0.value.updated < .seconds(burst / rate) }
            }
            var bucket = buckets[client] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated).milliseconds / 1000 * rate)
            bucket.updated = now
            defer { buckets[client] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / rate
        }
    }
}
