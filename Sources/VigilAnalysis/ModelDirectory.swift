import Foundation
import VigilDetection

#if canImport(Glibc)
    import Glibc
#endif

/// A model directory on disk (`manifest.json` + `model.bin`, see ``ModelArchive``).
public enum ModelDirectory {
    /// Why a model directory could not be used.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "cannot load model from \(path): \(reason)" }
    }

    /// Loads and verifies a model. Nothing is returned (and nothing changes for the caller)
    /// unless the whole model checks out.
    public static func load(_ path: String) throws(LoadError) -> DetectionModel {
        let directory = URL(fileURLWithPath: path)
        let manifest: Data
        let model: Data
        do {
            manifest = try Data(contentsOf: directory.appendingPathComponent(ModelArchive.manifestFile))
        } catch {
            throw LoadError(
                path: path,
                reason:
                    "no readable \(ModelArchive.manifestFile) (\(error.localizedDescription)); train one with `vigil train`"
            )
        }
        do {
            model = try Data(contentsOf: directory.appendingPathComponent(ModelArchive.modelFile))
        } catch {
            throw LoadError(path: path, reason: "no readable \(ModelArchive.modelFile) (\(error.localizedDescription))")
        }
        do {
            return try ModelArchive.decode(manifest: Array(manifest), model: Array(model))
        } catch {
            throw LoadError(path: path, reason: error.description)
        }
    }

    /// Writes a model: both files go to temporary names first and are renamed into place, the
    /// manifest last, so a reader never sees a manifest for a half-written model.
    public static func save(_ model: DetectionModel, to path: String, vigilVersion: String) throws {
        let directory = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (manifest, bytes) = ModelArchive.encode(model, vigilVersion: vigilVersion)
        try write(Data(bytes), to: directory.appendingPathComponent(ModelArchive.modelFile))
        try write(Data(manifest), to: directory.appendingPathComponent(ModelArchive.manifestFile))
    }

    private static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try data.write(to: temporary)
        // rename(2) replaces the target atomically.
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(
                .fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot write \(url.path): \(reason)"])
        }
    }
}

/// Which model to analyse with: a directory written by `vigil train`, or none (the rules and
/// baselines learnt online).
public struct ModelConfiguration: Sendable, Equatable {
    public var directory: String?

    public init(directory: String? = nil) { self.directory = directory }

    /// The configured model, loaded and verified; nil when none is configured, or the folder
    /// is empty (a container's model volume before `vigil train` wrote to it). A folder that is
    /// missing or holds something else is an error.
    public func load() throws(ModelDirectory.LoadError) -> DetectionModel? {
        guard let directory else { return nil }
        if (try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true { return nil }
        return try ModelDirectory.load(directory)
    }
}
