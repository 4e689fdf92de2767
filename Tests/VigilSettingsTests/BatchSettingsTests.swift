import Foundation
import Testing
import VigilBatch
import VigilTesting

@testable import VigilSettings

@Suite("vigil batch settings")
struct BatchSettingsTests {
    @Test(
        "file, environment (BATCH_INTERVAL, MODEL_DIR) and flags fill the batch configuration; bad values name their source"
    )
    func layers() throws {
        var settings = BatchSettings()
        try BatchSettings.loader.apply(
            environment: ["BATCH_INTERVAL": "3600", "MODEL_DIR": "models/a", "VIGIL_INCLUDE": "*.log, secure*"],
            to: &settings)
        #expect(settings.batch.intervalSeconds == 3600)
        #expect(settings.model.directory == "models/a")
        #expect(settings.batch.include == ["*.log", "secure*"])
        try BatchSettings.loader.apply(flag: "interval", "60", to: &settings)
        #expect(settings.batch.intervalSeconds == 60)
        try BatchSettings.loader.apply(flag: "fail_on_anomalies", "true", to: &settings)
        #expect(settings.batch.failOnAnomalies)
        do {
            try BatchSettings.loader.apply(environment: ["BATCH_INTERVAL": "hourly"], to: &settings)
            Issue.record("accepted interval 'hourly'")
        } catch {
            #expect("\(error)".contains("BATCH_INTERVAL"), "\(error)")
        }
        #expect(settings.yaml.contains("interval: 60"), "\(settings.yaml)")
    }

    @Test("every key is unique with help; the README's batch table lists each with its default")
    func readme() throws {
        let table = BatchSettings.table
        #expect(Set(table.map(\.key)).count == table.count)
        let readme = try RepositoryFiles.text("README.md")
        let section = try #require(RepositoryFiles.section("### Batch configuration", of: readme))
        for setting in table {
            #expect(!setting.help.isEmpty)
            let row = section.split(separator: "\n").first { $0.hasPrefix("| `\(setting.key)`") }
            #expect(row != nil, "README misses \(setting.key)")
            #expect(
                row?.contains("`\(setting.defaultText)`") == true, "README's default for \(setting.key): \(row ?? "")")
            #expect(row?.contains(setting.environmentVariable) == true, "README's variable for \(setting.key)")
            #expect(row?.contains("--\(setting.flag)") == true, "README's flag for \(setting.key)")
        }
    }
}
