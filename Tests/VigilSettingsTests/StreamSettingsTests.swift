import Foundation
import Testing
import VigilSettings
import VigilTesting

@Suite("Stream settings")
struct StreamSettingsTests {
    @Test("flags override the environment, which overrides the file")
    func precedence() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        brokers: file:9092
        group_id: from-file
        batch_size: 100
        state_dir: none
        consumer:
          session.timeout.ms: 6000
          sasl.password: secret
        """.write(toFile: file, atomically: true, encoding: .utf8)
        var settings = StreamSettings()
        let loader = StreamSettings.loader
        try loader.apply(file: file, to: &settings)
        try loader.apply(
            environment: [
                "VIGIL_GROUP_ID": "from-env", "VIGIL_BATCH_SIZE": "200", "MODEL_DIR": "/m",
                "VIGIL_CONSUMER_PROPERTIES": "fetch.min.bytes=1,session.timeout.ms=7000",
            ], to: &settings)
        try loader.apply(flag: "batch_size", "300", to: &settings)
        #expect(settings.stream.brokers == "file:9092")
        #expect(settings.stream.groupID == "from-env")
        #expect(settings.stream.batchSize == 300)
        #expect(settings.stream.stateDirectory == nil)
        #expect(settings.model.directory == "/m")
        #expect(
            settings.stream.consumerProperties == [
                "session.timeout.ms": "7000", "sasl.password": "secret", "fetch.min.bytes": "1",
            ])
        #expect(settings.yaml.contains("sasl.password: \"****\""))
        #expect(!settings.yaml.contains("secret"))
    }

    @Test(
        "bad values name their source, line and key",
        arguments: [
            ("batch_size: lots\n", "line 1", "batch_size"),
            ("metrics_port: 70000\n", "line 1", "out of range"),
            ("group_id: g\nlog_format: xml\n", "line 2", "expected text or json"),
            ("groupid: g\n", "line 1", "unknown key"),
        ])
    func fileErrors(yaml: String, location: String, message: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        var settings = StreamSettings()
        do {
            try StreamSettings.loader.apply(file: file, to: &settings)
            Issue.record("accepted \(yaml)")
        } catch {
            #expect(error.description.contains(":\(location.dropFirst(5)):"), "\(error)")
            #expect(error.description.contains(message), "\(error)")
        }
        do {
            try StreamSettings.loader.apply(environment: ["VIGIL_MAX_INFLIGHT_EVENTS": "-3"], to: &settings)
            Issue.record("accepted a negative cap")
        } catch {
            #expect(error.description.contains("VIGIL_MAX_INFLIGHT_EVENTS"))
        }
    }
}

@Suite("Settings table")
struct SettingsTableTests {
    @Test("--print-config output is YAML the loader reads back to the same settings (secrets aside)")
    func roundTrip() throws {
        var settings = StreamSettings()
        let loader = StreamSettings.loader
        try loader.apply(flag: "group_id", "g: with a colon", to: &settings)
        try loader.apply(flag: "state_dir", "none", to: &settings)
        try loader.apply(flag: "log_format", "json", to: &settings)
        try loader.apply(flag: "consumer", "fetch.min.bytes=1", to: &settings)
        try loader.apply(flag: "producer", "linger.ms=50", to: &settings)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID().uuidString).yml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try settings.yaml.write(toFile: file, atomically: true, encoding: .utf8)
        var reread = StreamSettings()
        try loader.apply(file: file, to: &reread)
        #expect(reread == settings)
    }

    @Test("every key has one environment variable and one flag derived from it, and help text")
    func names() {
        let table = StreamSettings.table
        #expect(Set(table.map(\.key)).count == table.count)
        for setting in table {
            #expect(!setting.help.isEmpty)
            #expect(setting.environmentVariable.hasPrefix("VIGIL_"))
        }
        #expect(StreamSettings.setting("batch_size").environmentVariable == "VIGIL_BATCH_SIZE")
        #expect(StreamSettings.setting("batch_size").flag == "batch-size")
        #expect(StreamSettings.setting("consumer").flag == "consumer-property")
        #expect(StreamSettings.setting("consumer").environmentVariable == "VIGIL_CONSUMER_PROPERTIES")
        #expect(StreamSettings.setting("model_dir").environmentAliases == ["MODEL_DIR"])
    }

    @Test("the README's configuration table lists every setting with its default")
    func readme() throws {
        let readme = try RepositoryFiles.text("README.md")
        let table = try #require(RepositoryFiles.section("### Configuration", of: readme))
        for setting in StreamSettings.table where setting.kind == .scalar {
            let row = table.split(separator: "\n").first { $0.hasPrefix("| `\(setting.key)`") }
            #expect(row != nil, "README misses \(setting.key)")
            #expect(row?.contains(setting.defaultText) == true, "README's default for \(setting.key): \(row ?? "")")
        }
    }
}
