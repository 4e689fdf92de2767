import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing
import VigilServers
import VigilTesting

@Suite("Metrics and health server")
struct MetricsServerTests {
    @Test("serves Prometheus text and the probes' answers (200 or 503) on the port it bound; stops with its group")
    func servesAndStops() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(name: "vigil_test_total").increment(by: Int64(3))
        let ready = Atomic<Bool>(false)
        let bound = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let server = MetricsServer(
            configuration: HTTPConfiguration(address: "127.0.0.1", port: 0), registry: registry,
            liveness: { ProbeResult(healthy: true, body: "{\"status\":\"live\"}") },
            readiness: {
                let isReady = ready.load(ordering: .relaxed)
                return ProbeResult(healthy: isReady, body: "{\"status\":\"\(isReady ? "ready" : "not ready")\"}")
            },
            logger: logger, onBound: { bound.continuation.yield($0) })
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = bound.stream.makeAsyncIterator()
            let port = try #require(await ports.next())
            let metrics = await LoopbackHTTP.get(port: port, path: "/metrics")
            #expect(metrics?.status == 200)
            #expect(metrics?.body.contains("vigil_test_total 3") == true, "\(String(describing: metrics))")
            #expect(await LoopbackHTTP.get(port: port, path: "/healthz")?.status == 200)
            let notReady = await LoopbackHTTP.get(port: port, path: "/readyz")
            #expect(notReady?.status == 503 && notReady?.body == "{\"status\":\"not ready\"}")
            ready.store(true, ordering: .relaxed)
            #expect(await LoopbackHTTP.get(port: port, path: "/readyz")?.status == 200)
            #expect(await LoopbackHTTP.get(port: port, path: "/nothing")?.status == 404)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(await LoopbackHTTP.get(port: port, path: "/healthz", timeout: .seconds(2)) == nil)
        }
    }
}
