import Foundation
import VigilDetection

/// Reads log files for training and analysis: line-oriented files are streamed in chunks
/// (memory stays flat on large files); JSON arrays and single pretty-printed objects are read
/// whole.
public enum LogFiles {
    /// Expands files and directories (recursively, hidden files skipped) into a sorted file list.
    public static func expand(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "no such file or directory: \(path)"])
            }
            if isDirectory.boolValue {
                guard let walker = FileManager.default.enumerator(atPath: path) else { continue }
                var found: [String] = []
                while let item = walker.nextObject() as? String {
                    let full = (path as NSString).appendingPathComponent(item)
                    var dir: ObjCBool = false
                    if !item.split(separator: "/").contains(where: { $0.hasPrefix(".") }),
                       FileManager.default.fileExists(atPath: full, isDirectory: &dir), !dir.boolValue {
                        found.append(full)
                    }
                }
                files.append(contentsOf: found.sorted())
            } else {
                files.append(path)
            }
        }
        return files
    }

    /// The file's modification time in milliseconds: the reference for syslog years.
    public static func modificationTime(_ path: String) -> Int64? {
        guard let date = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    /// Parses a file, calling `handle` with batches of parse results as it goes.
    public static func parse(_ path: String, referenceTime: Int64?, chunkSize: Int = 4 << 20,
                             _ handle: (inout ParsedInput) throws -> Void) throws {
        guard let handleFile = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "cannot open \(path)"])
        }
        defer { try? handleFile.close() }
        let options = ParseOptions(referenceTime: referenceTime ?? modificationTime(path) ?? 0)
        var first = try handleFile.read(upToCount: chunkSize) ?? Data()
        // JSON arrays and single multi-line objects need the whole file.
        if needsWholeFile(first) {
            if let rest = try handleFile.readToEnd() { first.append(rest) }
            var result = first.withUnsafeBytes { LogParser.parse($0.bindMemory(to: UInt8.self), options: options) }
            try handle(&result)
            return
        }
        var lines = LineParser(options: options)
        var chunk = first
        while !chunk.isEmpty {
            let next = try handleFile.read(upToCount: chunkSize) ?? Data()
            var result = ParsedInput()
            chunk.withUnsafeBytes { lines.feed($0.bindMemory(to: UInt8.self), final: next.isEmpty, into: &result) }
            try handle(&result)
            chunk = next
        }
    }

    private static func needsWholeFile(_ head: Data) -> Bool {
        guard let first = head.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 && $0 != 0xEF && $0 != 0xBB && $0 != 0xBF }) else {
            return false
        }
        if first == UInt8(ascii: "[") { return true }
        guard first == UInt8(ascii: "{") else { return false }
        // A first line that is a whole object means NDJSON; otherwise one multi-line object.
        let start = head.firstIndex(of: UInt8(ascii: "{")) ?? head.startIndex
        let lineEnd = head[start...].firstIndex(of: 0x0A) ?? head.endIndex
        let line = Array(head[start..<lineEnd])
        return line.withUnsafeBufferPointer { bytes in
            var reader = JSONReader(bytes)
            return (try? reader.readObject { _, _ in }) == nil
        }
    }
}
