import Foundation
import Logging
import Synchronization
import Testing
import VigilLogging

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test("one object per line: time, level, logger, message, source, then metadata sorted by key")
    func format() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "vigil.test") { bytes in
            lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
        }
        handler.metadata = ["partition": "3", "topic": "raw-logs"]
        var logger = Logger(label: "vigil.test") { _ in handler }
        logger.logLevel = .info
        logger.debug("not written")
        logger.warning("offset commit failed: \"timed out\"\nretrying", metadata: ["attempt": "2", "topic": "other"])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["level"] == "warning")
        #expect(object["logger"] == "vigil.test")
        #expect(object["msg"] == "offset commit failed: \"timed out\"\nretrying")
        #expect(object["attempt"] == "2" && object["partition"] == "3" && object["topic"] == "other")
        #expect(
            object["ts"].flatMap {
                ISO8601DateFormatter().date(
                    from: $0.replacingOccurrences(of: #"\.\d+"#, with: "", options: .regularExpression))
            } != nil)
        #expect(line.hasPrefix("{\"ts\":"))
        let keys = [
            "\"ts\"", "\"level\"", "\"logger\"", "\"msg\"", "\"source\"", "\"attempt\"", "\"partition\"", "\"topic\"",
        ]
        let positions = keys.compactMap { line.range(of: $0)?.lowerBound }
        #expect(positions.count == keys.count && positions == positions.sorted())
    }

    @Test("the configuration names its formats and levels as the settings do")
    func configuration() {
        #expect(LoggingConfiguration.Format.allCases.map(\.rawValue) == ["text", "json"])
        #expect(LoggingConfiguration() == LoggingConfiguration(format: .text, level: .info))
    }
}
