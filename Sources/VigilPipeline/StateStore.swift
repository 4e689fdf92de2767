import Foundation
import Logging
import VigilDetection
import VigilKafka

#if canImport(Glibc)
    import Glibc
#endif

/// Detector state snapshots on local disk, per consumer group and partition, for exact
/// recovery: a snapshot taken after offset S, restored and fed the records from S on,
/// continues exactly as the lost process would have.
///
/// Files: `<dir>/<group>/<topic>-<partition>/<next offset>.snapshot`, each a small header
/// (magic, next offset, length, a 64-bit checksum) and the engine's bytes; written to a temporary name
/// and renamed. The newest few are kept, because the newest may be ahead of what was
/// committed when the process died.
public struct StateStore: Sendable {
    public let directory: String
    public let group: String
    public var keep = 3

    private static let magic: [UInt8] = Array("VGLSNAP2".utf8)
    private static let headerBytes = 32

    /// Catches a damaged or truncated file; it need not resist tampering (the directory is
    /// the process's own), so a fast non-cryptographic hash does.
    private static func checksum(_ state: [UInt8]) -> UInt64 { StableHash.hash(state, seed: 0x736E_6170) }

    public init(directory: String, group: String) {
        self.directory = directory
        self.group = group
    }

    private func folder(_ tp: TopicPartition) -> String {
        func safe(_ s: String) -> String {
            String(s.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
        }
        return "\(directory)/\(safe(group))/\(safe(tp.topic))-\(tp.partition)"
    }

    /// Writes a snapshot of the state after every record before `nextOffset`.
    /// Writes a snapshot and prunes all but the newest ``keep`` — except the newest one at or
    /// before `protecting` (the committed offset), which recovery would start from.
    public func save(_ tp: TopicPartition, nextOffset: Int64, state: [UInt8], protecting committed: Int64? = nil) throws
    {
        let dir = folder(tp)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var data = Self.magic
        withUnsafeBytes(of: nextOffset.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(state.count).littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: Self.checksum(state).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: state)
        let path = "\(dir)/\(nextOffset).snapshot"
        let temporary = "\(dir)/.\(nextOffset).snapshot.tmp"
        try Data(data).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [NSLocalizedDescriptionKey: "rename \(temporary): \(String(cString: strerror(errno)))"])
        }
        // Keep the newest few, and the one recovery from the committed offset needs.
        let all = offsets(tp)
        let needed = committed.flatMap { committed in all.last { $0 <= committed } }
        for old in all.dropLast(keep) where old != needed {
            try? FileManager.default.removeItem(atPath: "\(dir)/\(old).snapshot")
        }
    }

    /// Snapshot offsets on disk, oldest first.
    public func offsets(_ tp: TopicPartition) -> [Int64] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder(tp))) ?? []
        return names.compactMap { $0.hasSuffix(".snapshot") && !$0.hasPrefix(".") ? Int64($0.dropLast(9)) : nil }
            .sorted()
    }

    /// The newest valid snapshot at or before `committed`: (next offset, engine bytes).
    /// Damaged files are skipped (and reported), never trusted.
    public func latest(_ tp: TopicPartition, atOrBefore committed: Int64, logger: Logger) -> (Int64, [UInt8])? {
        for offset in offsets(tp).reversed() where offset <= committed {
            let path = "\(folder(tp))/\(offset).snapshot"
            guard let data = FileManager.default.contents(atPath: path), data.count >= Self.headerBytes else {
                logger.warning("snapshot \(path) unreadable; skipping it")
                continue
            }
            let bytes = Array(data)
            guard Array(bytes[0..<8]) == Self.magic else {
                logger.warning("snapshot \(path) has a bad header; skipping it")
                continue
            }
            let stored = bytes[8..<16].withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
            let length = bytes[16..<24].withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
            guard stored == offset, length == bytes.count - Self.headerBytes else {
                logger.warning("snapshot \(path) is truncated; skipping it")
                continue
            }
            let state = Array(bytes[Self.headerBytes...])
            let storedChecksum = bytes[24..<32].withUnsafeBytes {
                UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
            }
            guard Self.checksum(state) == storedChecksum else {
                logger.warning("snapshot \(path) fails its checksum; skipping it")
                continue
            }
            return (offset, state)
        }
        return nil
    }

    // MARK: Poison records

    /// The records a partition's worker was analysing: written before it starts on them and
    /// removed when it is done. Found at assignment, it means the process died on them (a
    /// crash, or a kill at that moment). `deaths` counts the deaths seen on exactly this range.
    public struct ProcessingMarker: Sendable, Equatable {
        public var first: Int64
        public var last: Int64
        public var deaths: Int

        public init(first: Int64, last: Int64, deaths: Int) {
            self.first = first
            self.last = last
            self.deaths = deaths
        }
    }

    private func markerPath(_ tp: TopicPartition) -> String { "\(folder(tp))/processing" }

    /// Records that `marker`'s records are being analysed. Not synced: it has to survive the
    /// process dying, not the machine.
    public func beginProcessing(_ tp: TopicPartition, _ marker: ProcessingMarker) {
        let path = markerPath(tp)
        let text = Data("\(marker.first) \(marker.last) \(marker.deaths)\n".utf8)
        if !FileManager.default.createFile(atPath: path, contents: text) {
            try? FileManager.default.createDirectory(atPath: folder(tp), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: text)
        }
    }

    /// The analysis begun last is finished.
    public func endProcessing(_ tp: TopicPartition) { unlink(markerPath(tp)) }

    /// The records the process died on, if it did (a damaged marker is ignored).
    public func interruptedProcessing(_ tp: TopicPartition) -> ProcessingMarker? {
        guard let data = FileManager.default.contents(atPath: markerPath(tp)) else { return nil }
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap {
            Int64($0)
        }
        guard fields.count == 3, fields[0] <= fields[1], fields[2] >= 0, fields[2] < 1_000 else { return nil }
        return ProcessingMarker(first: fields[0], last: fields[1], deaths: Int(fields[2]))
    }

    // MARK: Changelog checkpoint

    private func checkpointPath(_ tp: TopicPartition) -> String { "\(folder(tp))/changelog.checkpoint" }

    /// Where this host's last changelog write for `tp` ended (see ``ChangelogCheckpoint``).
    /// Written whole under a temporary name and renamed, not synced: an old or missing one
    /// only means reading more of the changelog.
    public func saveChangelogCheckpoint(_ tp: TopicPartition, _ checkpoint: ChangelogCheckpoint) throws {
        try FileManager.default.createDirectory(atPath: folder(tp), withIntermediateDirectories: true)
        try Data(checkpoint.text.utf8).write(to: URL(fileURLWithPath: checkpointPath(tp)), options: .atomic)
    }

    /// The checkpoint of `tp`, if one is there and readable.
    public func changelogCheckpoint(_ tp: TopicPartition) -> ChangelogCheckpoint? {
        guard let data = FileManager.default.contents(atPath: checkpointPath(tp)) else { return nil }
        return ChangelogCheckpoint(text: String(decoding: data, as: UTF8.self))
    }

    /// Removes a partition's snapshots (for tests and resets).
    public func clear(_ tp: TopicPartition) {
        try? FileManager.default.removeItem(atPath: folder(tp))
    }
}
