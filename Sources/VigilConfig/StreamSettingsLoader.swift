import Foundation
import VigilKafka
import VigilPipeline

/// Builds ``StreamSettings`` from a YAML file, the environment and command-line flags — in
/// that order, each overriding the one before. Every key has the same name in all three
/// (`group_id:` in the file, `VIGIL_GROUP_ID` in the environment, `--group-id` as a flag).
public enum StreamSettingsLoader {
    typealias Setter = @Sendable (inout StreamSettings, String) throws(SettingError) -> Void

    struct SettingError: Error { var message: String }

    private static func int(_ range: ClosedRange<Int>, _ set: @escaping @Sendable (inout StreamSettings, Int) -> Void) -> Setter {
        { settings, text throws(SettingError) in
            guard let value = Int(text) else { throw SettingError(message: "expected an integer, got \"\(text)\"") }
            guard range.contains(value) else { throw SettingError(message: "\(value) is out of range \(range.lowerBound)…\(range.upperBound)") }
            set(&settings, value)
        }
    }

    private static func text(_ set: @escaping @Sendable (inout StreamSettings, String) -> Void) -> Setter {
        { settings, text throws(SettingError) in
            guard !text.isEmpty else { throw SettingError(message: "must not be empty") }
            set(&settings, text)
        }
    }

    /// An optional value: `null`, `none` or empty turns it off.
    private static func optional(_ set: @escaping @Sendable (inout StreamSettings, String?) -> Void) -> Setter {
        { settings, text throws(SettingError) in
            set(&settings, ["", "null", "none", "~"].contains(text.lowercased()) ? nil : text)
        }
    }

    /// The settable keys (snake_case, as in the file).
    static let setters: [String: Setter] = [
        "brokers": text { $0.brokers = $1 },
        "group_id": text { $0.groupID = $1 },
        "group_instance_id": optional { $0.groupInstanceID = $1 },
        "input_topic": text { $0.inputTopic = $1 },
        "output_topic": text { $0.outputTopic = $1 },
        "dlq_topic": text { $0.deadLetterTopic = $1 },
        "assignment_strategy": { settings, text throws(SettingError) in
            guard let strategy = AssignmentStrategy(rawValue: text) else {
                throw SettingError(message: "expected range, roundrobin or cooperative-sticky, got \"\(text)\"")
            }
            settings.assignmentStrategy = strategy
        },
        "model_dir": optional { $0.modelDirectory = $1 },
        "state_dir": optional { $0.stateDirectory = $1 },
        "batch_size": int(1...100_000) { $0.batchSize = $1 },
        "batch_linger_ms": int(1...60_000) { $0.batchLingerMs = $1 },
        "max_inflight_events": int(1...100_000_000) { $0.maxInFlightEvents = $1 },
        "max_inflight_bytes": int(1024...(64 << 30)) { $0.maxInFlightBytes = $1 },
        "commit_interval_ms": int(100...3_600_000) { $0.commitIntervalMs = $1 },
        "snapshot_interval_ms": int(100...86_400_000) { $0.snapshotIntervalMs = $1 },
        "shutdown_timeout_ms": int(100...3_600_000) { $0.shutdownTimeoutMs = $1 },
        "metrics_port": int(0...65_535) { $0.metricsPort = $1 },
        "metrics_address": text { $0.metricsAddress = $1 },
        "log_format": { settings, text throws(SettingError) in
            guard let format = StreamSettings.LogFormat(rawValue: text) else { throw SettingError(message: "expected text or json, got \"\(text)\"") }
            settings.logFormat = format
        },
        "log_level": { settings, text throws(SettingError) in
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(text) else {
                throw SettingError(message: "expected trace, debug, info, notice, warning, error or critical, got \"\(text)\"")
            }
            settings.logLevel = text
        },
    ]

    /// Applies a YAML file. Unknown keys and bad values fail with the line and key.
    public static func apply(file path: String, to settings: inout StreamSettings) throws(ConfigFileError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(file: path, line: nil, key: "", message: "cannot read: \(error.localizedDescription)")
        }
        guard let root = try YAMLValue.parse(text, file: path) else { return }
        let allowed = Set(setters.keys).union(["consumer", "producer"])
        for (key, value) in try root.fields(allowed: allowed).sorted(by: { $0.key < $1.key }) {
            if key == "consumer" || key == "producer" {
                var properties: [String: String] = [:]
                for (name, property) in try value.mapping() { properties[name] = try property.string() }
                if key == "consumer" { settings.consumerProperties.merge(properties) { $1 } } else { settings.producerProperties.merge(properties) { $1 } }
                continue
            }
            guard let setter = setters[key] else { continue }
            let raw = try value.string()
            do { try setter(&settings, raw) } catch { throw value.error(error.message) }
        }
    }

    /// Applies `VIGIL_*` environment variables (and `MODEL_DIR`). Librdkafka properties come as
    /// `VIGIL_CONSUMER_PROPERTIES` / `VIGIL_PRODUCER_PROPERTIES`: `name=value,name=value`.
    public static func apply(environment: [String: String], to settings: inout StreamSettings) throws(ConfigFileError) {
        if let model = environment["MODEL_DIR"], environment["VIGIL_MODEL_DIR"] == nil {
            try apply("model_dir", model, source: "environment", name: "MODEL_DIR", to: &settings)
        }
        for key in setters.keys.sorted() {
            let name = "VIGIL_" + key.uppercased()
            if let value = environment[name] { try apply(key, value, source: "environment", name: name, to: &settings) }
        }
        for (name, kind) in [("VIGIL_CONSUMER_PROPERTIES", "consumer"), ("VIGIL_PRODUCER_PROPERTIES", "producer")] {
            guard let list = environment[name] else { continue }
            for pair in list.split(separator: ",") where !pair.trimmingCharacters(in: .whitespaces).isEmpty {
                let (key, value) = try property(String(pair), source: "environment", name: name)
                if kind == "consumer" { settings.consumerProperties[key] = value } else { settings.producerProperties[key] = value }
            }
        }
    }

    /// Applies one setting by its key (flags use this).
    public static func apply(_ key: String, _ value: String, source: String = "command line", name: String? = nil,
                             to settings: inout StreamSettings) throws(ConfigFileError) {
        let label = name ?? "--" + key.replacingOccurrences(of: "_", with: "-")
        guard let setter = setters[key] else { throw ConfigFileError(file: source, line: nil, key: label, message: "unknown setting") }
        do { try setter(&settings, value) } catch { throw ConfigFileError(file: source, line: nil, key: label, message: error.message) }
    }

    /// Splits `name=value`.
    public static func property(_ pair: String, source: String = "command line", name: String) throws(ConfigFileError) -> (String, String) {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ConfigFileError(file: source, line: nil, key: name, message: "expected name=value, got \"\(pair)\"")
        }
        return (String(pair[..<equals]).trimmingCharacters(in: .whitespaces), String(pair[pair.index(after: equals)...]))
    }
}
