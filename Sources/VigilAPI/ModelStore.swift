import Foundation
import Synchronization
import VigilAnalysis
import VigilDetection

/// The model in use and what the API says about it.
public struct LoadedModel: Sendable {
    /// nil: the rules-only default (rules and baselines learnt online).
    public var model: DetectionModel?
    /// The directory it came from (as given), for trained models.
    public var directory: String?
    /// `sha256:<12 hex>` of the model's bytes, or `rules-only`: what cached answers are keyed by.
    public var version: String
    /// When it was loaded, ms since the epoch.
    public var loadedAt: Int64

    public var kind: String { model == nil ? "rules-only" : "trained" }

    static func rulesOnly() -> LoadedModel {
        LoadedModel(model: nil, directory: nil, version: "rules-only", loadedAt: Self.now)
    }

    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// `{"status": "loaded", "model": {…}}`: the answer to a load.
    public var loadedJSON: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("status", "loaded")
        w.key("model")
        write(to: &w)
        w.endObject()
        return w.bytes
    }

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.field("kind", kind)
        w.field("version", version)
        w.field("directory", directory)
        w.field("loaded_at", UTC.format(loadedAt))
        if let model {
            w.field("users", model.users.count)
            w.field("templates", model.templates.count)
            w.field("trained_events", model.info.events)
        }
        w.endObject()
    }
}

/// Holds the model in use; loads replace it only when the new one checks out, so a bad path
/// or a corrupt model leaves the old one active. Loads are confined to configured roots.
/// Shared by the front ends (the REST API, the MCP server).
public final class ModelStore: Sendable {
    private let current: Mutex<LoadedModel?>
    /// Why there is no model, when there is none (readiness says so).
    private let problem = Mutex<String?>(nil)
    public let roots: [String]

    public init(roots: [String]) {
        current = Mutex(nil)
        self.roots = roots.map { Self.resolved($0) ?? $0 }
    }

    public var model: LoadedModel? { current.withLock { $0 } }
    public var unavailableReason: String? { problem.withLock { $0 } }

    public func useRulesOnly() {
        current.withLock { $0 = .rulesOnly() }
        problem.withLock { $0 = nil }
    }

    public func markUnavailable(_ reason: String) { problem.withLock { $0 = reason } }

    /// Loads `path` (confined to the roots) and makes it the model in use.
    @discardableResult
    public func load(_ path: String) throws(APIError) -> LoadedModel {
        guard !path.isEmpty, !path.contains("\0") else {
            throw .unprocessable("invalid_model_dir", "model_dir must be a non-empty path")
        }
        guard let real = Self.resolved(path) else {
            throw APIError(.notFound, "model_not_found", "model directory \(path) does not exist")
        }
        guard roots.contains(where: { real == $0 || real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            throw APIError(
                .forbidden, "model_dir_not_allowed",
                "model directory \(path) is outside the allowed roots (\(roots.joined(separator: ", ")))")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .unprocessable("invalid_model_dir", "\(path) is not a directory")
        }
        let model: DetectionModel
        do { model = try ModelDirectory.load(real) } catch {
            throw .unprocessable("invalid_model", error.description)
        }
        let digest = ModelArchive.checksum(model.serialized())
        let loaded = LoadedModel(
            model: model, directory: path, version: "sha256:" + String(digest.prefix(12)), loadedAt: LoadedModel.now)
        current.withLock { $0 = loaded }
        problem.withLock { $0 = nil }
        return loaded
    }

    /// The absolute path with symlinks resolved; nil when it does not exist.
    public static func resolved(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }
}
