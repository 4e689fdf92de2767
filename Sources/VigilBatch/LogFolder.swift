import Foundation

/// A file found in the log folder, with what identifies its content on disk.
public struct FoundFile: Sendable, Equatable {
    /// Relative to the log folder.
    public var path: String
    public var fullPath: String
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    /// Milliseconds since the epoch.
    public var modified: Int64
}

/// The log folder: which files in it are logs to analyse.
public struct LogFolder: Sendable {
    public let root: String
    public let include: [String]
    public let exclude: [String]
    /// A folder skipped while walking (the output folder when it lies inside the log folder).
    public let skip: String?

    public init(root: String, include: [String] = [], exclude: [String] = [], skip: String? = nil) {
        self.root = root
        self.include = include
        self.exclude = exclude
        self.skip = skip.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }

    /// Log files by the name: `.json`, `.ndjson`, `.jsonl`, `.log`, `.txt` and names without an
    /// extension (`syslog`, `secure`, `messages`), also with a rotation number (`auth.log.1`)
    /// and `.gz`.
    public static func isLogFile(_ name: String) -> Bool {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1, parts.last == "gz" { parts.removeLast() }
        if parts.count > 1, let last = parts.last, !last.isEmpty, last.allSatisfy(\.isNumber) { parts.removeLast() }
        guard parts.count > 1, let ext = parts.last?.lowercased() else { return parts.first?.isEmpty == false }
        return ["json", "ndjson", "jsonl", "log", "txt"].contains(ext)
    }

    /// Whether a relative path is selected: the include globs (or the log extensions when
    /// there are none), and no exclude glob.
    public func selects(_ relativePath: String) -> Bool {
        if exclude.contains(where: { Self.matches($0, relativePath) }) { return false }
        if include.isEmpty {
            return Self.isLogFile((relativePath as NSString).lastPathComponent)
        }
        return include.contains { Self.matches($0, relativePath) }
    }

    /// `fnmatch` without FNM_PATHNAME: `*` crosses `/`, so `*.log` selects logs at any depth.
    /// A pattern without `/` also matches the file name alone.
    static func matches(_ pattern: String, _ path: String) -> Bool {
        if fnmatch(pattern, path, 0) == 0 { return true }
        return !pattern.contains("/") && fnmatch(pattern, (path as NSString).lastPathComponent, 0) == 0
    }

    /// The selected files, sorted by path, and the entries that could not be looked at (a
    /// folder that cannot be listed; they are reported, the rest is still scanned).
    public func scan() throws(BatchError) -> (files: [FoundFile], problems: [(path: String, reason: String)]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BatchError("\(root): not a directory (the log folder)")
        }
        var files: [FoundFile] = []
        var problems: [(String, String)] = []
        walk("", into: &files, problems: &problems)
        files.sort { $0.path < $1.path }
        return (files, problems)
    }

    private func walk(_ relative: String, into files: inout [FoundFile], problems: inout [(String, String)]) {
        let directory = relative.isEmpty ? root : "\(root)/\(relative)"
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            problems.append((relative.isEmpty ? "." : relative, "cannot list the folder: \(Self.reason(error))"))
            return
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = relative.isEmpty ? name : "\(relative)/\(name)"
            let full = "\(root)/\(path)"
            var status = stat()
            guard lstat(full, &status) == 0 else {
                problems.append((path, String(cString: strerror(errno))))
                continue
            }
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                if let skip, URL(fileURLWithPath: full).standardizedFileURL.path == skip { continue }
                walk(path, into: &files, problems: &problems)
            case S_IFREG:
                guard selects(path) else { continue }
                files.append(
                    FoundFile(
                        path: path, fullPath: full, device: UInt64(status.st_dev), inode: UInt64(status.st_ino),
                        size: Int64(status.st_size),
                        modified: Int64(status.st_mtim.tv_sec) * 1000 + Int64(status.st_mtim.tv_nsec) / 1_000_000))
            default:
                continue  // symbolic links, sockets, devices: not followed (a link could leave the folder)
            }
        }
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain
        {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}
