// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for the detection engine (`make fuzz`; README "Fuzzing"). A package of
// its own, so the sanitizer flags reach only the engine: `Sources/VigilDetection` is a link
// to the main package's module, and `Sources/CVigilSupport` to the C helpers it depends on
// (prefetch hints) — its only dependency.
//
//   swift build --package-path Fuzz -c release -Xswiftc -sanitize=fuzzer,address
//
// Each target's top-level code hands its function to libFuzzer's driver (FuzzSupport), so
// the executables link as SwiftPM expects (their own `main`), without `-parse-as-library`.

let swiftSettings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]
// The toolchain's lld: Debian's gold fails on the sanitizer runtime's debug information.
let linkerSettings: [LinkerSetting] = [.unsafeFlags(["-use-ld=lld"])]

let package = Package(
    name: "vigil-fuzz",
    platforms: [.macOS(.v15)],
    targets: [
        .target(name: "CVigilSupport"),
        .target(name: "VigilDetection", dependencies: ["CVigilSupport"], swiftSettings: swiftSettings),
        .target(name: "FuzzSupport", swiftSettings: swiftSettings),
    ] + ["FuzzJSON", "FuzzParse", "FuzzDetect", "FuzzSnapshot"].map {
        .executableTarget(
            name: $0, dependencies: ["VigilDetection", "FuzzSupport"], swiftSettings: swiftSettings,
            linkerSettings: linkerSettings)
    }
)
