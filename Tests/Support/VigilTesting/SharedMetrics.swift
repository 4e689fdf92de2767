import Metrics
import MetricsTestKit
import Prometheus

/// The metrics system of the test process, bootstrapped once for every test target (swift-metrics
/// allows one bootstrap per process, and `swift test` runs all targets in one): swift-metrics'
/// `TestMetrics` for tests that read counters, and a Prometheus registry for servers that serve
/// `/metrics`.
public enum SharedMetrics {
    public static let registry = PrometheusCollectorRegistry()
    public static let recorded = TestMetrics()
    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(
            MultiplexMetricsHandler(factories: [recorded, PrometheusMetricsFactory(registry: registry)]))
    }()

    /// Bootstraps the metrics system, the first time only.
    public static func bootstrap() { _ = bootstrapped }
}
