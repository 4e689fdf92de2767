import Foundation
import Logging
import VigilDetection

/// swift-log handler writing one JSON object per line to stderr:
/// `{"ts":…,"level":…,"logger":…,"msg":…,"source":…,<metadata>}`.
public struct JSONLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    private let write: @Sendable ([UInt8]) -> Void

    /// `write` receives each line (stderr unless a test captures it).
    public init(
        label: String, write: @escaping @Sendable ([UInt8]) -> Void = { FileHandle.standardError.write(Data($0)) }
    ) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: Logging.LogEvent) {
        let (level, message, explicit, source) = (event.level, event.message, event.metadata, event.source)
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("ts", UTC.format(Int64(Date().timeIntervalSince1970 * 1000)))
        w.field("level", level.rawValue)
        w.field("logger", label)
        w.field("msg", message.description)
        w.field("source", source)
        for (key, value) in metadata.merging(explicit ?? [:], uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key })
        {
            w.field(key, "\(value)")
        }
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        write(bytes)
    }
}
