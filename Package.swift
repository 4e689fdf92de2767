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
        // Configuration files: topics.yml (and reconciling a cluster with it), strict YAML reading.
        .target(
            name: "VigilConfig",
            dependencies: [
                "VigilKafka",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The `vigil` command.
        .executableTarget(
            name: "VigilCLI",
            dependencies: [
                "VigilKafka",
                "VigilConfig",
                "VigilDetection",
                "VigilSimulation",
                "VigilFiles",
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
            name: "VigilConfigTests",
            dependencies: ["VigilConfig", "VigilKafka", .product(name: "Yams", package: "Yams")]
        ),
    ]
)
