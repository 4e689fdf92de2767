import Foundation
import VigilKafka
import Yams

/// Fills a command's settings from its table (``Setting``): defaults, then a YAML file, then
/// the environment, then flags — each overriding the one before. Every error names its
/// source, line and key.
public struct SettingsLoader<Root>: Sendable {
    public let table: [Setting<Root>]

    public init(table: [Setting<Root>]) { self.table = table }

    private func setting(_ key: String) -> Setting<Root>? { table.first { $0.key == key } }

    /// The layers in order, later ones winning: `file` (or `VIGIL_CONFIG`), the environment's
    /// variables, then `flags` (setting key, value) — what every command's settings come from.
    public func apply(
        file: String?, environment: [String: String], flags: [(String, String)], to root: inout Root
    ) throws(ConfigFileError) {
        if let file = file ?? environment["VIGIL_CONFIG"] { try apply(file: file, to: &root) }
        try apply(environment: environment, to: &root)
        for (key, value) in flags { try apply(flag: key, value, to: &root) }
    }

    /// Applies a YAML file. Unknown keys and bad values fail with the line and key.
    public func apply(file path: String, to root: inout Root) throws(ConfigFileError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigFileError(file: path, line: nil, key: "", message: "cannot read: \(error.localizedDescription)")
        }
        guard let document = try YAMLValue.parse(text, file: path) else { return }
        for (key, value) in try document.fields(allowed: Set(table.map(\.key))).sorted(by: { $0.key < $1.key }) {
            guard let setting = setting(key) else { continue }
            switch setting.kind {
            case .scalar:
                let raw = try value.string()
                do { try setting.set(&root, raw) } catch { throw value.error(error.message) }
            case .properties:
                for (name, property) in try value.mapping() { setting.setProperty(&root, name, try property.string()) }
            }
        }
    }

    /// Applies `VIGIL_*` environment variables (and their aliases, such as `MODEL_DIR`).
    /// Property maps come as `VIGIL_CONSUMER_PROPERTIES="name=value,name=value"`.
    public func apply(environment: [String: String], to root: inout Root) throws(ConfigFileError) {
        for setting in table {
            let name = ([setting.environmentVariable] + setting.environmentAliases).first { environment[$0] != nil }
            guard let name, let value = environment[name] else { continue }
            switch setting.kind {
            case .scalar:
                try apply(setting, value, source: "environment", name: name, to: &root)
            case .properties:
                for pair in value.split(separator: ",") where !pair.trimmingCharacters(in: .whitespaces).isEmpty {
                    let (key, value) = try Self.property(String(pair), source: "environment", name: name)
                    setting.setProperty(&root, key, value)
                }
            }
        }
    }

    /// Applies one value given as a flag (`--batch-size 300`).
    public func apply(flag key: String, _ value: String, to root: inout Root) throws(ConfigFileError) {
        guard let setting = setting(key) else {
            throw ConfigFileError(file: "command line", line: nil, key: key, message: "unknown setting")
        }
        switch setting.kind {
        case .scalar:
            try apply(setting, value, source: "command line", name: "--" + setting.flag, to: &root)
        case .properties:
            let (name, property) = try Self.property(value, name: "--" + setting.flag)
            setting.setProperty(&root, name, property)
        }
    }

    private func apply(
        _ setting: Setting<Root>, _ value: String, source: String, name: String,
        to root: inout Root
    ) throws(ConfigFileError) {
        do { try setting.set(&root, value) } catch {
            throw ConfigFileError(file: source, line: nil, key: name, message: error.message)
        }
    }

    /// Splits `name=value`.
    public static func property(
        _ pair: String, source: String = "command line",
        name: String
    ) throws(ConfigFileError) -> (String, String) {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ConfigFileError(file: source, line: nil, key: name, message: "expected name=value, got \"\(pair)\"")
        }
        return (
            String(pair[..<equals]).trimmingCharacters(in: .whitespaces), String(pair[pair.index(after: equals)...])
        )
    }

    /// The settings as YAML, in table order, with secrets (passwords, keys, tokens) masked.
    public func yaml(_ root: Root) -> String {
        var pairs: [(Node, Node)] = []
        for setting in table {
            let value: Node
            switch setting.get(root) {
            case .text(let text): value = Node(text)
            case .number(let number): value = Node(String(number), Tag(.int))
            case .none: value = Node("null", Tag(.null))
            case .properties(let properties):
                value = Node.mapping(
                    Node.Mapping(
                        properties.sorted { $0.key < $1.key }.map { name, text in
                            let masked = maskedValue(name, text)
                            // A masked value is quoted, so it reads as text, not as a YAML alias.
                            return (Node(name), Node(masked, Tag(.str), masked == text ? .any : .doubleQuoted))
                        }))
            }
            pairs.append((Node(setting.key), value))
        }
        return (try? Yams.serialize(node: Node.mapping(Node.Mapping(pairs)))) ?? ""
    }
}
