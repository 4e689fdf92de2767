/// Message templates: a message with its variable parts masked, so that messages that differ
/// only in numbers, addresses, identifiers or paths share a template.
///
/// Masking is token by token (split on spaces): IPv4/IPv6 addresses (with an optional port)
/// become `<IP>`, numbers `<NUM>`, long hex strings `<HEX>`, absolute paths `<PATH>`, and any
/// other token with digits has its digit runs replaced by `#` (`sshd[4211]:` → `sshd[#]:`).
public enum Templates {
    /// The masked form of `message`.
    public static func mask(_ message: String) -> String {
        var message = message
        return message.withUTF8 { mask($0) }
    }

    public static func mask(_ message: UnsafeBufferPointer<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(message.count)
        var i = 0
        let n = message.count
        while i < n {
            // Whitespace runs collapse to one space.
            if message[i] == 0x20 || message[i] == 0x09 {
                if !out.isEmpty && out.last != 0x20 { out.append(0x20) }
                i += 1
                continue
            }
            var j = i
            while j < n, message[j] != 0x20, message[j] != 0x09 { j += 1 }
            appendMasked(UnsafeBufferPointer(rebasing: message[i..<j]), to: &out)
            i = j
        }
        if out.last == 0x20 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendMasked(_ token: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        // Punctuation around a value ("[1.2.3.4]", "(uid=0)", "host:") stays.
        var start = 0
        var end = token.count
        while start < end, isWrapper(token[start]) { start += 1 }
        while end > start, isWrapper(token[end - 1]) { end -= 1 }
        let core = UnsafeBufferPointer(rebasing: token[start..<end])
        var digits = 0
        var hexLetters = 0
        var colons = 0
        var dots = 0
        var others = 0
        for b in core {
            switch b {
            case 48...57: digits += 1
            case 97...102, 65...70: hexLetters += 1
            case UInt8(ascii: ":"): colons += 1
            case UInt8(ascii: "."): dots += 1
            default: others += 1
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: token[0..<start]))
        defer { out.append(contentsOf: UnsafeBufferPointer(rebasing: token[end...])) }
        if core.isEmpty { return }
        if core.first == UInt8(ascii: "/") && core.count > 1 {
            out.append(contentsOf: "<PATH>".utf8)
        } else if others == 0 && digits > 0 && hexLetters == 0 && colons == 0 && dots <= 1 {
            out.append(contentsOf: "<NUM>".utf8)
        } else if others == 0 && dots == 3 && hexLetters == 0 && colons <= 1 && digits >= 4 {
            out.append(contentsOf: "<IP>".utf8)  // IPv4, optionally with :port
        } else if others == 0 && colons >= 2 && (digits + hexLetters) > 0 {
            out.append(contentsOf: "<IP>".utf8)  // IPv6 (or a MAC address)
        } else if others == 0 && colons == 0 && dots == 0 && core.count >= 8 && digits > 0 {
            out.append(contentsOf: "<HEX>".utf8)
        } else if core.count > 2, core[0] == 48, core[1] == UInt8(ascii: "x") || core[1] == UInt8(ascii: "X") {
            out.append(contentsOf: "<HEX>".utf8)
        } else if digits > 0 {
            var inDigits = false
            for b in core {
                if b >= 48 && b <= 57 {
                    if !inDigits { out.append(UInt8(ascii: "#")) }
                    inDigits = true
                } else {
                    out.append(b)
                    inDigits = false
                }
            }
        } else {
            out.append(contentsOf: core)
        }
    }

    @inline(__always)
    private static func isWrapper(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: ","),
            UInt8(ascii: ";"), UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"),
            UInt8(ascii: "{"), UInt8(ascii: "}"):
            true
        default:
            false
        }
    }
}
