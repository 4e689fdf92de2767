import ArgumentParser
import VigilSettings

/// A settings table's key as a command-line flag: its name (and aliases) and its help line
/// with the default and the environment variable, the same for every command.
enum SettingFlags {
    static func name<Root>(_ setting: Setting<Root>) -> NameSpecification {
        NameSpecification([.customLong(setting.flag)] + setting.flagAliases.map { .customLong($0) })
    }

    static func help<Root>(_ setting: Setting<Root>) -> ArgumentHelp {
        let origin = setting.kind == .properties ? "repeatable" : "default \(setting.defaultText)"
        return ArgumentHelp("\(setting.help) (\(origin); env \(setting.environmentVariable))")
    }
}
