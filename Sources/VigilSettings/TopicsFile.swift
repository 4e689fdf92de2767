import Foundation
import VigilKafka

/// The role a declared topic plays for Vigil.
public enum TopicRole: String, Sendable, CaseIterable {
    /// Raw log events Vigil consumes.
    case input
    /// Anomalies Vigil publishes.
    case output
    /// Records Vigil could not decode, forwarded unchanged.
    case deadLetter = "dead-letter"
    /// Anomalies an alert sink gave up on (`vigil alert`), with the sink and reason in headers.
    case undelivered
    /// Detector snapshots (`vigil stream`'s changelog, compacted), so state follows a partition.
    case state
    /// Repartitioned stream: events keyed by source, between the route and detect stages.
    case bySource = "repartition-by-source"
    /// Repartitioned stream: events keyed by account, between the route and detect stages.
    case byUser = "repartition-by-user"
}

/// A topic declared in `topics.yml`.
public struct DeclaredTopic: Sendable, Hashable {
    public var role: TopicRole
    public var specification: TopicSpecification
    /// The line that declares it.
    public var line: Int?
}

/// `topics.yml`: every topic Vigil uses, with partitions, replication factor and configs.
///
/// ```yaml
/// topics:
///   - name: raw-logs
///     role: input
///     partitions: 6
///     replication_factor: 1
///     configs:
///       retention.ms: 604800000
/// ```
public struct TopicsFile: Sendable {
    public var topics: [DeclaredTopic]

    /// The first topic with `role`.
    public func topic(_ role: TopicRole) -> DeclaredTopic? { topics.first { $0.role == role } }

    public static func load(path: String) throws(ConfigFileError) -> TopicsFile {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(file: path, line: nil, key: "", message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String = "topics.yml") throws(ConfigFileError) -> TopicsFile {
        guard let root = try YAMLValue.parse(text, file: file) else {
            throw ConfigFileError(file: file, line: nil, key: "", message: "file is empty; expected a `topics:` list")
        }
        let fields = try root.fields(allowed: ["topics"])
        guard let list = fields["topics"] else { throw root.error("missing key `topics`") }
        var topics: [DeclaredTopic] = []
        var names: [String: Int?] = [:]
        for item in try list.sequence() {
            let f = try item.fields(allowed: ["name", "role", "partitions", "replication_factor", "configs"])
            guard let nameValue = f["name"] else { throw item.error("missing key `name`") }
            let name = try nameValue.string()
            try validateTopicName(name, nameValue)
            if let first = names[name] {
                throw nameValue.error(
                    "topic \"\(name)\" is declared twice (first at line \(first.map(String.init) ?? "?"))")
            }
            names[name] = nameValue.line
            guard let roleValue = f["role"] else { throw item.error("missing key `role`") }
            let roleText = try roleValue.string()
            guard let role = TopicRole(rawValue: roleText) else {
                throw roleValue.error(
                    "unknown role \"\(roleText)\" (expected one of: \(TopicRole.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            guard let partitionsValue = f["partitions"] else { throw item.error("missing key `partitions`") }
            let partitions = try partitionsValue.int(in: 1...100_000)
            let replication =
                try f["replication_factor"].map { v throws(ConfigFileError) in try v.int(in: 1...32) } ?? 1
            var configs: [String: String] = [:]
            if let configValue = f["configs"] {
                for (key, value) in try configValue.mapping() { configs[key] = try value.string() }
            }
            topics.append(
                DeclaredTopic(
                    role: role,
                    specification: TopicSpecification(
                        name: name, partitions: partitions,
                        replicationFactor: replication, configs: configs),
                    line: item.line))
        }
        if topics.isEmpty { throw list.error("no topics declared") }
        return TopicsFile(topics: topics)
    }

    /// Kafka's rules: 1–249 characters of ASCII letters, digits, '.', '_' and '-'; not "." or "..".
    private static func validateTopicName(_ name: String, _ value: YAMLValue) throws(ConfigFileError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.count <= 249, name != ".", name != "..", name.allSatisfy(allowed.contains) else {
            throw value.error("invalid topic name \"\(name)\": use 1–249 of a-z A-Z 0-9 . _ -")
        }
    }
}

/// What `vigil topics apply` did or found for one topic.
public struct TopicApplyOutcome: Sendable {
    public enum Status: Sendable, Equatable {
        case created
        case matches
        /// Exists with different settings; Vigil never alters an existing topic.
        case differs([String])
        /// Would be created (check mode).
        case missing
        case failed(String)
    }
    public var topic: String
    public var status: Status
    /// Settings that could not be compared (for example a broker without DescribeConfigs).
    public var notes: [String] = []
}

/// Brings a cluster in line with `topics.yml`: creates missing topics and reports existing ones
/// that differ. Never deletes or alters anything, so it is safe to run repeatedly.
public struct TopicReconciler: Sendable {
    public let admin: KafkaAdmin
    public var timeout: Duration = .seconds(15)

    public init(admin: KafkaAdmin) { self.admin = admin }

    /// Applies `file`. With `dryRun`, only reports.
    public func apply(_ file: TopicsFile, dryRun: Bool = false) async throws(KafkaError) -> [TopicApplyOutcome] {
        let existing = Dictionary(
            uniqueKeysWithValues: try await admin.describeTopics(nil, timeout: timeout).map { ($0.name, $0) })
        var outcomes: [TopicApplyOutcome] = []
        let missing = file.topics.map(\.specification).filter { existing[$0.name] == nil }
        var created: [String: Result<Void, KafkaError>] = [:]
        if !dryRun && !missing.isEmpty {
            created = try await admin.createTopics(missing, timeout: timeout)
        }
        for declared in file.topics {
            let spec = declared.specification
            guard let actual = existing[spec.name] else {
                if dryRun {
                    outcomes.append(TopicApplyOutcome(topic: spec.name, status: .missing))
                } else {
                    switch created[spec.name] {
                    case .success?: outcomes.append(TopicApplyOutcome(topic: spec.name, status: .created))
                    case .failure(let error)? where error.code == .topicAlreadyExists:
                        outcomes.append(
                            TopicApplyOutcome(
                                topic: spec.name, status: .matches, notes: ["created concurrently by another client"]))
                    case .failure(let error)?:
                        outcomes.append(TopicApplyOutcome(topic: spec.name, status: .failed("\(error)")))
                    case nil:
                        outcomes.append(
                            TopicApplyOutcome(topic: spec.name, status: .failed("no result from the broker")))
                    }
                }
                continue
            }
            var differences: [String] = []
            var notes: [String] = []
            if actual.partitions.count != spec.partitions {
                differences.append("partitions \(actual.partitions.count) (declared \(spec.partitions))")
            }
            if actual.replicationFactor != spec.replicationFactor {
                differences.append(
                    "replication factor \(actual.replicationFactor) (declared \(spec.replicationFactor))")
            }
            if !spec.configs.isEmpty {
                do {
                    let configs = try await admin.topicConfigs(spec.name, timeout: timeout)
                    for (key, value) in spec.configs.sorted(by: { $0.key < $1.key }) {
                        let actualValue = configs[key]?.value
                        if actualValue != value {
                            differences.append("\(key) \(actualValue ?? "unset") (declared \(value))")
                        }
                    }
                } catch {
                    notes.append("configs not verified: \(error.message)")
                }
            }
            outcomes.append(
                TopicApplyOutcome(
                    topic: spec.name, status: differences.isEmpty ? .matches : .differs(differences), notes: notes))
        }
        return outcomes
    }
}
