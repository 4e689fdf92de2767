import ArgumentParser
import Foundation
import VigilKafka
import VigilSettings

/// `vigil topics …`: the topics declared in topics.yml.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create and check the topics declared in topics.yml.",
        subcommands: [Apply.self, List.self]
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create missing topics and report existing ones that differ. Safe to repeat.",
            discussion:
                "Existing topics are never altered or deleted. Exit status 1 when a topic could not be created, or with --check when anything is missing or differs."
        )

        @Option(name: .long, help: "The topics file.")
        var file = "topics.yml"
        @Flag(name: .long, help: "Only report; create nothing. Exit 1 when anything is missing or differs.")
        var check = false
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            let logger = try logging.makeLogger(label: "vigil.topics")
            let declared: TopicsFile
            do { declared = try TopicsFile.load(path: file) } catch {
                throw ValidationError("\(error)")
            }
            let admin = try KafkaAdmin(
                configuration: AdminConfiguration(bootstrapServers: broker.resolved),
                observer: KafkaClientObserver(logger: logger))
            let outcomes = try await TopicReconciler(admin: admin).apply(declared, dryRun: check)
            var failed = false
            let width = outcomes.map(\.topic.count).max() ?? 0
            for outcome in outcomes {
                let name = outcome.topic.padding(toLength: width, withPad: " ", startingAt: 0)
                let spec = declared.topics.first { $0.specification.name == outcome.topic }?.specification
                switch outcome.status {
                case .created:
                    let partitions = spec?.partitions ?? 0
                    print(
                        "\(name)  created (\(partitions) partition\(partitions == 1 ? "" : "s"), replication \(spec?.replicationFactor ?? 0))"
                    )
                case .matches:
                    print("\(name)  exists, matches")
                case .missing:
                    print("\(name)  missing")
                    failed = check
                case .differs(let differences):
                    print("\(name)  exists, differs: \(differences.joined(separator: "; ")) — not changed")
                    failed = failed || check
                case .failed(let message):
                    print("\(name)  FAILED: \(message)")
                    failed = true
                }
                for note in outcome.notes { print("\(String(repeating: " ", count: width))  note: \(note)") }
            }
            if failed { throw ExitCode(1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the cluster's topics with partitions and replication.")
        @OptionGroup var broker: BrokerOptions
        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            let logger = try logging.makeLogger(label: "vigil.topics")
            let admin = try KafkaAdmin(
                configuration: AdminConfiguration(bootstrapServers: broker.resolved),
                observer: KafkaClientObserver(logger: logger))
            for topic in try await admin.describeTopics(nil, timeout: .seconds(15)) where !topic.name.hasPrefix("__") {
                print("\(topic.name)\tpartitions=\(topic.partitions.count)\treplication=\(topic.replicationFactor)")
            }
        }
    }
}
