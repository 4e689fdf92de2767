/// Little-endian binary output for models and snapshots.
struct BinaryWriter {
    var data: [UInt8] = []
    /// Snapshots: the rule that computes a volume baseline still pending in the state
    /// (``VolumeState/settled(_:)``), so the bytes do not depend on when it is computed.
    var volumeRule: DetectionConfig.VolumeSpike? = nil
    mutating func bytes(_ b: [UInt8]) { data.append(contentsOf: b) }
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func rate(_ r: RateBaseline) {
        f32(r.median)
        f32(r.mad)
        u32(r.buckets)
    }
    /// A flag byte, then the string if there is one.
    mutating func optionalString(_ s: String?) {
        if let s {
            u8(1)
            string(s)
        } else {
            u8(0)
        }
    }
    mutating func string(_ s: String) {
        let b = Array(s.utf8)
        u32(UInt32(b.count))
        bytes(b)
    }
}

/// Reads what ``BinaryWriter`` wrote; every read is bounds-checked and a damaged input fails
/// with a ``ModelError`` naming the byte, never a crash.
struct BinaryReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }

    var atEnd: Bool { offset == data.count }

    mutating func bytes(_ n: Int) throws(ModelError) -> [UInt8] {
        guard n >= 0, data.count - offset >= n else { throw .corrupt("truncated at byte \(offset)") }
        defer { offset += n }
        return Array(data[offset..<offset + n])
    }

    mutating func u8() throws(ModelError) -> UInt8 {
        guard offset < data.count else { throw .corrupt("truncated at byte \(offset)") }
        defer { offset += 1 }
        return data[offset]
    }

    mutating func u32() throws(ModelError) -> UInt32 {
        guard data.count - offset >= 4 else { throw .corrupt("truncated at byte \(offset)") }
        defer { offset += 4 }
        return UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16 | UInt32(
            data[offset + 3]) << 24
    }

    mutating func u64() throws(ModelError) -> UInt64 {
        let low = UInt64(try u32())
        let high = UInt64(try u32())
        return low | high << 32
    }

    mutating func i64() throws(ModelError) -> Int64 { Int64(bitPattern: try u64()) }
    /// Times a live engine can store: ``UTC/supportedRange`` with room for the periods added
    /// to it (a quiet period after an event dated 9999-12-31), and `Int64.min` ("never").
    static let storedTimes: ClosedRange<Int64> = -1_000_000_000_000_000...1_000_000_000_000_000

    /// A time (see ``storedTimes``). Anything else is damage, refused here so no later
    /// arithmetic on it can overflow.
    mutating func time() throws(ModelError) -> Int64 {
        let value = try i64()
        guard value == .min || Self.storedTimes.contains(value) else {
            throw .corrupt("time \(value) out of range at byte \(offset - 8)")
        }
        return value
    }
    /// A count: refused past 2^48 (no real count comes near), so adding to it cannot overflow.
    mutating func count64() throws(ModelError) -> Int {
        let value = try u64()
        guard value < 1 << 48 else { throw .corrupt("count \(value) out of range at byte \(offset - 8)") }
        return Int(value)
    }
    /// Numbers Vigil writes are finite; NaN or infinity is damage (it would poison every
    /// threshold computed from it).
    mutating func f32() throws(ModelError) -> Float {
        let value = Float(bitPattern: try u32())
        guard value.isFinite else { throw .corrupt("non-finite number at byte \(offset - 4)") }
        return value
    }
    mutating func f64() throws(ModelError) -> Double {
        let value = Double(bitPattern: try u64())
        guard value.isFinite else { throw .corrupt("non-finite number at byte \(offset - 8)") }
        return value
    }
    mutating func rate() throws(ModelError) -> RateBaseline {
        RateBaseline(median: try f32(), mad: try f32(), buckets: try u32())
    }

    mutating func optionalString() throws(ModelError) -> String? {
        try u8() == 1 ? try string() : nil
    }

    mutating func string() throws(ModelError) -> String {
        let n = try count(max: 1 << 20)
        return String(decoding: try bytes(n), as: UTF8.self)
    }

    /// A count, rejected when implausible (a corrupt length must not allocate gigabytes).
    mutating func count(max: Int) throws(ModelError) -> Int {
        let at = offset
        let value = Int(try u32())
        guard value <= max, value <= data.count else { throw .corrupt("implausible count \(value) at byte \(at)") }
        return value
    }
}
