/// Reads one syslog line — RFC 3164 (`Dec 10 06:55:46 host sshd[24200]: …`), RFC 5424
/// (`<34>1 2026-11-25T06:55:46.003Z host sshd 24200 - - …`) or the ISO-timestamped form rsyslog
/// writes — into a ``LogEvent``.
///
/// RFC 3164 timestamps have no year. It is inferred from a reference time (the Kafka record's
/// timestamp, or the file's modification time): the reference year, unless that puts the event
/// more than a week after the reference — then the year before (a December line read in
/// January). Replays of the same input with the same reference give the same times.
public enum SyslogParser {
    public enum Failure: Error, Equatable, Sendable {
        case empty
        /// No timestamp at the start of the line.
        case noTimestamp
    }

    /// Parses a line. Lines without a recognisable timestamp fail with `.noTimestamp`; the
    /// caller decides whether to date them otherwise (see ``LogParser``). A timestamp without a
    /// year takes the year that puts it at most a week past `referenceTime` and not after
    /// `latestTime` (see ``inferYear(month:day:referenceTime:)``).
    public static func parse(
        _ line: UnsafeBufferPointer<UInt8>, referenceTime: Int64, latestTime: Int64? = nil
    ) -> Result<LogEvent, Failure> {
        var event = LogEvent(timestamp: 0, kind: .unknown)
        if let failure = parse(line, referenceTime: referenceTime, latestTime: latestTime, into: &event) {
            return .failure(failure)
        }
        return .success(event)
    }

    /// Parses into `event` in place (no copies of the event); returns why it failed, if it did.
    /// `event` must be fresh (`LogEvent(timestamp:kind:)` with nothing else set).
    static func parse(
        _ line: UnsafeBufferPointer<UInt8>, referenceTime: Int64, latestTime: Int64?, into event: inout LogEvent
    ) -> Failure? {
        var c = ByteCursor(line)
        c.skipSpaces()
        guard !c.atEnd else { return .empty }
        if c.peek == UInt8(ascii: "<") {
            let start = c.i
            c.i += 1
            if c.number() != nil, c.skip(">") {
                if c.skip("1 ") { return rfc5424(&c, line, into: &event) }
            } else {
                c.i = start
            }
        }
        guard let timestamp = timestamp(&c, referenceTime: referenceTime, latestTime: latestTime) else {
            return .noTimestamp
        }
        c.skipSpaces()
        event.timestamp = timestamp  // fresh otherwise: re-initialising would cost a copy
        // Host, then "tag[pid]:" — the tag is absent when the token after the host has no colon.
        let afterTimestamp = c
        if let host = c.token() {
            c.skipSpaces()
            let tagStart = c
            if let tag = c.token(), let programEnd = tagEnd(tag) {
                event.host = String(bytes: host)
                c.skipSpaces()
                classifyTagged(tag, programEnd: programEnd, message: &c, into: &event)
                return nil
            }
            // "host message…" without a tag, or the tag directly after the timestamp.
            c = tagStart
            if let programEnd = tagEnd(host) {
                classifyTagged(host, programEnd: programEnd, message: &c, into: &event)
                return nil
            }
            event.host = String(bytes: host)
            classify(c.rest, program: .other, into: &event)
            return nil
        }
        classify(afterTimestamp.rest, program: .other, into: &event)
        return nil
    }

    /// Takes the program and pid from a tag (`sshd[4211]:`; the older `sshd(pam_unix)[4211]:`
    /// names PAM's module after the service), skips Solaris's message id (`[ID 800047
    /// auth.info]`), and classifies the message.
    private static func classifyTagged(
        _ tag: UnsafeBufferPointer<UInt8>, programEnd: Int, message c: inout ByteCursor, into event: inout LogEvent
    ) {
        var program = UnsafeBufferPointer(rebasing: tag[..<programEnd])
        if let open = tag.firstIndex(of: UInt8(ascii: "[")) {
            var pid = ByteCursor(UnsafeBufferPointer(rebasing: tag[(open + 1)...]))
            if let number = pid.number(), number <= 4_194_304, pid.skip("]") { event.processID = number }
        }
        // "sshd(pam_unix)": the service is sshd, and the message is PAM's.
        var pamModule = false
        if let paren = program.firstIndex(of: UInt8(ascii: "(")), paren > 0,
            ByteCursor(UnsafeBufferPointer(rebasing: program[(paren + 1)...])).startsWith("pam_")
        {
            program = UnsafeBufferPointer(rebasing: program[..<paren])
            pamModule = true
        }
        event.service = String(bytes: program)
        if c.startsWith("[ID ") {
            var skipped = c
            if skipped.upTo(UInt8(ascii: "]")) != nil {
                c = skipped
                c.skipSpaces()
            }
        }
        classify(c.rest, program: AuthMessages.program(program), pamModule: pamModule, into: &event)
    }

    /// Where the program name ends in a tag `prog[pid]:` or `prog:`; nil if not a tag.
    private static func tagEnd(_ tag: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let last = tag.last, last == UInt8(ascii: ":"), tag.count > 1 else { return nil }
        if let bracket = tag.firstIndex(of: UInt8(ascii: "[")) { return bracket > 0 ? bracket : nil }
        return tag.count - 1
    }

    /// Sets kind, fields, message and template from the message part.
    static func classify(
        _ message: UnsafeBufferPointer<UInt8>, program: AuthMessages.Program, pamModule: Bool = false,
        into event: inout LogEvent
    ) {
        let trimmed = trimmingTrailing(message) { $0 == 0x20 || $0 == 0x0D || $0 == 0x0A || $0 == 0x09 }
        event.message = String(bytes: trimmed)
        if !AuthMessages.parse(trimmed, program: program, pamModule: pamModule, into: &event) {
            event.kind = .unknown
            let prefix = event.service.map { "\($0): " } ?? ""
            event.template = prefix + Templates.mask(trimmed)
        }
        // No field can be longer than its line (and a template is at most a few times its
        // message), so only long lines need cutting.
        if message.count > LogEvent.maxFieldBytes || (event.host?.utf8.count ?? 0) > LogEvent.maxFieldBytes
            || (event.service?.utf8.count ?? 0) > LogEvent.maxFieldBytes
        {
            event.limitFieldLengths()
        }
    }

    // MARK: Timestamps

    private static func timestamp(_ c: inout ByteCursor, referenceTime: Int64, latestTime: Int64?) -> Int64? {
        // ISO 8601 first token (rsyslog's RSYSLOG_FileFormat).
        if let first = c.peek, first >= 48 && first <= 57 {
            var copy = c
            guard let token = copy.token() else { return nil }
            // "2020-03-23 06:47:42.801612-0700": the date, a space, the time with its offset.
            var clockCursor = copy
            guard token.count == 10, clockCursor.skip(" "), let clock = clockCursor.token(), clock.count >= 8,
                clock[2] == UInt8(ascii: ":")
            else {
                guard let time = UTC.parse(token) else { return nil }
                c = copy
                return time
            }
            copy = clockCursor
            var joined = Array(token)
            joined.append(UInt8(ascii: "T"))
            joined.append(contentsOf: clock)
            // An offset without its colon ("-0700") is not RFC 3339: put it in.
            let count = joined.count
            if count > 15, joined[count - 5] == UInt8(ascii: "+") || joined[count - 5] == UInt8(ascii: "-"),
                joined[(count - 4)...].allSatisfy({ $0 >= 48 && $0 <= 57 })
            {
                joined.insert(UInt8(ascii: ":"), at: count - 2)
            }
            guard let time = joined.withUnsafeBufferPointer({ UTC.parse($0) }) else { return nil }
            c = copy
            return time
        }
        return bsdTimestamp(&c, referenceTime: referenceTime, latestTime: latestTime)
    }

    private static let months: [StaticString] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    /// Each month name's three bytes packed big-endian into a number.
    private static let monthKeys: [UInt32] = months.map { name in
        (0..<3).reduce(UInt32(0)) { $0 << 8 | UInt32(name.utf8Start[$1]) }
    }

    /// "Mmm dd hh:mm:ss" or "Mmm dd yyyy hh:mm:ss" (day may be space-padded).
    private static func bsdTimestamp(_ c: inout ByteCursor, referenceTime: Int64, latestTime: Int64?) -> Int64? {
        let start = c
        // The month's three letters as one number, against the twelve names' numbers (trying
        // each name in turn was a third of the timestamp's cost).
        var month = 0
        if c.bytes.count - c.i >= 3 {
            let key = UInt32(c.bytes[c.i]) << 16 | UInt32(c.bytes[c.i + 1]) << 8 | UInt32(c.bytes[c.i + 2])
            for (index, name) in monthKeys.enumerated() where name == key {
                month = index + 1
                c.i += 3
                break
            }
        }
        guard month > 0, c.skip(" ") else {
            c = start
            return nil
        }
        c.skipSpaces()
        guard let day = c.number(), (1...31).contains(day), c.skip(" ") else {
            c = start
            return nil
        }
        c.skipSpaces()
        var year: Int? = nil
        var copy = c
        if let y = copy.number(), y >= 1970, y <= 9999, copy.skip(" ") {
            year = y
            c = copy
        }
        guard let hour = c.number(), hour < 24, c.skip(":"), let minute = c.number(), minute < 60, c.skip(":"),
            let second = c.number(), second <= 60
        else {
            c = start
            return nil
        }
        var millisecond = 0
        if c.skip(".") {
            var digits = 0
            while let b = c.peek, b >= 48, b <= 57 {
                if digits < 3 { millisecond = millisecond * 10 + Int(b - 48) }
                digits += 1
                c.i += 1
            }
            if digits == 1 { millisecond *= 100 } else if digits == 2 { millisecond *= 10 }
        }
        func time(in year: Int) -> Int64? {
            guard day <= UTC.daysIn(month: month, year: year) else { return nil }
            return UTC.milliseconds(
                year: year, month: month, day: day, hour: hour, minute: minute, second: min(second, 59),
                millisecond: millisecond)
        }
        let resolvedYear = year ?? inferYear(month: month, day: day, referenceTime: referenceTime)
        guard let candidate = time(in: resolvedYear) else {
            c = start
            return nil
        }
        // Past the latest accepted time, a year-less date is last year's, not a future one: the
        // week's window must not put a line where `latestTime` then refuses it (a log dated
        // "Dec 10" read on 7 December was otherwise unreadable as a whole).
        if year == nil, let latestTime, candidate > latestTime, let earlier = time(in: resolvedYear - 1) {
            return earlier
        }
        return candidate
    }

    /// The reference year, or the year before when that would put the date more than a week
    /// after the reference.
    public static func inferYear(month: Int, day: Int, referenceTime: Int64) -> Int {
        let referenceDays = Int(referenceTime.floorDiv(86_400_000))
        let year = UTC.civil(days: referenceDays).year
        let candidateDay = min(day, UTC.daysIn(month: month, year: year))
        let candidate = UTC.days(year: year, month: month, day: candidateDay)
        return candidate > referenceDays + 7 ? year - 1 : year
    }

    // MARK: RFC 5424

    private static func rfc5424(
        _ c: inout ByteCursor, _ line: UnsafeBufferPointer<UInt8>, into event: inout LogEvent
    ) -> Failure? {
        guard let time = c.token(), let timestamp = UTC.parse(time) else { return .noTimestamp }
        event.timestamp = timestamp  // fresh otherwise: re-initialising would cost a copy
        c.skipSpaces()
        let host = c.token()
        c.skipSpaces()
        let app = c.token()
        c.skipSpaces()
        if let procid = c.token() {
            var pid = ByteCursor(procid)
            if let number = pid.number(), pid.atEnd, number <= 4_194_304 { event.processID = number }
        }
        c.skipSpaces()
        _ = c.token()  // msgid
        c.skipSpaces()
        // Structured data: "-" or one or more "[id k="v" …]" elements (values may contain "]" escaped).
        if c.peek == UInt8(ascii: "-") {
            c.i += 1
        } else {
            while c.peek == UInt8(ascii: "[") {
                var escaped = false
                var inQuotes = false
                while let b = c.peek {
                    c.i += 1
                    if escaped {
                        escaped = false
                        continue
                    }
                    if b == UInt8(ascii: "\\") {
                        escaped = true
                        continue
                    }
                    if b == UInt8(ascii: "\"") {
                        inQuotes.toggle()
                        continue
                    }
                    if b == UInt8(ascii: "]") && !inQuotes { break }
                }
            }
        }
        c.skipSpaces()
        _ = c.skip("\u{FEFF}")  // BOM before a UTF-8 message
        if let host, !isNil(host) { event.host = String(bytes: host) }
        var program = AuthMessages.Program.other
        if let app, !isNil(app) {
            event.service = String(bytes: app)
            program = AuthMessages.program(app)
        }
        classify(c.rest, program: program, into: &event)
        return nil
    }

    private static func isNil(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        token.count == 1 && token[0] == UInt8(ascii: "-")
    }
}
