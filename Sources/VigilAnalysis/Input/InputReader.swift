import Foundation
import VigilDetection

/// Limits that keep reading bounded.
public struct ReadLimits: Sendable, Hashable {
    /// Bytes read per step (decompressed, for gzip).
    public var chunkBytes = 1 << 20
    /// Records longer than this are reported and skipped.
    public var maxRecordBytes = 4 << 20
    /// Events dated more than this after the current time are refused (reported as record
    /// errors, never analysed): a far-future event would make every later event late. A day
    /// leaves room for syslog lines written in local time (up to UTC+14) read as UTC.
    public var maxFutureSkewMs: Int64 = 86_400_000

    public init() {}
}

/// An input's bytes, opened: a file (or memory), decompressed when it starts with gzip's magic
/// bytes (whatever it is called).
struct OpenedInput {
    var source: any ByteSource
    /// The first bytes, already read (to look for gzip), not yet handed out.
    var head: [UInt8]?
    var gzip: GzipSource?
    var plainBytes = 0
    /// Anchors syslog years: the input's own reference, else the file's modification time.
    var referenceTime: Int64?

    init(_ input: LogInput, chunkBytes: Int) throws(InputError) {
        var raw: any ByteSource
        referenceTime = input.referenceTime
        switch input.content {
        case .file(let path):
            let file = try FileSource(path: path)
            referenceTime = referenceTime ?? file.modificationTime
            raw = file
        case .bytes(let bytes):
            raw = MemorySource(bytes)
        case .records:
            raw = MemorySource([])
        }
        var first: [UInt8] = []
        if try raw.read(into: &first, upTo: chunkBytes) {
            plainBytes = first.count
        }
        if GzipSource.isGzip(first) {
            let gzip = try GzipSource(name: input.name, head: first, source: raw)
            self.gzip = gzip
            source = gzip
        } else {
            head = first
            source = raw
        }
    }

    /// Bytes of the input consumed so far (compressed bytes for gzip).
    var bytesRead: Int { gzip?.compressedBytes ?? plainBytes }

    /// The next chunk into `chunk`; false at the end.
    mutating func read(into chunk: inout [UInt8], upTo count: Int) throws(InputError) -> Bool {
        if let head {
            self.head = nil
            if !head.isEmpty {
                chunk = head
                return true
            }
        }
        guard try source.read(into: &chunk, upTo: count) else { return false }
        if gzip == nil { plainBytes += chunk.count }
        return true
    }
}

/// Reads a ``LogInput`` step by step into events and record errors: gzip is recognised by its
/// magic bytes and the container (JSON array, NDJSON, objects, lines) by ``RecordSplitter``.
/// Memory is bounded by a chunk and the longest record.
public struct InputReader {
    public let input: LogInput
    /// Whether the input is gzip-compressed.
    public var isCompressed: Bool { opened?.gzip != nil }
    /// Bytes of the input consumed so far (compressed bytes for gzip), for progress.
    public var bytesRead: Int { opened?.bytesRead ?? 0 }

    private var opened: OpenedInput?
    private var parser: InputParser
    private var recordPosition = 0
    private var finished = false
    private let limits: ReadLimits
    private var chunk: [UInt8] = []

    /// Opens the input (a missing or unreadable file fails here, with the reason).
    public init(_ input: LogInput, limits: ReadLimits = ReadLimits()) throws(InputError) {
        self.input = input
        self.limits = limits
        if case .records = input.content {
            opened = nil
        } else {
            opened = try OpenedInput(input, chunkBytes: limits.chunkBytes)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let reference = opened?.referenceTime ?? input.referenceTime ?? now
        var options = ParseOptions(
            referenceTime: reference, latestTime: now.addingSaturated(limits.maxFutureSkewMs),
            origin: input.origin)
        options.firstIndex = input.firstIndex
        parser = InputParser(options: options, maxRecordBytes: limits.maxRecordBytes)
    }

    /// Parses the next step of the input into `result` (cleared first). Returns false once the
    /// input is exhausted (nothing was added). A read error is thrown after the records read
    /// before it were added to `result`.
    public mutating func next(into result: inout ParsedInput) throws(InputError) -> Bool {
        result.removeAll()
        guard !finished else { return false }
        if case .records(let records) = input.content {
            return nextRecords(records, into: &result)
        }
        guard var opened else { return false }
        defer { self.opened = opened }
        do {
            if try opened.read(into: &chunk, upTo: limits.chunkBytes) {
                chunk.withUnsafeBufferPointer { parser.feed($0, final: false, into: &result) }
                return true
            }
        } catch {
            // What was read before the error is still analysed: finish the records in hand.
            finished = true
            parser.feed(UnsafeBufferPointer(start: nil, count: 0), final: true, into: &result)
            throw error
        }
        finished = true
        parser.feed(UnsafeBufferPointer(start: nil, count: 0), final: true, into: &result)
        return result.records > 0
    }

    /// Records are parsed one by one (each is a Kafka-style record: a line, an object, an array).
    private mutating func nextRecords(_ records: [[UInt8]], into result: inout ParsedInput) -> Bool {
        guard recordPosition < records.count else {
            finished = true
            return false
        }
        let end = min(records.count, recordPosition + 1_000)
        var one = ParsedInput()
        var options = parser.options
        options.firstIndex = 0  // the record's own index is in its origin
        for index in recordPosition..<end {
            one.removeAll()
            // Each record is its own position (as a Kafka record is).
            options.origin = StableHash.combine(input.origin, UInt64(index.addingSaturated(input.firstIndex)))
            records[index].withUnsafeBufferPointer { LogParser.parseRecord($0, options: options, into: &one) }
            result.records += one.records
            result.futureEvents += one.futureEvents
            result.events.append(contentsOf: one.events)
            result.errors.append(contentsOf: one.errors.map { RecordError(index: index, line: nil, reason: $0.reason) })
        }
        recordPosition = end
        return true
    }
}

/// Reads a ``LogInput``'s records without parsing them: lines, JSON array elements or
/// objects, as ``RecordSplitter`` finds them (`vigil produce` sends each as a Kafka record).
public struct RecordReader {
    private var opened: OpenedInput?
    private var records: [[UInt8]]?
    private var splitter: RecordSplitter
    private let limits: ReadLimits
    private var chunk: [UInt8] = []
    private var finished = false

    public init(_ input: LogInput, limits: ReadLimits = ReadLimits()) throws(InputError) {
        self.limits = limits
        splitter = RecordSplitter(maxRecordBytes: limits.maxRecordBytes)
        if case .records(let records) = input.content {
            self.records = records
        } else {
            opened = try OpenedInput(input, chunkBytes: limits.chunkBytes)
        }
    }

    /// Hands the next step's records (and structural errors) to `body`; false at the end.
    public mutating func next(_ body: (SplitItem) -> Void) throws(InputError) -> Bool {
        guard !finished else { return false }
        if let records {
            finished = true
            for (index, record) in records.enumerated() {
                record.withUnsafeBufferPointer {
                    body(.record(RawRecord(bytes: $0, kind: .line, index: index, line: index + 1)))
                }
            }
            return !records.isEmpty
        }
        guard var opened else { return false }
        defer { self.opened = opened }
        if try opened.read(into: &chunk, upTo: limits.chunkBytes) {
            chunk.withUnsafeBufferPointer { splitter.feed($0, final: false, body) }
            return true
        }
        finished = true
        splitter.feed(UnsafeBufferPointer(start: nil, count: 0), final: true, body)
        return true
    }
}
