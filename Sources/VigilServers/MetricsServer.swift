import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import VigilPipeline

/// The stream's small HTTP server: Prometheus metrics at `/metrics`, liveness at `/healthz`
/// (the consumer's poll thread runs and polled recently) and readiness at `/readyz` (joined the
/// group with partitions assigned).
public final class MetricsServer: Sendable {
    private let group: ServiceGroup

    /// `onBound` receives the port actually bound (useful with port 0).
    public init(address: String, port: Int, registry: PrometheusCollectorRegistry,
                health: @escaping @Sendable () -> StreamHealth, logger: Logger,
                onBound: @escaping @Sendable (Int) -> Void = { _ in }) {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: buffer))
        }
        router.get("healthz") { _, _ -> Response in
            let h = health()
            return Self.json(h.live ? .ok : .serviceUnavailable,
                        "{\"status\":\"\(h.live ? "live" : "stalled")\",\"ms_since_last_poll\":\(h.millisecondsSinceLastPoll)}")
        }
        router.get("readyz") { _, _ -> Response in
            let h = health()
            return Self.json(h.ready ? .ok : .serviceUnavailable,
                        "{\"status\":\"\(h.ready ? "ready" : "not ready")\",\"assigned_partitions\":\(h.assignedPartitions),\"inflight_events\":\(h.inFlightEvents)}")
        }
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice) // no per-request logs
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address, port: port), serverName: "vigil"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("metrics and health on http://\(address):\(bound)/metrics, /healthz, /readyz")
                onBound(bound)
            },
            logger: serverLogger
        )
        group = ServiceGroup(configuration: .init(services: [app], logger: serverLogger))
    }

    /// Serves until ``shutdown()``.
    public func run() async throws { try await group.run() }

    /// Stops accepting connections and lets ``run()`` return.
    public func shutdown() async { await group.triggerGracefulShutdown() }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(body)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}
