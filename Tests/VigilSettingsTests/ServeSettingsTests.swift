import Foundation
import Testing
import VigilAPI
import VigilTesting

@testable import VigilSettings

@Suite("vigil serve settings")
struct ServeSettingsTests {
    @Test("file, environment and flags fill the API configuration; MODEL_DIR makes the model explicit")
    func layers() throws {
        let dir = StreamHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "port: 9000\nmax_body_bytes: 2048\nopen_probes: false\nrate_limit_per_minute: 120\n".write(
            toFile: "\(dir)/serve.yml", atomically: true, encoding: .utf8)
        try "# tokens\nalpha\n\n beta \n".write(toFile: "\(dir)/tokens", atomically: true, encoding: .utf8)
        var settings = ServeSettings()
        #expect(!settings.api.modelDirectoryExplicit)
        let loader = ServeSettings.loader
        try loader.apply(file: "\(dir)/serve.yml", to: &settings)
        try loader.apply(
            environment: ["MODEL_DIR": "/models/v2", "VIGIL_API_TOKENS": "one,two", "VIGIL_API_TOKENS_FILE": "\(dir)/tokens"],
            to: &settings)
        try loader.apply(flag: "port", "9100", to: &settings)
        try settings.readTokensFile()
        #expect(settings.api.port == 9100)
        #expect(settings.api.maxBodyBytes == 2048)
        #expect(settings.api.openProbes == false)
        #expect(settings.api.rateLimitPerSecond == 2)
        #expect(settings.api.modelDirectory == "/models/v2")
        #expect(settings.api.modelDirectoryExplicit)
        #expect(settings.api.tokens == ["one", "two", "alpha", "beta"])
        #expect(!settings.yaml.contains("one,two"), "tokens printed:\n\(settings.yaml)")
        #expect(settings.yaml.contains("api_tokens: '***'") || settings.yaml.contains("api_tokens: \"***\"") || settings.yaml.contains("api_tokens: ***"))
    }

    @Test("bad values name the setting and its source")
    func refused() {
        var settings = ServeSettings()
        #expect(throws: (any Error).self) { try ServeSettings.loader.apply(flag: "port", "70000", to: &settings) }
        #expect(throws: (any Error).self) { try ServeSettings.loader.apply(flag: "open_probes", "maybe", to: &settings) }
        do {
            try ServeSettings.loader.apply(environment: ["VIGIL_MAX_CONTEXTS": "0"], to: &settings)
            Issue.record("accepted max_contexts 0")
        } catch {
            #expect("\(error)".contains("VIGIL_MAX_CONTEXTS"), "\(error)")
        }
        settings.tokensFile = "/nonexistent/tokens"
        #expect(throws: SettingError.self) { try settings.readTokensFile() }
    }

    @Test("every key is unique with help; the README's API table lists each with its default")
    func readme() throws {
        let table = ServeSettings.table
        #expect(Set(table.map(\.key)).count == table.count)
        for setting in table { #expect(!setting.help.isEmpty) }
        let readme = try RepositoryFiles.text("README.md")
        let section = try #require(RepositoryFiles.section("### API configuration", of: readme))
        for setting in table {
            let row = section.split(separator: "\n").first { $0.hasPrefix("| `\(setting.key)`") }
            #expect(row != nil, "README misses \(setting.key)")
            #expect(row?.contains(setting.defaultText) == true, "README's default for \(setting.key): \(row ?? "")")
            #expect(row?.contains(setting.environmentVariable) == true, "README's variable for \(setting.key)")
        }
    }
}
