import Foundation
import VigilAnalysis

/// What the batch processor has analysed, kept in `state.json` in the output folder: per
/// content (a file, followed through renames and rotation), how far it was read and a hash of
/// what was read, so a re-run reports nothing twice and a grown file continues where it
/// stopped. Written after the results it describes (see ``BatchProcessor``).
public struct BatchState: Codable, Sendable, Equatable {
    /// The format of this file; a newer one is refused rather than misread.
    public static let currentVersion = 1

    public var version = BatchState.currentVersion
    public var files: [TrackedFile] = []

    public init() {}

    /// Reads the state file; a missing one is an empty state. A corrupt one is an error (the
    /// processor must not silently re-report everything).
    public static func load(_ path: String) throws(BatchError) -> BatchState {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw BatchError("\(path): cannot read the batch state file")
            }
            return BatchState()
        }
        let state: BatchState
        do {
            state = try JSONDecoder().decode(BatchState.self, from: data)
        } catch {
            throw BatchError(
                "\(path): not a batch state file (\(BatchError.describe(error))); move it away to start over")
        }
        guard state.version <= currentVersion else {
            throw BatchError("\(path): state version \(state.version) is newer than this vigil understands")
        }
        return state
    }

    /// Writes the state atomically.
    public func save(_ path: String) throws(BatchError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw BatchError("cannot encode the batch state: \(error)") }
        do { try AtomicFile.write([UInt8](data), to: path) } catch { throw BatchError("\(error)") }
    }
}

/// One content the processor follows: where it was last seen and how far it was read.
public struct TrackedFile: Codable, Sendable, Equatable {
    /// Stable for the content's life (names its detector snapshot and reports).
    public var id: String
    /// Where it was last seen (relative to the log folder).
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    /// The file's size on disk when last read (compressed size for gzip).
    public var size: Int64
    /// Bytes of content read so far (decompressed), always at a record boundary.
    public var offset: Int64
    /// SHA-256 (hex) of those `offset` bytes: tells the same content from a rewritten one.
    public var prefixSHA256: String
    /// Records read so far: the next part's records are numbered on from here (anomaly ids).
    public var records: Int
    /// Lines read so far (error line numbers of the next part count on from here).
    public var lines: Int
    /// The name anomaly ids are derived from: the file's name when first seen, kept through
    /// renames so a rotated file's ids do not change.
    public var origin: String
    public var compressed: Bool
    /// The file's modification time when last read (ms): with `size`, tells an untouched file
    /// without reading it.
    public var modified: Int64
    /// Read to its end last time (not stopped midway): with the same size and modification
    /// time there is nothing new.
    public var complete: Bool
    /// The offset of the detector snapshot that goes with `offset` (nil: none kept).
    public var snapshotOffset: Int64?
    /// When it was last read (RFC 3339).
    public var updated: String
}

/// A batch failure that stops a run (state unreadable, output folder not writable); a file
/// that cannot be read is not one — it is listed in the run's summary.
public struct BatchError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "invalid JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(
            in: CharacterSet(charactersIn: "."))
    }
}
