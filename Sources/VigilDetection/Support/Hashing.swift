/// A fast, stable 64-bit hash (the same value on every platform and run), for fingerprints,
/// entity keys and template ids. Not for security: ids are for de-duplication, and keys only
/// need collisions to be rare (2⁻⁶⁴ per pair).
public enum StableHash {
    private static let p0: UInt64 = 0xa076_1d64_78bd_642f
    private static let p1: UInt64 = 0xe703_7ed1_a0b4_28db
    private static let p2: UInt64 = 0x8ebc_6af0_9c88_c6e3

    @inline(__always)
    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// Hashes bytes 8 at a time (wyhash-style multiply-mix).
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = seed ^ p0 ^ UInt64(bytes.count)
        var i = 0
        let n = bytes.count
        while n - i >= 8 {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            h = mix(word ^ p1, h ^ p2)
            i += 8
        }
        if i < n {
            h = mix(tail(bytes, from: i) ^ p1, h ^ p0)
        }
        return mix(h ^ p2, UInt64(n) ^ p1)
    }

    /// The last 1–7 bytes of `bytes`, from `start`, as a little-endian number (zero above).
    /// Loaded a word at a time where the buffer allows (most keys are short, and a byte loop
    /// cost a JSON key lookup more than its probing did); the value is what a byte loop gives.
    @inline(__always)
    static func tail(_ bytes: UnsafeRawBufferPointer, from start: Int) -> UInt64 {
        let n = bytes.count
        let r = n - start
        if n >= 8 {
            // The 8 bytes ending at the end hold the tail in their top r bytes.
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
            return word >> UInt64((8 - r) * 8)
        }
        if r >= 4 {
            let low = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self)))
            let high = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
            return low | (high >> UInt64((8 - r) * 8)) << 32
        }
        var value: UInt64 = 0
        for k in 0..<r { value |= UInt64(bytes[start + k]) << UInt64(8 * k) }
        return value
    }

    public static func hash(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt64 = 0) -> UInt64 {
        hash(UnsafeRawBufferPointer(bytes), seed: seed)
    }

    public static func hash(_ string: String, seed: UInt64 = 0) -> UInt64 {
        var string = string
        return string.withUTF8 { hash($0, seed: seed) }
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }

    /// Combines two hashes (order matters).
    @inline(__always)
    public static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 { mix(a ^ p0, b ^ p2) }
}
