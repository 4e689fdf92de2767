import Foundation
import Testing
import VigilTesting
import Yams

/// No Docker engine runs here, so docker-compose.yml is checked by reading it: the services,
/// ports and volumes the README documents must be the ones the file declares.
@Suite("Repository files")
struct RepositoryFilesTests {
    private func compose() throws -> [String: Any] {
        try #require(try Yams.load(yaml: try RepositoryFiles.text("docker-compose.yml")) as? [String: Any])
    }

    private func services() throws -> [String: [String: Any]] {
        try #require(try compose()["services"] as? [String: [String: Any]])
    }

    @Test("compose runs Apache Kafka in KRaft mode on 9092 with a data volume")
    func kafkaService() throws {
        let kafka = try #require(try services()["kafka"])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        #expect((kafka["ports"] as? [String])?.contains("9092:9092") == true)
        #expect((kafka["volumes"] as? [String])?.contains("kafka-data:/var/lib/kafka/data") == true)
        let environment = try #require(kafka["environment"] as? [String: Any])
        #expect(environment["KAFKA_PROCESS_ROLES"] as? String == "broker,controller")
        #expect(kafka["healthcheck"] != nil)
        #expect((try compose()["volumes"] as? [String: Any])?.keys.contains("kafka-data") == true)
    }

    @Test("the topics service applies the mounted topics.yml against the internal listener once")
    func topicsService() throws {
        let services = try services()
        let topics = try #require(services["topics"])
        let command = try #require(topics["command"] as? [String])
        #expect(Array(command.prefix(2)) == ["topics", "apply"])
        #expect(command.contains("kafka:19092"))
        let mounted = (topics["volumes"] as? [String]) ?? []
        #expect(mounted.contains("./topics.yml:/etc/vigil/topics.yml:ro"))
        let advertised = (services["kafka"]?["environment"] as? [String: Any])?["KAFKA_ADVERTISED_LISTENERS"] as? String
        #expect(advertised?.contains("kafka:19092") == true)
        #expect(topics["restart"] as? String == "no")
        #expect(topics["build"] as? String == ".")
        #expect(FileManager.default.fileExists(atPath: RepositoryFiles.path("Dockerfile")))
    }

    @Test(
        "anomaly-stream runs vigil stream on the internal listener after the topics exist, with metrics and state")
    func streamService() throws {
        let stream = try #require(try services()["anomaly-stream"])
        let command = try #require(stream["command"] as? [String])
        #expect(command.first == "stream")
        #expect((stream["environment"] as? [String: Any])?["VIGIL_BROKERS"] as? String == "kafka:19092")
        #expect(command.contains("0.0.0.0"))  // metrics reachable from outside the container
        #expect((stream["ports"] as? [String])?.contains("9464:9464") == true)
        #expect((stream["volumes"] as? [String])?.contains("vigil-state:/var/lib/vigil/state") == true)
        let dependsOn = try #require(stream["depends_on"] as? [String: [String: String]])
        #expect(dependsOn["topics"]?["condition"] == "service_completed_successfully")
        #expect(try RepositoryFiles.text("Dockerfile").contains("/var/lib/vigil/state"))
    }

    @Test("every compose service, published port and named volume is documented in the README")
    func readmeMatchesCompose() throws {
        let readme = try RepositoryFiles.text("README.md")
        for (name, service) in try services() {
            #expect(readme.contains("`\(name)`"), "README does not mention service \(name)")
            for port in (service["ports"] as? [String]) ?? [] {
                #expect(readme.contains("`\(port)`"), "README does not mention port \(port) of \(name)")
            }
        }
        for volume in ((try compose()["volumes"] as? [String: Any]) ?? [:]).keys {
            #expect(readme.contains("`\(volume)`"), "README does not mention volume \(volume)")
        }
    }

    @Test(".ci/run calls the README's test command")
    func ciRunsReadmeCommand() throws {
        let ci = try RepositoryFiles.text(".ci/run")
        let readme = try RepositoryFiles.text("README.md")
        #expect(readme.contains("make test"))
        #expect(ci.split(separator: "\n").contains("make test"))
    }

    @Test("the README's Layout names every module Package.swift declares, and only those")
    func layoutMatchesPackage() throws {
        let package = try RepositoryFiles.text("Package.swift")
        let declared = Set(
            package.matches(of: /\.(?:target|executableTarget|systemLibrary)\(\s*name: "([A-Za-z]+)"/)
                .map { String($0.output.1) })
        let readme = try RepositoryFiles.text("README.md")
        let section = try #require(RepositoryFiles.section("## Layout", of: readme))
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| `") }
        let documented = Set(
            rows.flatMap { row in
                row.split(separator: "|").first.map { cell in
                    cell.matches(of: /`([A-Za-z]+)`/).map { String($0.output.1) }
                } ?? []
            })
        #expect(declared.count >= 14)
        #expect(
            declared == documented,
            "declared only: \(declared.subtracting(documented)); documented only: \(documented.subtracting(declared))")
        // Every module in the diagram too.
        let fence = try #require(section.range(of: "```"))
        let diagram = section[fence.upperBound...].prefix(while: { _ in true }).split(separator: "```").first ?? ""
        for module in declared where !module.hasSuffix("Testing") && !module.hasPrefix("C") {
            #expect(diagram.contains(module), "the diagram misses \(module)")
        }
    }
}
