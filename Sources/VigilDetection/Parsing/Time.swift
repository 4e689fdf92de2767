/// Calendar arithmetic in UTC without Foundation: fast, allocation-free and deterministic.
public enum UTC {
    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    @inlinable
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The date of a day count since 1970-01-01.
    @inlinable
    public static func civil(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func milliseconds(
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int,
        millisecond: Int = 0
    ) -> Int64 {
        let days = Int64(Self.days(year: year, month: month, day: day))
        return ((days * 24 + Int64(hour)) * 60 + Int64(minute)) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
    }

    /// The times Vigil works with: years 1 to 9999. Times from input (Kafka record metadata,
    /// reference times) are clamped into it where they enter, so no later arithmetic on them
    /// (a window's end, a suppression period, year inference) can overflow.
    public static let supportedRange: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// `milliseconds` moved into ``supportedRange``.
    public static func clamp(_ milliseconds: Int64) -> Int64 {
        min(max(milliseconds, supportedRange.lowerBound), supportedRange.upperBound)
    }

    /// Hour of day (0–23) of a timestamp, UTC.
    @inlinable
    public static func hour(_ milliseconds: Int64) -> Int {
        Int((milliseconds.floorDiv(3_600_000)).floorMod(24))
    }

    /// Day of week, 0 = Monday … 6 = Sunday.
    @inlinable
    public static func weekday(_ milliseconds: Int64) -> Int {
        // 1970-01-01 was a Thursday (3).
        Int((milliseconds.floorDiv(86_400_000) + 3).floorMod(7))
    }

    /// `2026-11-25T21:47:00.123Z`.
    public static func format(_ milliseconds: Int64) -> String {
        let milliseconds = clamp(milliseconds)
        let days = Int(milliseconds.floorDiv(86_400_000))
        let msOfDay = Int(milliseconds.floorMod(86_400_000))
        let (y, m, d) = civil(days: days)
        let h = msOfDay / 3_600_000
        let mi = msOfDay / 60_000 % 60
        let s = msOfDay / 1000 % 60
        let ms = msOfDay % 1000
        var out = [UInt8]()
        out.reserveCapacity(24)
        func two(_ v: Int) {
            out.append(UInt8(48 + v / 10))
            out.append(UInt8(48 + v % 10))
        }
        let year = max(0, min(9999, y))
        out.append(UInt8(48 + year / 1000))
        out.append(UInt8(48 + year / 100 % 10))
        two(year % 100)
        out.append(UInt8(ascii: "-"))
        two(m)
        out.append(UInt8(ascii: "-"))
        two(d)
        out.append(UInt8(ascii: "T"))
        two(h)
        out.append(UInt8(ascii: ":"))
        two(mi)
        out.append(UInt8(ascii: ":"))
        two(s)
        out.append(UInt8(ascii: "."))
        out.append(UInt8(48 + ms / 100))
        two(ms % 100)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses RFC 3339 / ISO 8601 date-times: `2026-11-25T21:47:00Z`, with or without fraction
    /// and zone (no zone means UTC), `T` or a space between date and time, and a bare date.
    public static func parse(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parse($0) }
    }

    /// Byte-level variant of ``parse(_:)-swift.type.method``; no allocation.
    public static func parse(_ p: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        let n = p.count
        @inline(__always) func number(_ count: Int) -> Int? {
            guard n - i >= count else { return nil }
            var value = 0
            for _ in 0..<count {
                let c = p[i]
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
                i += 1
            }
            return value
        }
        @inline(__always) func expect(_ c: UInt8) -> Bool {
            guard i < n, p[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(0x2D), let month = number(2), expect(0x2D),
            let day = number(2), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        if i == n { return milliseconds(year: year, month: month, day: day, hour: 0, minute: 0, second: 0) }
        let sep = p[i]
        guard sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") || sep == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = number(2), expect(0x3A), let minute = number(2), hour < 24, minute < 60 else { return nil }
        var second = 0
        if expect(0x3A) {
            guard let s = number(2), s <= 60 else { return nil }
            second = min(s, 59)  // a leap second is read as :59
        }
        var millisecond = 0
        if expect(UInt8(ascii: ".")) || expect(UInt8(ascii: ",")) {
            var digits = 0
            while i < n, p[i] >= 48 && p[i] <= 57 {
                if digits < 3 { millisecond = millisecond * 10 + Int(p[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits == 1 { millisecond *= 100 } else if digits == 2 { millisecond *= 10 }
        }
        var offsetMinutes = 0
        if i < n {
            let c = p[i]
            if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
                i += 1
            } else if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                i += 1
                guard let oh = number(2), oh < 24 else { return nil }
                _ = expect(0x3A)
                let om = number(2) ?? 0
                guard om < 60 else { return nil }
                offsetMinutes = (oh * 60 + om) * (c == UInt8(ascii: "-") ? -1 : 1)
            }
        }
        guard i == n else { return nil }
        return milliseconds(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second,
            millisecond: millisecond) - Int64(offsetMinutes) * 60_000
    }

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Reads an epoch number as milliseconds: values past 10^11 are taken as milliseconds
    /// (10^11 seconds is the year 5138), smaller ones as seconds.
    public static func fromEpoch(_ value: Double) -> Int64? {
        guard value.isFinite, value >= 0, value < 1e15 else { return nil }
        let milliseconds = value >= 1e11 ? Int64(value) : Int64((value * 1000).rounded())
        return milliseconds <= supportedRange.upperBound ? milliseconds : nil
    }
}

extension Int64 {
    /// Division rounding towards negative infinity.
    @inlinable public func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : (self - d + 1) / d }
    /// The non-negative remainder of ``floorDiv(_:)``.
    @inlinable public func floorMod(_ d: Int64) -> Int64 { self - floorDiv(d) * d }
}
