#if canImport(Glibc)
    import Glibc
    private let systemRead = Glibc.read
#elseif canImport(Darwin)
    import Darwin
    private let systemRead = Darwin.read
#endif

/// Why an input could not be read (or not read to its end), in words.
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The input's name (its path, or what the caller called it).
    public var input: String
    public var reason: String

    public init(input: String, reason: String) {
        self.input = input
        self.reason = reason
    }

    public var description: String { "\(input): \(reason)" }
}

/// Bytes read in chunks: a file, memory, or a decompressor over another source.
public protocol ByteSource {
    /// Replaces `buffer`'s contents with up to `count` next bytes; returns false (and an empty
    /// buffer) at the end.
    mutating func read(into buffer: inout [UInt8], upTo count: Int) throws(InputError) -> Bool
}

/// Bytes already in memory.
public struct MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func read(into buffer: inout [UInt8], upTo count: Int) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        guard offset < bytes.count else { return false }
        let end = min(bytes.count, offset + count)
        buffer.append(contentsOf: bytes[offset..<end])
        offset = end
        return true
    }
}

/// A file read with `read(2)`; errors say what went wrong (`No such file or directory`,
/// `Permission denied`, `Is a directory`).
public final class FileSource: ByteSource {
    public let path: String
    private var descriptor: Int32

    /// Opens `path` for reading.
    public init(path: String) throws(InputError) {
        self.path = path
        var status = stat()
        if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw InputError(
                input: path, reason: "is a directory (give its files, or the directory to a command that reads folders)"
            )
        }
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw InputError(input: path, reason: Self.lastError()) }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    public func read(into buffer: inout [UInt8], upTo count: Int) throws(InputError) -> Bool {
        guard descriptor >= 0 else {
            buffer.removeAll()
            return false
        }
        var result = 0
        var failure: Int32 = 0
        // Read straight into the new array's storage.
        buffer = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            repeat {
                result = systemRead(descriptor, storage.baseAddress, count)
            } while result < 0 && errno == EINTR
            if result < 0 { failure = errno }
            initialized = max(0, result)
        }
        if result < 0 { throw InputError(input: path, reason: String(cString: strerror(failure))) }
        return result > 0
    }

    /// The file's modification time in milliseconds: the reference for syslog years.
    public var modificationTime: Int64? {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        return Int64(status.st_mtim.tv_sec) * 1000 + Int64(status.st_mtim.tv_nsec) / 1_000_000
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
