import ArgumentParser
import Foundation

/// `vigil-bench`: Vigil's benchmarks, outside the production binary.
struct Benchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-bench",
        abstract: "Benchmarks of the detection engine and of vigil stream, with baselines measured in the same run.",
        subcommands: [EngineBenchmark.self, StreamBenchmark.self, APIBenchmark.self]
    )
}

/// The entry point. `vigil-bench engine` runs synchronously, without Swift's async main: the
/// engine benchmark counts instructions by running itself under valgrind, and valgrind 3.19
/// (Debian 12's) crashes on the async main's dispatch machinery.
@main
enum BenchmarksMain {
    static func main() {
        if CommandLine.arguments.dropFirst().first == "engine" {
            EngineBenchmark.main(Array(CommandLine.arguments.dropFirst(2)))
            exit(0)
        }
        Task {
            await Benchmarks.main()
            exit(0)
        }
        dispatchMain()
    }
}

/// A benchmark that could not complete.
struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
