import ArgumentParser

/// `vigil-bench`: Vigil's benchmarks, outside the production binary.
@main
struct Benchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-bench",
        abstract: "Benchmarks of the detection engine and of vigil stream, with baselines measured in the same run.",
        subcommands: [EngineBenchmark.self, StreamBenchmark.self, APIBenchmark.self]
    )
}

/// A benchmark that could not complete.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
