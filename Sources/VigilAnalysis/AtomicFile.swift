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

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        /// The error `errno` names, for `path`.
        public static func system(_ path: String) -> WriteError { WriteError(path: path, reason: lastError()) }
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
    public static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// Writes a file as it is produced (a report, an alert outbox segment): bytes go to a
    /// temporary file beside `path`, which becomes `path` only at ``commit()`` — so a crash
    /// leaves the old file or none, never a part.
    public final class Writer {
        public let path: String
        private let temporary: String
        private var descriptor: Int32
        private var buffer: [UInt8] = []
        private var failure: String?

        public init(path: String) throws(WriteError) {
            self.path = path
            temporary = "\(path).tmp-\(getpid())"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw WriteError(path: temporary, reason: AtomicFile.lastError()) }
        }

        deinit {
            if descriptor >= 0 {
                close(descriptor)
                unlink(temporary)
            }
        }

        /// Appends `bytes` (buffered; a write error is reported by ``commit()``).
        public func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
            buffer.append(contentsOf: bytes)
            if buffer.count >= 1 << 16 { flush() }
        }

        private func flush() {
            guard failure == nil, descriptor >= 0 else { return }
            var written = 0
            buffer.withUnsafeBytes { raw in
                while written < raw.count, let base = raw.baseAddress {
                    let result = Glibc.write(descriptor, base + written, raw.count - written)
                    if result < 0 {
                        if errno == EINTR { continue }
                        failure = AtomicFile.lastError()
                        return
                    }
                    written += result
                }
            }
            buffer.removeAll(keepingCapacity: true)
        }

        /// Flushes, syncs and renames the file into place (then syncs its directory).
        public func commit() throws(WriteError) {
            flush()
            if failure == nil, fsync(descriptor) != 0 { failure = AtomicFile.lastError() }
            close(descriptor)
            descriptor = -1
            if let failure {
                unlink(temporary)
                throw WriteError(path: path, reason: failure)
            }
            guard rename(temporary, path) == 0 else {
                let reason = AtomicFile.lastError()
                unlink(temporary)
                throw WriteError(path: path, reason: reason)
            }
            let directory = (path as NSString).deletingLastPathComponent
            AtomicFile.syncDirectory(directory.isEmpty ? "." : directory)
        }

        /// Drops what was written; `path` is left as it was.
        public func discard() {
            guard descriptor >= 0 else { return }
            close(descriptor)
            descriptor = -1
            unlink(temporary)
        }
    }
}
