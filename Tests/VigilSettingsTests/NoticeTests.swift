import Foundation
import Testing
import VigilTesting

/// The binary links librdkafka and the Swift packages statically, so their notices must ship
/// with it: NOTICE (in the image) and `vigil version --licenses` (from the same text).
@Suite("Licences")
struct NoticeTests {
    @Test(
        "LICENSE is Apache-2.0; NOTICE names librdkafka and every resolved package at its version; the binary prints it"
    )
    func notice() throws {
        #expect(try RepositoryFiles.text("LICENSE").contains("Apache License\n                           Version 2.0"))
        let notice = try RepositoryFiles.text("NOTICE")
        #expect(notice.contains("librdkafka 2.8.0") && notice.contains("LICENSE.lz4"))
        let resolved = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: RepositoryFiles.path("Package.resolved"))))
                as? [String: Any])
        for pin in try #require(resolved["pins"] as? [[String: Any]]) {
            let name = try #require(pin["identity"] as? String)
            let version = (pin["state"] as? [String: Any])?["version"] as? String ?? ""
            #expect(notice.contains("- \(name) \(version) "), "NOTICE misses \(name) \(version): run scripts/licenses")
        }
        let printed = try VigilCommand.run(["version", "--licenses"])
        #expect(printed.status == 0)
        #expect(printed.output == notice, "Notice.swift differs from NOTICE: run scripts/licenses")
        #expect(try RepositoryFiles.text("Dockerfile").contains("NOTICE"), "the image ships NOTICE")
    }
}
