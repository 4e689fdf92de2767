import Foundation

/// Writes files so that a crash leaves either the old content or the new, never a part:
/// temp file in the same directory, `fsync`, `rename`, then `fsync` of the directory (so the
/// rename itself survives a power cut).
public enum AtomicFile {
    /// An error writing `path`, with the system's reason.
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Replaces `path` with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String) throws(WriteError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = "\(path).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw WriteError(path: temporary, reason: lastError()) }
        var written = 0
        let failure: String? = bytes.withUnsafeBytes { raw -> String? in
            while written < raw.count, let base = raw.baseAddress {
                let result = Glibc.write(descriptor, base + written, raw.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    return lastError()
                }
                written += result
            }
            return fsync(descriptor) == 0 ? nil : lastError()
        }
        close(descriptor)
        if let failure {
            unlink(temporary)
            throw WriteError(path: path, reason: failure)
        }
        guard rename(temporary, path) == 0 else {
            let reason = lastError()
            unlink(temporary)
            throw WriteError(path: path, reason: reason)
        }
        syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// Creates `path` and its parents.
    public static func makeDirectory(_ path: String) throws(WriteError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw WriteError(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// Flushes a directory's entries (new names, renames) to disk.
    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
