/// A compact, versioned binary form of ``LogEvent``: what the repartitioned stream sends
/// between its stages, so the second stage neither parses the log line again nor loses any
/// field the detectors read (the connection's process id, the failure report, the
/// fingerprint that anomaly ids come from).
///
/// Layout (little-endian): version byte, timestamp (8), kind, outcome, flags (attempt,
/// account unknown, and which optional numbers follow), failure report (255: none), repeat
/// count (4), fingerprint (8), the optional numbers present (process id, source port: 8
/// each; latitude, longitude: 8 each), a 16-bit mask of the text fields present, then each
/// present text field as a varint length and its UTF-8 bytes: user, source, host, service,
/// destination, country, user agent, session, target user, command, auth method, action,
/// message, template.
public enum EventCodec {
    /// The current encoding. A decoder refuses others, naming the version it found.
    public static let version: UInt8 = 1

    /// Why bytes are not an encoded event.
    public struct DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    private static let attemptFlag: UInt8 = 1
    private static let unknownAccountFlag: UInt8 = 2
    private static let processFlag: UInt8 = 4
    private static let portFlag: UInt8 = 8
    private static let locationFlag: UInt8 = 16
    private static let noReport: UInt8 = 255
    /// Wire codes are positions in this list: new kinds go at its end (a test checks that it
    /// names every kind), so version 1 stays readable.
    static let kinds: [EventKind] = [
        .authSuccess, .authFailure, .invalidUser, .breakInAttempt, .probe, .lockout, .disconnect, .sessionOpen,
        .sessionClose, .logout, .sudo, .su, .authInfo, .unknown,
    ]
    private static let outcomes: [Outcome] = [.success, .failure, .unknown]

    /// Appends `event`'s encoding to `out`.
    public static func encode(_ event: LogEvent, into out: inout [UInt8]) {
        out.append(version)
        appendLE(UInt64(bitPattern: event.timestamp), &out)
        out.append(UInt8(kinds.firstIndex(of: event.kind) ?? kinds.count - 1))
        out.append(UInt8(outcomes.firstIndex(of: event.outcome) ?? 2))
        var flags: UInt8 = 0
        if event.isAttempt { flags |= attemptFlag }
        if event.accountUnknown { flags |= unknownAccountFlag }
        if event.processID != nil { flags |= processFlag }
        if event.sourcePort != nil { flags |= portFlag }
        if event.latitude != nil && event.longitude != nil { flags |= locationFlag }
        out.append(flags)
        out.append(event.failureReport?.rawValue ?? noReport)
        appendLE(UInt32(event.repeatCount), &out)
        appendLE(event.fingerprint, &out)
        if let pid = event.processID { appendLE(UInt64(bitPattern: Int64(pid)), &out) }
        if let port = event.sourcePort { appendLE(UInt64(bitPattern: Int64(port)), &out) }
        if let latitude = event.latitude, let longitude = event.longitude {
            appendLE(latitude.bitPattern, &out)
            appendLE(longitude.bitPattern, &out)
        }
        // Spelled out, not through key paths: this runs once per event on the hot path.
        var mask: UInt16 = 0
        if event.user != nil { mask |= 1 << 0 }
        if event.sourceIP != nil { mask |= 1 << 1 }
        if event.host != nil { mask |= 1 << 2 }
        if event.service != nil { mask |= 1 << 3 }
        if event.destinationIP != nil { mask |= 1 << 4 }
        if event.country != nil { mask |= 1 << 5 }
        if event.userAgent != nil { mask |= 1 << 6 }
        if event.sessionID != nil { mask |= 1 << 7 }
        if event.targetUser != nil { mask |= 1 << 8 }
        if event.command != nil { mask |= 1 << 9 }
        if event.authMethod != nil { mask |= 1 << 10 }
        if event.action != nil { mask |= 1 << 11 }
        if event.message != nil { mask |= 1 << 12 }
        if !event.template.isEmpty { mask |= 1 << 13 }
        appendLE(mask, &out)
        if let text = event.user { appendText(text, &out) }
        if let text = event.sourceIP { appendText(text, &out) }
        if let text = event.host { appendText(text, &out) }
        if let text = event.service { appendText(text, &out) }
        if let text = event.destinationIP { appendText(text, &out) }
        if let text = event.country { appendText(text, &out) }
        if let text = event.userAgent { appendText(text, &out) }
        if let text = event.sessionID { appendText(text, &out) }
        if let text = event.targetUser { appendText(text, &out) }
        if let text = event.command { appendText(text, &out) }
        if let text = event.authMethod { appendText(text, &out) }
        if let text = event.action { appendText(text, &out) }
        if let text = event.message { appendText(text, &out) }
        if !event.template.isEmpty { appendText(event.template, &out) }
    }

    /// The encoding of `event` alone.
    public static func encode(_ event: LogEvent) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96)
        encode(event, into: &out)
        return out
    }

    /// Decodes an event from the start of `bytes`; returns it and how many bytes it used.
    /// Damaged or foreign bytes fail with a ``DecodeError`` naming the byte, never a crash.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> (event: LogEvent, length: Int) {
        var event = LogEvent(timestamp: 0, kind: .unknown)
        let length = try decode(bytes, into: &event)
        return (event, length)
    }

    /// ``decode(_:)`` into an existing event (replaced whole; on a throw left unspecified):
    /// returning a new event through a tuple or a `Result` copied it — a retain and a release
    /// per text field — on the repartitioned stream's hot path. Returns the bytes used.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, into event: inout LogEvent
    ) throws(DecodeError) -> Int {
        var none = DeferredText()
        var texts = TextInterner.none
        return try decode(bytes, into: &event, deferring: false, message: &none, texts: &texts)
    }

    /// The bytes of a text field left undecoded (see
    /// ``decode(_:into:deferringMessageTo:interning:)``): a buffer reused from event to event.
    public struct DeferredText: Sendable {
        public private(set) var bytes: [UInt8] = []
        public private(set) var present = false

        public init() {}

        /// The field as ``decode(_:into:)`` would have made it.
        public var text: String? { present ? String(decoding: bytes, as: UTF8.self) : nil }

        mutating func set(_ raw: UnsafeRawBufferPointer?) {
            bytes.removeAll(keepingCapacity: true)
            if let raw { bytes.append(contentsOf: raw) }
            present = raw != nil
        }
    }

    static func decode(
        _ bytes: UnsafeRawBufferPointer, into event: inout LogEvent, deferringMessageTo message: inout DeferredText,
        interning texts: inout TextInterner
    ) throws(DecodeError) -> Int {
        try decode(bytes, into: &event, deferring: true, message: &message, texts: &texts)
    }

    private static func decode(
        _ bytes: UnsafeRawBufferPointer, into event: inout LogEvent, deferring: Bool, message: inout DeferredText,
        texts: inout TextInterner
    ) throws(DecodeError) -> Int {
        var cursor = Cursor(bytes: bytes)
        let found = try cursor.byte()
        guard found == version else {
            throw DecodeError(description: "event encoding version \(found), expected \(version)")
        }
        let timestamp = Int64(bitPattern: try cursor.u64())
        guard UTC.supportedRange.contains(timestamp) else {
            throw DecodeError(description: "event time \(timestamp) out of range")
        }
        let kindIndex = Int(try cursor.byte())
        let outcomeIndex = Int(try cursor.byte())
        guard kindIndex < kinds.count, outcomeIndex < outcomes.count else {
            throw DecodeError(description: "unknown event kind \(kindIndex) or outcome \(outcomeIndex)")
        }
        // Every field assigned in place (a new LogEvent assigned whole was built, copied and
        // destroyed): a field added to LogEvent must be added here too — the codec tests
        // decode events into one reused event and compare each with its original.
        event.timestamp = timestamp
        event.kind = kinds[kindIndex]
        event.outcome = outcomes[outcomeIndex]
        let flags = try cursor.byte()
        event.isAttempt = flags & attemptFlag != 0
        event.accountUnknown = flags & unknownAccountFlag != 0
        let report = try cursor.byte()
        if report == noReport {
            event.failureReport = nil
        } else {
            guard let value = FailureReport(rawValue: report) else {
                throw DecodeError(description: "unknown failure report \(report)")
            }
            event.failureReport = value
        }
        event.repeatCount = Int(try cursor.u32())
        event.fingerprint = try cursor.u64()
        event.processID =
            flags & processFlag != 0 ? Int(truncatingIfNeeded: Int64(bitPattern: try cursor.u64())) : nil
        event.sourcePort = flags & portFlag != 0 ? Int(truncatingIfNeeded: Int64(bitPattern: try cursor.u64())) : nil
        if flags & locationFlag != 0 {
            let latitude = Double(bitPattern: try cursor.u64())
            let longitude = Double(bitPattern: try cursor.u64())
            guard latitude.isFinite, longitude.isFinite else {
                throw DecodeError(description: "non-finite location")
            }
            event.latitude = latitude
            event.longitude = longitude
        } else {
            event.latitude = nil
            event.longitude = nil
        }
        let mask = UInt16(try cursor.byte()) | UInt16(try cursor.byte()) << 8
        event.user = mask & (1 << 0) != 0 ? try cursor.text() : nil
        event.sourceIP = mask & (1 << 1) != 0 ? try cursor.text() : nil
        event.host = mask & (1 << 2) != 0 ? try cursor.text(&texts) : nil
        event.service = mask & (1 << 3) != 0 ? try cursor.text(&texts) : nil
        event.destinationIP = mask & (1 << 4) != 0 ? try cursor.text(&texts) : nil
        event.country = mask & (1 << 5) != 0 ? try cursor.text(&texts) : nil
        event.userAgent = mask & (1 << 6) != 0 ? try cursor.text(&texts) : nil
        event.sessionID = mask & (1 << 7) != 0 ? try cursor.text() : nil
        event.targetUser = mask & (1 << 8) != 0 ? try cursor.text(&texts) : nil
        event.command = mask & (1 << 9) != 0 ? try cursor.text() : nil
        event.authMethod = mask & (1 << 10) != 0 ? try cursor.text(&texts) : nil
        event.action = mask & (1 << 11) != 0 ? try cursor.text(&texts) : nil
        if deferring {
            message.set(mask & (1 << 12) != 0 ? try cursor.textBytes() : nil)
            event.message = nil
        } else {
            event.message = mask & (1 << 12) != 0 ? try cursor.text() : nil
        }
        event.template = mask & (1 << 13) != 0 ? try cursor.text(&texts) : ""
        return cursor.offset
    }

    /// The time of the encoded event at the start of `bytes`, without decoding the rest (its
    /// version and time are checked).
    public static func timestamp(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Int64 {
        var cursor = Cursor(bytes: bytes)
        let found = try cursor.byte()
        guard found == version else {
            throw DecodeError(description: "event encoding version \(found), expected \(version)")
        }
        let timestamp = Int64(bitPattern: try cursor.u64())
        guard UTC.supportedRange.contains(timestamp) else {
            throw DecodeError(description: "event time \(timestamp) out of range")
        }
        return timestamp
    }

    /// Decodes an event that fills `bytes` exactly.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> LogEvent {
        let result: Result<(event: LogEvent, length: Int), DecodeError> = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) in try decode(raw) }
        }
        let (event, length) = try result.get()
        guard length == bytes.count else {
            throw DecodeError(description: "\(bytes.count - length) trailing byte(s) after the event")
        }
        return event
    }

    private static func appendLE<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendText(_ text: String, _ out: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            var n = utf8.count
            while n >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: n) | 0x80)
                n >>= 7
            }
            out.append(UInt8(n))
            out.append(contentsOf: utf8)
        }
    }

    /// Bounds-checked reading (every read names the byte it failed at). Inlined: called a few
    /// dozen times per event on the detect stage's hot path.
    private struct Cursor {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        @inline(__always)
        mutating func byte() throws(DecodeError) -> UInt8 {
            guard offset < bytes.count else { throw truncated }
            defer { offset += 1 }
            return bytes[offset]
        }

        @inline(__always)
        mutating func u32() throws(DecodeError) -> UInt32 {
            guard bytes.count - offset >= 4 else { throw truncated }
            defer { offset += 4 }
            return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        @inline(__always)
        mutating func u64() throws(DecodeError) -> UInt64 {
            guard bytes.count - offset >= 8 else { throw truncated }
            defer { offset += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        mutating func text() throws(DecodeError) -> String {
            String(decoding: try textBytes(), as: UTF8.self)
        }

        /// A text field that recurs: through `texts`.
        @inline(__always)
        mutating func text(_ texts: inout TextInterner) throws(DecodeError) -> String {
            texts.text(try textBytes())
        }

        /// A text field's bytes, not made into a `String`.
        @inline(__always)
        mutating func textBytes() throws(DecodeError) -> UnsafeRawBufferPointer {
            var length = 0
            var shift = 0
            while true {
                let b = try byte()
                length |= Int(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
                guard shift <= 21 else { throw DecodeError(description: "text length too long at byte \(offset)") }
            }
            guard length <= LogEvent.maxTextBytes * 4, bytes.count - offset >= length else { throw truncated }
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length])
        }

        var truncated: DecodeError { DecodeError(description: "event truncated at byte \(offset)") }
    }
}
