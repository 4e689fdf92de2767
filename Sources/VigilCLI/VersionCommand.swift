import ArgumentParser
import VigilKafka

/// `vigil version`: Vigil's version and the librdkafka actually loaded.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print Vigil's version and the librdkafka it runs on."
    )

    func run() {
        print("vigil \(VigilVersion.string)")
        print("librdkafka \(LibRdKafka.version) (features: \(LibRdKafka.builtinFeatures.joined(separator: ",")))")
    }
}
