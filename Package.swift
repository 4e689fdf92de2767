// swift-tools-version:6.0
import PackageDescription

// Module graph (the README's "Layout" section draws it): data flows one way —
// binding → Kafka → engine → analysis / pipeline → servers → settings → CLI.
// librdkafka comes from `scripts/bootstrap`, which writes .deps/pkgconfig/vigil-rdkafka.pc;
// `make` puts that directory on PKG_CONFIG_PATH.

let swiftSettings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["VigilCLI"]),
        .executable(name: "vigil-bench", targets: ["VigilBenchmarks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
    ],
    targets: [
        // MARK: C bindings

        // librdkafka's client API and its in-process mock cluster.
        .systemLibrary(name: "CRdKafka", pkgConfig: "vigil-rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // zlib, for gzip-compressed log files.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // libc knobs Swift's Glibc module does not expose (malloc tuning).
        .target(name: "CVigilSupport"),

        // MARK: Production modules

        // The Kafka layer: producer, consumer, admin over librdkafka.
        .target(
            name: "VigilKafka",
            dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        // The detection engine: parsing, detectors, models. Pure: no I/O, deterministic.
        .target(name: "VigilDetection", dependencies: ["CVigilSupport"], swiftSettings: swiftSettings),
        // Synthetic logs with injected attacks (seedable), and scoring against them.
        .target(name: "VigilSimulation", dependencies: ["VigilDetection"], swiftSettings: swiftSettings),
        // The analysis library: inputs (bytes, files, folders, gzip) and a model in, anomalies
        // and a summary out; model directories on disk. Every non-stream front end uses it.
        .target(
            name: "VigilAnalysis",
            dependencies: ["VigilDetection", "CZlib", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings),
        // The stream detector: Kafka in, anomalies out, offsets committed after publishing.
        .target(
            name: "VigilPipeline",
            dependencies: [
                "VigilKafka", "VigilDetection",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings),
        // HTTP servers: Prometheus metrics and health probes.
        .target(
            name: "VigilServers",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // The REST API (`vigil serve`) over the analysis library: analysis, model loading,
        // contexts, cache, auth, rate limits, OpenAPI document and reference page.
        .target(
            name: "VigilAPI",
            dependencies: [
                "VigilAnalysis", "VigilDetection", "VigilServers",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        // The MCP server (`vigil mcp`, stdio) over the analysis library: five tools with
        // schemas, file access confined to allowed directories, the live anomaly topic.
        .target(
            name: "VigilMCP",
            dependencies: [
                "VigilAPI", "VigilAnalysis", "VigilDetection", "VigilKafka",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // The batch processor (`vigil batch`) over the analysis library: a log folder read
        // once per content (state file, rotation, growth), per-file JSON and per-run HTML reports,
        // alerts staged in an outbox.
        .target(
            name: "VigilBatch",
            dependencies: [
                "VigilAnalysis", "VigilDetection", "VigilAlerts", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        // Alert routing: the `AlertSink` interface, one runner for queueing, batching, retries
        // and give-up, the HTTP client the sinks share, the sinks (one folder each), and the
        // on-disk outbox through which the batch processor and the API use them.
        .target(
            name: "VigilAlerts",
            dependencies: [
                "VigilDetection", "VigilKafka", "VigilAnalysis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        // Log output: text or one JSON object per line, and the level.
        .target(
            name: "VigilLogging",
            dependencies: ["VigilDetection", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        // Settings: one key table mapping file keys, environment variables and flags onto the
        // modules' configurations; topics.yml; strict YAML reading and writing.
        .target(
            name: "VigilSettings",
            dependencies: [
                "VigilKafka", "VigilPipeline", "VigilServers", "VigilLogging", "VigilAnalysis", "VigilAPI",
                "VigilBatch", "VigilAlerts",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        // The `vigil` command: thin commands over the modules above.
        .executableTarget(
            name: "VigilCLI",
            dependencies: [
                "VigilKafka", "VigilDetection", "VigilSimulation", "VigilAnalysis", "VigilPipeline", "VigilServers",
                "VigilAPI", "VigilMCP", "VigilBatch", "VigilAlerts", "VigilLogging", "VigilSettings", "CVigilSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // `vigil-bench`: the engine and stream benchmarks (`make bench`, `make bench-stream`),
        // kept out of the production binary.
        .executableTarget(
            name: "VigilBenchmarks",
            dependencies: [
                "VigilKafka", "VigilDetection", "VigilSimulation", "VigilAPI", "VigilAnalysis", "VigilPipeline",
                "VigilServers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings),

        // MARK: Test support (imported by test targets only)

        // librdkafka's mock cluster and helpers for tests against the local broker.
        .target(
            name: "VigilKafkaTesting",
            dependencies: ["VigilKafka", "CRdKafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/Support/VigilKafkaTesting",
            swiftSettings: swiftSettings),
        // Generated stream inputs and their expected anomalies, the `vigil` process, the
        // independent Python Kafka reader, a loopback HTTP client.
        .target(
            name: "VigilTesting",
            dependencies: [
                "VigilKafka", "VigilKafkaTesting", "VigilDetection", "VigilSimulation",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/Support/VigilTesting",
            swiftSettings: swiftSettings),

        // MARK: Tests, one target per module

        .testTarget(
            name: "VigilKafkaTests", dependencies: ["VigilKafka", "VigilKafkaTesting"], swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilDetectionTests", dependencies: ["VigilDetection", "VigilSimulation", "VigilTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilSimulationTests", dependencies: ["VigilSimulation", "VigilDetection"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilAnalysisTests",
            dependencies: ["VigilAnalysis", "VigilDetection", "VigilSimulation", "VigilTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilPipelineTests",
            dependencies: [
                "VigilPipeline", "VigilKafka", "VigilDetection", "VigilSimulation", "VigilKafkaTesting", "VigilTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilServersTests",
            dependencies: ["VigilServers", "VigilTesting", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilAPITests",
            dependencies: [
                "VigilAPI", "VigilAnalysis", "VigilDetection", "VigilSimulation", "VigilServers", "VigilTesting",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilBatchTests",
            dependencies: ["VigilBatch", "VigilAlerts", "VigilAnalysis", "VigilDetection", "VigilTesting"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilAlertsTests",
            dependencies: [
                "VigilAlerts", "VigilDetection", "VigilKafka", "VigilServers", "VigilTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilLoggingTests",
            dependencies: ["VigilLogging", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilSettingsTests",
            dependencies: [
                "VigilSettings", "VigilKafka", "VigilPipeline", "VigilServers", "VigilLogging", "VigilAnalysis",
                "VigilBatch", "VigilKafkaTesting", "VigilTesting", .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "VigilCLITests",
            dependencies: [
                "VigilKafka", "VigilDetection", "VigilSimulation", "VigilAnalysis", "VigilKafkaTesting", "VigilTesting",
                "VigilSettings",
            ],
            swiftSettings: swiftSettings),
    ]
)
