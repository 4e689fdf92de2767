import Foundation
import VigilDetection

/// Something to analyse: bytes (a request body, a string), a file (plain or gzip), or a list
/// of records (one event or line each, as a Kafka topic or an API client would send them).
public struct LogInput: Sendable {
    public enum Content: Sendable {
        case bytes([UInt8])
        case file(String)
        case records([[UInt8]])
    }

    /// How the input is named in summaries and errors: the file's path, or the caller's label.
    public var name: String
    public var content: Content
    /// Anchors the year of RFC 3164 syslog timestamps; default: a file's modification time,
    /// else the current time.
    public var referenceTime: Int64?
    /// The index of this input's first record in a longer log it continues (see
    /// ``ParseOptions/firstIndex``); 0 for a whole input.
    public var firstIndex = 0

    public init(name: String, content: Content, referenceTime: Int64? = nil) {
        self.name = name
        self.content = content
        self.referenceTime = referenceTime
    }

    /// Where this input is, for anomaly ids (with each record's index): the last component of
    /// its name, so the same file gives the same ids whichever directory it is read from, and
    /// identical lines in different files or at different lines get different ids.
    public var origin: UInt64 {
        StableHash.hash(name.split(separator: "/").last.map(String.init) ?? name)
    }

    public static func bytes(_ bytes: [UInt8], name: String, referenceTime: Int64? = nil) -> LogInput {
        LogInput(name: name, content: .bytes(bytes), referenceTime: referenceTime)
    }

    public static func file(_ path: String, referenceTime: Int64? = nil) -> LogInput {
        LogInput(name: path, content: .file(path), referenceTime: referenceTime)
    }

    public static func records(_ records: [[UInt8]], name: String, referenceTime: Int64? = nil) -> LogInput {
        LogInput(name: name, content: .records(records), referenceTime: referenceTime)
    }

    /// The files under `paths` as inputs: files as given, directories walked recursively
    /// (hidden files and folders skipped), each directory's files sorted by path.
    public static func files(_ paths: [String], referenceTime: Int64? = nil) throws(InputError) -> [LogInput] {
        try InputFiles.expand(paths).map { .file($0, referenceTime: referenceTime) }
    }
}

/// Walks the paths a user gives into files.
public enum InputFiles {
    /// Files as given; directories walked recursively (hidden entries skipped), sorted.
    /// A path that does not exist is an error naming it.
    public static func expand(_ paths: [String]) throws(InputError) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw InputError(input: path, reason: "No such file or directory")
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            guard let walker = FileManager.default.enumerator(atPath: path) else {
                throw InputError(input: path, reason: "cannot list the directory")
            }
            var found: [String] = []
            while let item = walker.nextObject() as? String {
                if item.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
                let full = (path as NSString).appendingPathComponent(item)
                var entryIsDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: full, isDirectory: &entryIsDirectory),
                    !entryIsDirectory.boolValue
                {
                    found.append(full)
                }
            }
            files.append(contentsOf: found.sorted())
        }
        return files
    }
}
