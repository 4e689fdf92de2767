// swift-tools-version:6.0
import PackageDescription

// librdkafka comes from `scripts/bootstrap`, which writes .deps/pkgconfig/vigil-rdkafka.pc;
// `make` puts that directory on PKG_CONFIG_PATH.
let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["VigilCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // The C binding: librdkafka's client API and its in-process mock cluster.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "vigil-rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // The Kafka layer: producer, consumer, admin, mock cluster.
        .target(
            name: "VigilKafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The detection engine: parsing, detectors, models. Pure: no I/O, deterministic.
        .target(
            name: "VigilDetection"
        ),
        // Synthetic logs with injected attacks (seedable), and scoring against them.
        .target(
            name: "VigilSimulation",
            dependencies: ["VigilDetection"]
        ),
        // Files on disk: log files in (streamed), model directories in and out.
        .target(
            name: "VigilFiles",
            dependencies: ["VigilDetection"]
        ),
        // The stream detector: Kafka in, anomalies out, offsets committed after publishing.
        .target(
            name: "VigilPipeline",
            dependencies: [
                "VigilKafka",
                "VigilDetection",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // HTTP servers: Prometheus metrics and health probes.
        .target(
            name: "VigilServers",
            dependencies: [
                "VigilPipeline",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Configuration files: topics.yml (and reconciling a cluster with it), strict YAML reading.
        .target(
            name: "VigilConfig",
            dependencies: [
                "VigilKafka",
                "VigilPipeline",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // libc knobs Swift's Glibc module does not expose (malloc tuning).
        .target(name: "CVigilSupport"),
        // The `vigil` command.
        .executableTarget(
            name: "VigilCLI",
            dependencies: [
                "VigilKafka",
                "VigilConfig",
                "VigilDetection",
                "VigilSimulation",
                "VigilFiles",
                "VigilPipeline",
                "VigilServers",
                "CVigilSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "VigilKafkaTests",
            dependencies: ["VigilKafka"]
        ),
        .testTarget(
            name: "VigilDetectionTests",
            dependencies: ["VigilDetection", "VigilSimulation"]
        ),
        .testTarget(
            name: "VigilPipelineTests",
            dependencies: ["VigilPipeline", "VigilConfig", "VigilKafka", "VigilDetection", "VigilSimulation", "VigilFiles", "VigilServers",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "VigilConfigTests",
            dependencies: ["VigilConfig", "VigilKafka", "VigilPipeline", .product(name: "Yams", package: "Yams")]
        ),
    ]
)
