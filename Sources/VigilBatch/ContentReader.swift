import Crypto
import Foundation
import VigilAnalysis

/// A file's content as the processor reads it: decompressed when it is gzip (by its magic
/// bytes), in chunks. (The processor hashes what it uses: a held-back last line is not.)
struct ContentReader {
    private var source: any ByteSource
    private var head: [UInt8]?
    private let gzip: GzipSource?
    private let file: FileSource
    /// Content bytes read (decompressed).
    private(set) var position: Int64 = 0
    let chunkBytes: Int

    var isCompressed: Bool { gzip != nil }
    /// Bytes of the file consumed (compressed bytes for gzip), for progress.
    var fileBytesRead: Int64 { gzip.map { Int64($0.compressedBytes) } ?? position }

    init(path: String, chunkBytes: Int = 1 << 20) throws(InputError) {
        self.chunkBytes = chunkBytes
        file = try FileSource(path: path)
        var first: [UInt8] = []
        _ = try file.read(into: &first, upTo: chunkBytes)
        if GzipSource.isGzip(first) {
            let gzip = try GzipSource(name: path, head: first, source: file)
            self.gzip = gzip
            source = gzip
        } else {
            gzip = nil
            head = first
            source = file
        }
    }

    /// The next chunk of content; nil at the end. At most `limit` bytes when given.
    mutating func next(limit: Int64? = nil) throws(InputError) -> [UInt8]? {
        var chunk: [UInt8] = []
        if let held = head {
            head = nil
            chunk = held
        } else if try !source.read(into: &chunk, upTo: chunkBytes) {
            return nil
        }
        if chunk.isEmpty { return nil }
        if let limit, Int64(chunk.count) > limit - position {
            // Give back what is past the limit: it is read by the next call.
            let keep = Int(max(0, limit - position))
            head = Array(chunk[keep...])
            chunk.removeSubrange(keep...)
        }
        position += Int64(chunk.count)
        return chunk
    }
}

extension ContentReader {
    /// Reads content up to `offset` into `hasher`; false if the content ends before it.
    mutating func hashPrefix(to offset: Int64, into hasher: inout SHA256) throws(InputError) -> Bool {
        while position < offset {
            guard let chunk = try next(limit: offset) else { return false }
            hasher.update(data: chunk)
        }
        return true
    }
}

extension SHA256 {
    /// The digest so far in hex (`finalize` works on a copy: hashing can go on).
    var hex: String { finalize().map { String(format: "%02x", $0) }.joined() }
}
