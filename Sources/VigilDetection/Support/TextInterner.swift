/// Strings made from bytes that recur — host names, message templates, user agents — kept to
/// be handed out again: a hit costs a hash and a comparison instead of an allocation, a copy
/// and UTF-8 validation now and a release later. What the repartitioned stream's detect stage
/// decodes (see ``EventCodec/decode(_:into:deferringMessageTo:interning:)``).
///
/// Direct-mapped: each text hashes to one slot, and a different text in it is replaced. A text
/// is only ever handed out for bytes equal to the ones it was made from, so the result is the
/// `String` that decoding the bytes makes. Texts of up to 15 bytes are not kept: Swift stores
/// them inline, without an allocation, and making them is cheaper than looking them up.
struct TextInterner: Sendable {
    private var hashes: [UInt64] = []
    private var texts: [String] = []
    /// Slots, a power of two; 0 keeps nothing (every text made anew).
    let slots: Int

    init(slots: Int = 1024) {
        precondition(slots >= 0 && slots & (slots &- 1) == 0, "slots must be 0 or a power of two")
        self.slots = slots
    }

    /// One that keeps nothing: decoding without interning.
    static var none: TextInterner { TextInterner(slots: 0) }

    /// The text `bytes` decode to (`String(decoding:as: UTF8.self)`).
    mutating func text(_ bytes: UnsafeRawBufferPointer) -> String {
        guard bytes.count > 15, slots > 0 else { return String(decoding: bytes, as: UTF8.self) }
        if texts.isEmpty {
            // Made on first use: engines that never decode (most) keep nothing.
            hashes = Array(repeating: 0, count: slots)
            texts = Array(repeating: "", count: slots)
        }
        let hash = StableHash.hash(bytes)
        let slot = Int(truncatingIfNeeded: hash) & (slots - 1)
        if hashes[slot] == hash {
            var kept = texts[slot]
            // Bytes compared, not only hashes; a text repaired from invalid UTF-8 never matches
            // its bytes, so it is made again (as decoding would).
            if kept.withUTF8({ Self.equal(UnsafeRawBufferPointer($0), bytes) }) { return kept }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        hashes[slot] = hash
        texts[slot] = text
        return text
    }

    /// Byte equality, eight bytes a step.
    private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var i = 0
        while i + 8 <= a.count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < a.count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}
