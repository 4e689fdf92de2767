import ArgumentParser
import VigilKafka

/// `vigil version`: Vigil's version and the librdkafka actually loaded.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print Vigil's version and the librdkafka it runs on.",
        discussion: "--licenses prints the licences of the code linked into this binary (the NOTICE file)."
    )

    @Flag(name: .long, help: "Print Vigil's licence and the third-party notices of the code linked into it.")
    var licenses = false

    func run() {
        if licenses {
            print(thirdPartyNotice, terminator: "")
            return
        }
        print("vigil \(VigilVersion.string)")
        print("librdkafka \(LibRdKafka.version) (features: \(LibRdKafka.builtinFeatures.joined(separator: ",")))")
    }
}
