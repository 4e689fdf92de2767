/// Message templates: a message with its variable parts masked, so that messages that differ
/// only in numbers, addresses, identifiers or paths share a template.
///
/// Masking is token by token (split on spaces): IPv4/IPv6 addresses (with an optional port)
/// become `<IP>`, host names `<HOST>`, numbers `<NUM>`, long hex strings `<HEX>`, absolute
/// paths `<PATH>`, the name after `user` `<USER>`, the values of `key=value` pairs what their
/// key or form says (`rhost=<HOST>`, `user=<USER>`, `uid=<NUM>`), and any other token with
/// digits has its digit runs replaced by `#` (`sshd[4211]:` → `sshd[#]:`). So `connection from
/// 192.0.2.7 (scanner.example.net)` is one kind of message whoever connects.
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
        var afterUser = false
        while i < n {
            // Whitespace runs collapse to one space.
            if message[i] == 0x20 || message[i] == 0x09 {
                if !out.isEmpty && out.last != 0x20 { out.append(0x20) }
                i += 1
                continue
            }
            var j = i
            while j < n, message[j] != 0x20, message[j] != 0x09 { j += 1 }
            let token = UnsafeBufferPointer(rebasing: message[i..<j])
            if afterUser, let name = nameRange(token) {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: token[..<name.lowerBound]))
                out.append(contentsOf: "<USER>".utf8)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: token[name.upperBound...]))
            } else if let equals = token.firstIndex(of: UInt8(ascii: "=")), equals > 0 {
                appendPair(token, equals: equals, to: &out)
            } else {
                appendMasked(token, to: &out)
            }
            afterUser = isUserWord(token)
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
        } else if dots > 0 && isHostName(core) {
            out.append(contentsOf: "<HOST>".utf8)
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

    /// `user`, `User`, `user:` — a user name follows.
    private static func isUserWord(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = token.last == UInt8(ascii: ":") ? token.count - 1 : token.count
        guard count == 4 else { return false }
        return (token[0] | 0x20) == UInt8(ascii: "u") && token[1] == UInt8(ascii: "s") && token[2] == UInt8(ascii: "e")
            && token[3] == UInt8(ascii: "r")
    }

    /// Words that follow "user" without being a name ("user authentication methods").
    private static let notNames: Set<String> = [
        "authentication", "unknown", "not", "name", "names", "account", "accounts", "session", "sessions", "login",
        "of", "is", "with", "for", "from", "to", "the", "a", "an", "and", "methods", "method", "auth", "database",
        "id", "info", "manager", "slice", "instance", "service", "request", "requested", "none",
    ]

    /// Where a token shaped like a user name (letters, digits, `._-@$`, at most 64 bytes) is,
    /// inside any surrounding punctuation; nil for other tokens.
    private static func nameRange(_ token: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var start = 0
        var end = token.count
        while start < end, isWrapper(token[start]) || token[start] == UInt8(ascii: "'") { start += 1 }
        while end > start,
            isWrapper(token[end - 1]) || token[end - 1] == UInt8(ascii: ".")
                || token[end - 1] == UInt8(ascii: ":")
        { end -= 1 }
        guard end > start, end - start <= 64 else { return nil }
        let core = UnsafeBufferPointer(rebasing: token[start..<end])
        guard core.allSatisfy({ isNameByte($0) }) else { return nil }
        return notNames.contains(String(decoding: core, as: UTF8.self).lowercased()) ? nil : start..<end
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"),
            UInt8(ascii: "@"), UInt8(ascii: "$"):
            true
        default:
            false
        }
    }

    /// Keys whose values name an account or a host: masked whatever they look like.
    private static let userKeys: Set<String> = ["user", "ruser", "logname", "acct", "account", "login", "username"]
    private static let hostKeys: Set<String> = ["rhost", "host", "hostname", "addr", "src", "dst", "laddr", "raddr"]

    /// `key=value`: the key stays, the value is masked by what the key says, else by its form.
    private static func appendPair(_ token: UnsafeBufferPointer<UInt8>, equals: Int, to out: inout [UInt8]) {
        let key = UnsafeBufferPointer(rebasing: token[..<equals])
        out.append(contentsOf: key)
        out.append(UInt8(ascii: "="))
        let value = UnsafeBufferPointer(rebasing: token[(equals + 1)...])
        guard !value.isEmpty else { return }
        let name = String(decoding: key, as: UTF8.self).lowercased()
        if userKeys.contains(name) {
            out.append(contentsOf: "<USER>".utf8)
        } else if hostKeys.contains(name) {
            var masked: [UInt8] = []
            appendMasked(value, to: &masked)
            out.append(contentsOf: masked.starts(with: "<IP>".utf8) ? Array("<IP>".utf8) : Array("<HOST>".utf8))
        } else {
            appendMasked(value, to: &out)
        }
    }

    /// `scanner.example.net`, `ec2-52-80-34-196.compute.amazonaws.com`: labels of letters,
    /// digits and hyphens, the last one all letters.
    private static func isHostName(_ core: UnsafeBufferPointer<UInt8>) -> Bool {
        guard core.count >= 4, core.count <= 253, let lastDot = core.lastIndex(of: UInt8(ascii: ".")),
            lastDot > 0, lastDot < core.count - 2
        else { return false }
        var letters = false
        for b in core {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): letters = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."): break
            default: return false
            }
        }
        let tld = UnsafeBufferPointer(rebasing: core[(lastDot + 1)...])
        return letters && tld.count <= 24
            && tld.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) }
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
