import CZlib

/// Decompresses a gzip stream from another source, chunk by chunk (memory stays flat whatever
/// the file's size). Several concatenated gzip members (`cat a.gz b.gz`) read as one stream; a
/// truncated or corrupt stream is an error after the bytes that did decompress.
///
/// zlib is called directly rather than through a wrapper, because the reader must know where
/// a stream ends: that is what tells a complete file from a truncated one.
public final class GzipSource: ByteSource {
    /// The two bytes every gzip member starts with.
    public static func isGzip(_ head: [UInt8]) -> Bool { head.count >= 2 && head[0] == 0x1F && head[1] == 0x8B }

    private let name: String
    private var source: any ByteSource
    // zlib keeps pointers into the z_stream: it must not move, so it lives on the heap.
    private let stream: UnsafeMutablePointer<z_stream>
    private var input: [UInt8]
    private var inputOffset = 0
    private var sourceEnded = false
    private var memberEnded = false
    private var finished = false
    private var pendingError: InputError? = nil
    /// Compressed bytes consumed so far (for progress).
    public private(set) var compressedBytes = 0

    /// `head`: bytes already read from `source` (the start of the gzip stream).
    public init(name: String, head: [UInt8], source: any ByteSource) throws(InputError) {
        self.name = name
        self.source = source
        self.input = head
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 16: a 32 KiB window, gzip header and trailer expected (and checked).
        let status = inflateInit2_(stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw InputError(input: name, reason: "cannot start gzip decompression (zlib error \(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    public func read(into buffer: inout [UInt8], upTo count: Int) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        if let error = pendingError {
            pendingError = nil
            throw error
        }
        guard !finished else { return false }
        var output = [UInt8](repeating: 0, count: max(4096, count))
        var produced = 0
        while produced < output.count {
            if inputOffset >= input.count, try !refill() {
                // The compressed input ended: complete only at the end of a member.
                finished = true
                if !memberEnded {
                    fail(
                        InputError(
                            input: name,
                            reason:
                                "gzip stream is truncated: it ends after \(compressedBytes) compressed bytes, inside a member"
                        ))
                }
                break
            }
            if memberEnded {
                // More input after a member: another member (concatenated gzip), or garbage.
                if input.count - inputOffset < 2, try !refill(keepingUnconsumed: true), input.count - inputOffset < 2 {
                    finished = true
                    fail(
                        InputError(
                            input: name,
                            reason: "unexpected data after the gzip stream at compressed byte \(compressedBytes)"))
                    break
                }
                guard input[inputOffset] == 0x1F, input[inputOffset + 1] == 0x8B else {
                    finished = true
                    fail(
                        InputError(
                            input: name,
                            reason: "unexpected data after the gzip stream at compressed byte \(compressedBytes)"))
                    break
                }
                inflateReset(stream)
                memberEnded = false
            }
            let status = inflateStep(into: &output, produced: &produced)
            switch status {
            case Z_OK, Z_BUF_ERROR:
                continue
            case Z_STREAM_END:
                memberEnded = true
            default:
                finished = true
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                fail(
                    InputError(
                        input: name, reason: "gzip data is corrupt at compressed byte \(compressedBytes): \(message)"))
            }
            if finished { break }
        }
        output.removeLast(output.count - produced)
        buffer = output
        if produced == 0, let error = pendingError {
            pendingError = nil
            throw error
        }
        return produced > 0
    }

    /// Records an error to throw once the bytes decompressed before it are handed over.
    private func fail(_ error: InputError) { pendingError = error }

    private func inflateStep(into output: inout [UInt8], produced: inout Int) -> Int32 {
        let offset = inputOffset
        let alreadyProduced = produced
        var consumed = 0
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.pointee.next_in = inBuffer.baseAddress.map { $0 + offset }
                stream.pointee.avail_in = UInt32(inBuffer.count - offset)
                stream.pointee.next_out = outBuffer.baseAddress.map { $0 + alreadyProduced }
                stream.pointee.avail_out = UInt32(outBuffer.count - alreadyProduced)
                let status = inflate(stream, Z_NO_FLUSH)
                consumed = inBuffer.count - offset - Int(stream.pointee.avail_in)
                produced = outBuffer.count - Int(stream.pointee.avail_out)
                return status
            }
        }
        inputOffset += consumed
        compressedBytes += consumed
        return status
    }

    /// Reads the next compressed chunk, keeping the unconsumed rest if asked; false at the end.
    private func refill(keepingUnconsumed: Bool = false) throws(InputError) -> Bool {
        guard !sourceEnded else { return false }
        let rest = keepingUnconsumed ? Array(input[inputOffset...]) : []
        var chunk: [UInt8] = []
        guard try source.read(into: &chunk, upTo: 1 << 20) else {
            sourceEnded = true
            return false
        }
        input = rest + chunk
        inputOffset = 0
        return true
    }
}
