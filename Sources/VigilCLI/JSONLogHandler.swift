import Foundation
import Logging
import VigilDetection

/// swift-log handler writing one JSON object per line to stderr:
/// `{"ts":…,"level":…,"logger":…,"msg":…,"source":…,<metadata>}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: Logging.LogEvent) {
        let (level, message, explicit, source) = (event.level, event.message, event.metadata, event.source)
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("ts", UTC.format(Int64(Date().timeIntervalSince1970 * 1000)))
        w.field("level", level.rawValue)
        w.field("logger", label)
        w.field("msg", message.description)
        w.field("source", source)
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            w.field(key, "\(value)")
        }
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        FileHandle.standardError.write(Data(bytes))
    }
}
