import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// The small HTTP server beside a long-running job: Prometheus metrics at `/metrics`,
/// liveness at `/healthz` and readiness at `/readyz` (200 or 503, with the probe's JSON).
/// A `Service`: run it in the same service group as the job, so it stops with it.
public struct MetricsServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>
    private let listen: ListenState

    /// `onBound` receives the port actually bound (useful with port 0).
    public init(
        configuration: HTTPConfiguration, registry: PrometheusCollectorRegistry,
        liveness: @escaping @Sendable () -> ProbeResult, readiness: @escaping @Sendable () -> ProbeResult,
        logger: Logger, onBound: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: buffer))
        }
        router.get("healthz") { _, _ -> Response in Self.response(liveness()) }
        router.get("readyz") { _, _ -> Response in Self.response(readiness()) }
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)  // no per-request logs
        let address = configuration.address
        let listen = ListenState(purpose: "metrics and health", address: address, port: configuration.port)
        self.listen = listen
        application = Application(
            router: router,
            configuration: .init(address: .hostname(address, port: configuration.port), serverName: "vigil"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? configuration.port
                listen.markListening()
                logger.info("metrics and health on http://\(address):\(bound)/metrics, /healthz, /readyz")
                onBound(bound)
            },
            logger: serverLogger
        )
    }

    /// Serves until the service group shuts down. Throws ``ListenError`` when it cannot listen
    /// (the port taken, the address not local): the caller decides whether the job goes on
    /// without it — `vigil stream` and `vigil alert` do not.
    public func run() async throws { try await listen.run { try await application.run() } }

    private static func response(_ probe: ProbeResult) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(probe.body)
        return Response(
            status: probe.healthy ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: buffer))
    }
}
