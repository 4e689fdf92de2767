import Crypto
import VigilDetection

/// A model on disk: `model.bin` (``DetectionModel/serialized()``) plus `manifest.json` with
/// the format and schema version, training window and counts, calibrated thresholds and the
/// SHA-256 of `model.bin`. Encoding and decoding are pure; the caller reads and writes files.
public enum ModelArchive {
    public static let manifestFile = "manifest.json"
    public static let modelFile = "model.bin"
    public static let format = "vigil-model"

    /// The manifest and model bytes for `model`.
    public static func encode(_ model: DetectionModel, vigilVersion: String) -> (manifest: [UInt8], model: [UInt8]) {
        let bytes = model.serialized()
        var w = JSONWriter()
        w.beginObject()
        w.field("format", format)
        w.field("schema_version", Int(DetectionModel.formatVersion))
        w.field("vigil_version", vigilVersion)
        w.field("model_file", modelFile)
        w.field("bytes", bytes.count)
        w.field("sha256", checksum(bytes))
        w.key("training")
        w.objectValue { w in
            w.field("first_event", UTC.format(model.info.firstEvent))
            w.field("last_event", UTC.format(model.info.lastEvent))
            w.field("events", model.info.events)
            w.field("errors", model.info.errors)
            w.field("target_false_positive_rate", model.info.targetFalsePositiveRate)
            w.field("seed", model.info.seed)
        }
        w.key("counts")
        w.objectValue { w in
            w.field("users", model.users.count)
            w.field("sources_with_baseline", model.sources.count)
            w.field("templates", model.templates.count)
            w.field("forest_trees", model.forest.treeCount)
        }
        let t = model.thresholds
        w.key("thresholds")
        w.objectValue { w in
            w.field("brute_force_failures", t.bruteForceFailures)
            w.field("password_spraying_users", t.sprayingUsers)
            w.field("credential_stuffing_sources", t.stuffingSources)
            w.field("account_enumeration_users", t.enumerationUsers)
            w.field("privileged_failures", t.privilegedFailures)
            w.field("success_after_failures", t.successAfterFailures)
            w.field("unusual_hour_max_share", t.unusualHourMaxShare)
            w.field("volume_spike_k", t.volumeK)
            w.field("outlier_threshold", t.outlierThreshold)
        }
        w.endObject()
        var manifest = w.bytes
        manifest.append(0x0A)
        return (manifest, bytes)
    }

    /// Verifies the manifest (format, version, checksum) and decodes the model.
    public static func decode(manifest: [UInt8], model: [UInt8]) throws(ModelError) -> DetectionModel {
        var formatName: String?
        var versionNumber: Double?
        var sha: String?
        var sizeNumber: Double?
        var parseError: JSONSyntaxError?
        manifest.withUnsafeBufferPointer { bytes in
            var reader = JSONReader(bytes)
            do throws(JSONSyntaxError) {
                try reader.readObject { path, value in
                    switch String(decoding: path, as: UTF8.self) {
                    case "format": formatName = value.text
                    // Numbers that are not exact integers in range (1e300, 1.5) are refused below.
                    case "schema_version": versionNumber = value.double
                    case "sha256": sha = value.text
                    case "bytes": sizeNumber = value.double
                    default: break
                    }
                }
            } catch {
                parseError = error
            }
        }
        if let parseError { throw .corrupt("\(manifestFile) is not valid JSON: \(parseError)") }
        guard formatName == format else {
            throw .incompatible("\(manifestFile) has format \(formatName ?? "none"), expected \(format)")
        }
        guard let versionNumber else { throw .corrupt("\(manifestFile) has no schema_version") }
        guard let version = Int(exactly: versionNumber), (0...1_000_000).contains(version) else {
            throw .corrupt("\(manifestFile): schema_version \(versionNumber) is not a version number")
        }
        var size: Int? = nil
        if let sizeNumber {
            guard let exact = Int(exactly: sizeNumber), exact >= 0 else {
                throw .corrupt("\(manifestFile): bytes \(sizeNumber) is not a byte count")
            }
            size = exact
        }
        guard version == Int(DetectionModel.formatVersion) else {
            throw .incompatible(
                "schema version \(version); this Vigil reads version \(DetectionModel.formatVersion) — retrain with `vigil train`"
            )
        }
        guard let sha else { throw .corrupt("\(manifestFile) has no sha256") }
        if let size, size != model.count {
            throw .corrupt("\(modelFile) is \(model.count) bytes, the manifest says \(size)")
        }
        let actual = checksum(model)
        guard actual == sha else { throw .checksumMismatch(expected: sha, actual: actual) }
        return try DetectionModel.deserialize(model)
    }

    /// The SHA-256 of `bytes` in lower-case hex (what the manifest records for `model.bin`).
    public static func checksum(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
