import Foundation
import Yams

/// One setting of a command, named once: its file key (`batch_size:`), and from it the
/// environment variable (`VIGIL_BATCH_SIZE`) and the flag (`--batch-size`); its help text; how
/// a value is checked; and where it goes in the command's settings (`Root`).
///
/// A command's settings are a table of these (``StreamSettings/table``); the file reader, the
/// environment reader, the flags, `--print-config` and the README's table all follow it.
public struct Setting<Root>: Sendable {
    public enum Kind: Sendable {
        /// One value.
        case scalar
        /// A map of librdkafka properties: a mapping in the file, `name=value,…` in the
        /// environment, a repeatable `--…-property name=value` flag.
        case properties
    }

    /// The file key, snake_case.
    public let key: String
    public let kind: Kind
    public let help: String
    /// The documented default, as the README shows it.
    public let defaultText: String
    /// Further environment variables read when the `VIGIL_` one is not set (`MODEL_DIR`).
    public let environmentAliases: [String]
    /// Further flag names (`--model` for `--model-dir`).
    public let flagAliases: [String]
    let set: @Sendable (inout Root, String) throws(SettingError) -> Void
    let setProperty: @Sendable (inout Root, String, String) -> Void
    let get: @Sendable (Root) -> SettingValue

    /// `VIGIL_` and the key in capitals.
    public var environmentVariable: String {
        kind == .properties ? "VIGIL_\(key.uppercased())_PROPERTIES" : "VIGIL_" + key.uppercased()
    }

    /// The key with dashes (`--batch-size`; `--consumer-property` for a property map).
    public var flag: String {
        kind == .properties ? "\(key)-property" : key.replacingOccurrences(of: "_", with: "-")
    }

    init(
        key: String, kind: Kind = .scalar, help: String, defaultText: String, environmentAliases: [String] = [],
        flagAliases: [String] = [], set: @escaping @Sendable (inout Root, String) throws(SettingError) -> Void,
        setProperty: @escaping @Sendable (inout Root, String, String) -> Void = { _, _, _ in },
        get: @escaping @Sendable (Root) -> SettingValue
    ) {
        self.key = key
        self.kind = kind
        self.help = help
        self.defaultText = defaultText
        self.environmentAliases = environmentAliases
        self.flagAliases = flagAliases
        self.set = set
        self.setProperty = setProperty
        self.get = get
    }
}

/// A setting's value as `--print-config` shows it.
public enum SettingValue: Sendable, Equatable {
    case text(String)
    case number(Int)
    case none
    case properties([String: String])
}

/// Why a value was refused (without saying where it came from: the loader adds that).
public struct SettingError: Error, Sendable {
    public var message: String
}

// MARK: - Kinds of setting

extension Setting {
    /// Text that must not be empty.
    public static func text(
        _ key: String, _ path: any WritableKeyPath<Root, String> & Sendable, default defaultText: String,
        help: String, environmentAliases: [String] = [], flagAliases: [String] = []
    ) -> Setting {
        Setting(
            key: key, help: help, defaultText: defaultText, environmentAliases: environmentAliases,
            flagAliases: flagAliases,
            set: { root, text throws(SettingError) in
                guard !text.isEmpty else { throw SettingError(message: "must not be empty") }
                root[keyPath: path] = text
            },
            get: { .text($0[keyPath: path]) })
    }

    /// Text that may be switched off with `none`, `null`, `~` or an empty value.
    public static func optionalText(
        _ key: String, _ path: any WritableKeyPath<Root, String?> & Sendable,
        default defaultText: String, help: String, environmentAliases: [String] = [],
        flagAliases: [String] = []
    ) -> Setting {
        Setting(
            key: key, help: help, defaultText: defaultText, environmentAliases: environmentAliases,
            flagAliases: flagAliases,
            set: { root, text throws(SettingError) in
                root[keyPath: path] = ["", "null", "none", "~"].contains(text.lowercased()) ? nil : text
            },
            get: { $0[keyPath: path].map(SettingValue.text) ?? .none })
    }

    /// An integer within `range`.
    public static func integer(
        _ key: String, _ path: any WritableKeyPath<Root, Int> & Sendable, in range: ClosedRange<Int>,
        default defaultText: String, help: String, environmentAliases: [String] = []
    ) -> Setting {
        Setting(
            key: key, help: help, defaultText: defaultText, environmentAliases: environmentAliases,
            set: { root, text throws(SettingError) in
                guard let value = Int(text) else { throw SettingError(message: "expected an integer, got \"\(text)\"") }
                guard range.contains(value) else {
                    throw SettingError(message: "\(value) is out of range \(range.lowerBound)…\(range.upperBound)")
                }
                root[keyPath: path] = value
            },
            get: { .number($0[keyPath: path]) })
    }

    /// One of a fixed set of words.
    public static func choice<Value: RawRepresentable & CaseIterable & Sendable>(
        _ key: String, _ path: any WritableKeyPath<Root, Value> & Sendable, default defaultText: String, help: String,
        environmentAliases: [String] = []
    ) -> Setting where Value.RawValue == String {
        let names = Value.allCases.map(\.rawValue)
        return Setting(
            key: key, help: help, defaultText: defaultText, environmentAliases: environmentAliases,
            set: { root, text throws(SettingError) in
                guard let value = Value(rawValue: text) else {
                    throw SettingError(message: "expected \(Self.alternatives(names)), got \"\(text)\"")
                }
                root[keyPath: path] = value
            },
            get: { .text($0[keyPath: path].rawValue) })
    }

    /// librdkafka properties passed through (`consumer:` / `producer:`).
    public static func properties(
        _ key: String, _ path: any WritableKeyPath<Root, [String: String]> & Sendable,
        help: String
    ) -> Setting {
        Setting(
            key: key, kind: .properties, help: help, defaultText: "{}",
            set: { _, _ throws(SettingError) in throw SettingError(message: "expected name=value properties") },
            setProperty: { root, name, value in root[keyPath: path][name] = value },
            get: { .properties($0[keyPath: path]) })
    }

    /// A comma-separated list (empty entries dropped); `secret` masks it in `--print-config`.
    public static func list(
        _ key: String, _ path: any WritableKeyPath<Root, [String]> & Sendable, default defaultText: String,
        help: String, secret: Bool = false
    ) -> Setting {
        Setting(
            key: key, help: help, defaultText: defaultText,
            set: { root, text throws(SettingError) in
                root[keyPath: path] = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            },
            get: { root in
                let values = root[keyPath: path]
                if values.isEmpty { return .none }
                return .text(secret ? "***" : values.joined(separator: ","))
            })
    }

    /// `true` or `false` (also yes/no, on/off, 1/0).
    public static func boolean(
        _ key: String, _ path: any WritableKeyPath<Root, Bool> & Sendable, default defaultText: String, help: String
    ) -> Setting {
        Setting(
            key: key, help: help, defaultText: defaultText,
            set: { root, text throws(SettingError) in
                switch text.lowercased() {
                case "true", "yes", "on", "1": root[keyPath: path] = true
                case "false", "no", "off", "0": root[keyPath: path] = false
                default: throw SettingError(message: "expected true or false, got \"\(text)\"")
                }
            },
            get: { .text($0[keyPath: path] ? "true" : "false") })
    }

    static func alternatives(_ names: [String]) -> String {
        names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
    }
}
