import Foundation

/// Reads a `multipart/form-data` body as it arrives, writing the part named `file` to a
/// temporary file: an upload never has to fit in memory, only under the size limit.
///
/// Only what `/analyze/file` needs: parts are found by their boundary, each part's headers
/// (at most 16 KiB) give its name and file name, other parts are skipped.
struct MultipartFileReceiver {
    enum Failure: Error {
        case malformed(String)
        case tooLarge(Int)
    }

    private enum State {
        case preamble, afterBoundary, headers, body(file: Bool), epilogue
    }

    private let delimiter: [UInt8]
    private var state = State.preamble
    private var pending: [UInt8]
    private let maxBytes: Int
    private let output: FileHandle
    let path: String
    private(set) var written = 0
    private(set) var fileName: String?
    private(set) var sawFile = false

    /// The boundary from a Content-Type such as `multipart/form-data; boundary=XYZ`.
    static func boundary(contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2
                    ? String(pair[1].dropFirst().dropLast()) : pair[1]
                return value.isEmpty || value.utf8.count > 70 ? nil : value
            }
        }
        return nil
    }

    init(boundary: String, directory: String, maxBytes: Int) throws {
        delimiter = Array("\r\n--\(boundary)".utf8)
        // The first boundary may open the body without a preceding line break.
        pending = Array("\r\n".utf8)
        self.maxBytes = maxBytes
        path = "\(directory)/vigil-upload-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot create \(path)"])
        }
        output = handle
    }

    /// Feeds the next bytes of the body.
    mutating func feed(_ bytes: some Collection<UInt8>) throws {
        pending.append(contentsOf: bytes)
        var start = 0
        defer { pending.removeFirst(start) }
        parsing: while true {
            switch state {
            case .preamble:
                guard let at = find(delimiter, from: start) else {
                    start = max(start, pending.count - delimiter.count)
                    break parsing
                }
                start = at + delimiter.count
                state = .afterBoundary
            case .afterBoundary:
                guard pending.count - start >= 2 else { break parsing }
                if pending[start] == UInt8(ascii: "-"), pending[start + 1] == UInt8(ascii: "-") {
                    state = .epilogue
                    start = pending.count
                    break parsing
                }
                // Transport padding (spaces, tabs) may follow a boundary before its line break.
                var i = start
                while i < pending.count, pending[i] == 0x20 || pending[i] == 0x09 { i += 1 }
                guard pending.count - i >= 2 else { break parsing }
                guard pending[i] == 0x0D, pending[i + 1] == 0x0A else {
                    throw Failure.malformed("a boundary is not followed by a line break")
                }
                start = i + 2
                state = .headers
            case .headers:
                guard let end = find(Array("\r\n\r\n".utf8), from: start) else {
                    if pending.count - start > 16 << 10 { throw Failure.malformed("a part's headers exceed 16 KiB") }
                    break parsing
                }
                let headers = String(decoding: pending[start..<end], as: UTF8.self)
                start = end + 4
                let (name, file) = Self.disposition(headers)
                let isFile = name == "file" && !sawFile
                if isFile {
                    sawFile = true
                    fileName = file
                }
                state = .body(file: isFile)
            case .body(let isFile):
                if let at = find(delimiter, from: start) {
                    if isFile { try write(pending[start..<at]) }
                    start = at + delimiter.count
                    state = .afterBoundary
                } else {
                    // Keep what could be the start of a boundary split across chunks.
                    let safe = max(start, pending.count - delimiter.count)
                    if isFile { try write(pending[start..<safe]) }
                    start = safe
                    break parsing
                }
            case .epilogue:
                start = pending.count
                break parsing
            }
        }
    }

    /// Ends the body: the closing boundary must have been seen.
    func finish() throws {
        try? output.close()
        guard case .epilogue = state else { throw Failure.malformed("the body ends before its closing boundary") }
    }

    /// Removes the spooled file.
    func discard() {
        try? output.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    private mutating func write(_ bytes: ArraySlice<UInt8>) throws {
        guard !bytes.isEmpty else { return }
        written += bytes.count
        if written > maxBytes { throw Failure.tooLarge(maxBytes) }
        try output.write(contentsOf: bytes)
    }

    private func find(_ needle: [UInt8], from: Int) -> Int? {
        guard let first = needle.first, pending.count - from >= needle.count else { return nil }
        var i = from
        let last = pending.count - needle.count
        while i <= last {
            if pending[i] == first {
                var k = 1
                while k < needle.count, pending[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// The `name` and `filename` of a part's Content-Disposition.
    static func disposition(_ headers: String) -> (name: String?, fileName: String?) {
        for line in headers.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "content-disposition"
            else { continue }
            var name: String?
            var file: String?
            for parameter in parts[1].split(separator: ";").dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard pair.count == 2 else { continue }
                var value = pair[1]
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                switch pair[0].lowercased() {
                case "name": name = value
                case "filename": file = value
                default: break
                }
            }
            return (name, file)
        }
        return (nil, nil)
    }
}
