import Yams

/// A problem in a configuration file, located by file, line and key path.
public struct ConfigFileError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// Dotted key path, for example `topics[1].partitions`.
    public var key: String
    public var message: String

    public init(file: String, line: Int?, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return key.isEmpty ? "\(location): \(message)" : "\(location): \(key): \(message)"
    }
}

/// A YAML node with its place in the file, for reading configuration strictly: every wrong
/// type, missing key or unknown key is reported with its line and key path.
public struct YAMLValue {
    let node: Node
    let file: String
    /// The key path of this node.
    public let path: String
    /// The line of the key this value belongs to (a mapping value), else the value's own.
    var keyLine: Int? = nil

    /// Parses `text`; syntax errors are reported with their line.
    public static func parse(_ text: String, file: String) throws(ConfigFileError) -> YAMLValue? {
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            return YAMLValue(node: node, file: file, path: "")
        } catch let error as YamlError {
            throw ConfigFileError(
                file: file, line: Self.line(of: error), key: "", message: "invalid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigFileError(file: file, line: nil, key: "", message: "invalid YAML: \(error)")
        }
    }

    public var line: Int? { keyLine ?? node.mark?.line }

    public func error(_ message: String) -> ConfigFileError {
        ConfigFileError(file: file, line: line, key: path, message: message)
    }

    private func child(_ node: Node, _ key: String) -> YAMLValue {
        YAMLValue(node: node, file: file, path: path.isEmpty ? key : "\(path).\(key)")
    }

    /// The entries of a mapping, in file order. Fails on anything but a mapping with string keys.
    public func mapping() throws(ConfigFileError) -> [(key: String, value: YAMLValue)] {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping, got \(kind)") }
        var result: [(String, YAMLValue)] = []
        var seen = Set<String>()
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else {
                throw ConfigFileError(file: file, line: keyNode.mark?.line, key: path, message: "keys must be strings")
            }
            guard seen.insert(key).inserted else {
                throw ConfigFileError(
                    file: file, line: keyNode.mark?.line, key: child(valueNode, key).path, message: "duplicate key")
            }
            var value = child(valueNode, key)
            value.keyLine = keyNode.mark?.line
            result.append((key, value))
        }
        return result
    }

    /// The mapping's entries as a dictionary, rejecting keys not in `allowed`.
    public func fields(allowed: Set<String>) throws(ConfigFileError) -> [String: YAMLValue] {
        var fields: [String: YAMLValue] = [:]
        for (key, value) in try mapping() {
            guard allowed.contains(key) else {
                throw ConfigFileError(
                    file: file, line: value.line, key: value.path,
                    message: "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            fields[key] = value
        }
        return fields
    }

    /// The elements of a sequence.
    public func sequence() throws(ConfigFileError) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw error("expected a list, got \(kind)") }
        return sequence.enumerated().map { index, node in
            YAMLValue(node: node, file: file, path: "\(path)[\(index)]")
        }
    }

    /// A scalar as text (numbers and booleans included, as written).
    public func string() throws(ConfigFileError) -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a single value, got \(kind)") }
        return scalar.string
    }

    public func int(in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigFileError) -> Int {
        let text = try string()
        guard let value = Int(text) else { throw error("expected an integer, got \"\(text)\"") }
        guard range.contains(value) else {
            throw error("\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
        }
        return value
    }

    public func bool() throws(ConfigFileError) -> Bool {
        let text = try string()
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, got \"\(text)\"")
        }
    }

    private var kind: String {
        switch node {
        case .scalar: "a single value"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
        default: "\(error)"
        }
    }
}
