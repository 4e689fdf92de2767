import Foundation
import Testing
import VigilKafka
import VigilPipeline
import VigilSettings
import VigilTesting

@Suite("topics.yml")
struct TopicsFileTests {
    private func parseError(_ yaml: String) -> ConfigFileError? {
        do {
            _ = try TopicsFile.parse(yaml)
            return nil
        } catch {
            return error
        }
    }

    @Test(
        "the repository's topics.yml declares input, output, dead-letter and state topics; the state changelog is compacted with a partition per input partition"
    )
    func repositoryFile() throws {
        let file = try TopicsFile.load(path: RepositoryFiles.path("topics.yml"))
        #expect(file.topic(.input)?.specification.name == "raw-logs")
        #expect(file.topic(.output)?.specification.name == "security-anomalies")
        #expect(file.topic(.deadLetter)?.specification.name == "raw-logs.dlq")
        let state = try #require(file.topic(.state))
        #expect(state.specification.name == StreamConfiguration().stateTopic)
        #expect(state.specification.configs["cleanup.policy"] == "compact")
        #expect(state.specification.partitions == file.topic(.input)?.specification.partitions)
        // A chunk (with its key and framing) fits the topic's record limit.
        #expect(
            Int(state.specification.configs["max.message.bytes"] ?? "") ?? 0
                > StateChangelog(topic: "t", group: "g", partitions: 1).chunkBytes + 1_024)
        for topic in file.topics where topic.role != .state {
            #expect(topic.specification.configs["retention.ms"] != nil, "\(topic.specification.name) has no retention")
            #expect(
                topic.specification.configs["cleanup.policy"] != nil,
                "\(topic.specification.name) has no cleanup policy")
        }
    }

    @Test("a valid file parses with every field")
    func valid() throws {
        let file = try TopicsFile.parse(
            """
            topics:
              - name: in
                role: input
                partitions: 3
                replication_factor: 2
                configs:
                  retention.ms: 1000
              - name: out
                role: output
                partitions: 1
            """)
        #expect(file.topics.count == 2)
        #expect(
            file.topics[0].specification
                == TopicSpecification(
                    name: "in", partitions: 3, replicationFactor: 2, configs: ["retention.ms": "1000"]))
        #expect(file.topics[0].line == 2)
        #expect(file.topics[1].specification.replicationFactor == 1)
    }

    @Test(
        "errors name the line and the key",
        arguments: [
            (
                "topics:\n  - name: a\n    role: input\n    partitions: six\n", 4, "topics[0].partitions",
                "expected an integer"
            ),
            ("topics:\n  - name: a\n    role: input\n    partitions: 0\n", 4, "topics[0].partitions", "out of range"),
            (
                "topics:\n  - name: a\n    role: input\n    partitions: 1\n    partitons: 2\n", 5,
                "topics[0].partitons", "unknown key"
            ),
            ("topics:\n  - name: a\n    role: sink\n    partitions: 1\n", 3, "topics[0].role", "unknown role"),
            ("topics:\n  - name: a\n    partitions: 1\n", 2, "topics[0]", "missing key `role`"),
            ("topics:\n  - name: a b\n    role: input\n    partitions: 1\n", 2, "topics[0].name", "invalid topic name"),
            (
                "topics:\n  - {name: a, role: input, partitions: 1}\n  - {name: a, role: output, partitions: 1}\n", 3,
                "topics[1].name", "declared twice"
            ),
            (
                "topics:\n  - name: a\n    role: input\n    partitions: 1\n    configs: [x]\n", 5, "topics[0].configs",
                "expected a mapping"
            ),
            ("topics: {}\n", 1, "topics", "expected a list"),
            ("topic:\n  - name: a\n", 1, "topic", "unknown key"),
            ("topics:\n  - name: a\n   role: input\n", 3, "", "invalid YAML"),
        ])
    func errors(yaml: String, line: Int, key: String, message: String) throws {
        let error = try #require(parseError(yaml))
        #expect(error.line == line, "\(error)")
        #expect(error.key == key, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(error.description.hasPrefix("topics.yml:\(line): "), "\(error)")
    }

    @Test("apply creates what is missing, is idempotent, and reports differences without changing them")
    func applyAgainstBroker() async throws {
        let brokers = ProcessInfo.processInfo.environment["VIGIL_TEST_BROKERS"] ?? "127.0.0.1:9092"
        let admin = try KafkaAdmin(
            configuration: AdminConfiguration(bootstrapServers: brokers),
            observer: KafkaClientObserver(logger: .init(label: "test")))
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let file = try TopicsFile.parse(
            """
            topics:
              - {name: in-\(suffix), role: input, partitions: 3, configs: {retention.ms: "3600000"}}
              - {name: out-\(suffix), role: output, partitions: 2}
            """)
        let reconciler = TopicReconciler(admin: admin)

        let check = try await reconciler.apply(file, dryRun: true)
        #expect(check.map(\.status) == [.missing, .missing])
        let first = try await reconciler.apply(file)
        #expect(first.map(\.status) == [.created, .created])
        let second = try await reconciler.apply(file)
        #expect(second.map(\.status) == [.matches, .matches])

        let changed = try TopicsFile.parse(
            """
            topics:
              - {name: in-\(suffix), role: input, partitions: 5, configs: {retention.ms: "7200000"}}
              - {name: out-\(suffix), role: output, partitions: 2}
            """)
        let third = try await reconciler.apply(changed)
        guard case .differs(let differences) = third[0].status else {
            Issue.record("expected differences, got \(third[0].status)")
            return
        }
        #expect(differences.contains("partitions 3 (declared 5)"))
        #expect(differences.contains("retention.ms 3600000 (declared 7200000)"))
        // Nothing was altered.
        #expect(try await admin.describeTopics(["in-\(suffix)"], timeout: .seconds(10)).first?.partitions.count == 3)
    }
}
