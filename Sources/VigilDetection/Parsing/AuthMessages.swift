/// Maps sshd, PAM, sudo and su messages onto ``LogEvent`` fields.
///
/// Recognised messages get a fixed template (`sshd:failed`, `sudo:command`, …), so a new
/// username or address never looks like a new kind of message; everything else is templated by
/// masking (``Templates``).
enum AuthMessages {
    enum Program {
        case sshd, sudo, su, other
    }

    static func program(_ name: UnsafeBufferPointer<UInt8>) -> Program {
        var c = ByteCursor(name)
        if c.skip("sshd") { return .sshd }
        if c.skip("sudo") { return .sudo }
        if c.skip("su"), c.atEnd { return .su }
        return .other
    }

    /// Fills in `event` from `message` and returns true if the message is recognised.
    static func parse(_ message: UnsafeBufferPointer<UInt8>, program: Program, into event: inout LogEvent) -> Bool {
        var c = ByteCursor(message)
        // "message repeated 5 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]"
        if c.skip("message repeated ") {
            guard let count = c.number(), c.skip(" times: [") else { return false }
            c.skipSpaces()
            let inner = trimmingTrailing(c.rest) { $0 == UInt8(ascii: "]") || $0 == 0x20 }
            let recognised = parse(inner, program: program, into: &event)
            event.repeatCount = max(1, count)
            return recognised
        }
        switch program {
        case .sshd: return sshd(&c, &event) || pam(&c, &event)
        case .sudo: return sudo(&c, &event) || pam(&c, &event)
        case .su: return su(&c, &event) || pam(&c, &event)
        case .other: return sshd(&c, &event) || pam(&c, &event) || su(&c, &event)
        }
    }

    // MARK: sshd

    private static func sshd(_ c: inout ByteCursor, _ e: inout LogEvent) -> Bool {
        let start = c
        // "Failed password for [invalid user ]X from IP port N ssh2"
        if c.skip("Failed ") {
            guard let method = c.upTo(UInt8(ascii: " ")), c.skip("for ") else {
                c = start
                return false
            }
            e.accountUnknown = c.skip("invalid user ")
            guard userFromIP(&c, &e) else {
                c = start
                return false
            }
            e.kind = .authFailure
            e.outcome = .failure
            e.isAttempt = true
            e.authMethod = String(bytes: method)
            e.template = e.accountUnknown ? "sshd:failed-invalid-user" : "sshd:failed"
            return true
        }
        // "Accepted publickey for X from IP port N ssh2: RSA SHA256:…"
        if c.skip("Accepted ") {
            guard let method = c.upTo(UInt8(ascii: " ")), c.skip("for "), userFromIP(&c, &e) else {
                c = start
                return false
            }
            e.kind = .authSuccess
            e.outcome = .success
            e.isAttempt = true
            e.authMethod = String(bytes: method)
            e.template = "sshd:accepted"
            return true
        }
        // "Invalid user X from IP[ port N]"
        if c.skip("Invalid user ") || c.skip("Illegal user ") {
            guard userFromIP(&c, &e) else {
                c = start
                return false
            }
            e.kind = .invalidUser
            e.outcome = .failure
            e.accountUnknown = true
            e.template = "sshd:invalid-user"
            return true
        }
        // "input_userauth_request: invalid user X [preauth]"
        if c.skip("input_userauth_request: invalid user ") {
            c.skipSpaces()
            if let user = c.token(), !isPreauthMarker(user) { e.user = String(bytes: user) }
            e.kind = .authInfo
            e.outcome = .failure
            e.accountUnknown = true
            e.template = "sshd:userauth-invalid-user"
            return true
        }
        // "reverse mapping checking getaddrinfo for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!"
        if c.skip("reverse mapping checking getaddrinfo for ") {
            _ = c.upTo(UInt8(ascii: "["))
            if let ip = c.upTo(UInt8(ascii: "]")) { e.sourceIP = String(bytes: ip) }
            e.kind = .breakInAttempt
            e.template = "sshd:reverse-mapping-failed"
            return true
        }
        // "Address IP maps to HOST, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"
        if c.skip("Address "), c.contains("POSSIBLE BREAK-IN ATTEMPT") {
            if let ip = c.token() { e.sourceIP = String(bytes: ip) }
            e.kind = .breakInAttempt
            e.template = "sshd:address-maps-back-failed"
            return true
        }
        c = start
        // "[error: ]Received disconnect from IP[ port N]: 11: Bye Bye [preauth]"
        _ = c.skip("error: ")
        if c.skip("Received disconnect from ") {
            if let ip = c.upTo(UInt8(ascii: ":")) {
                var ipCursor = ByteCursor(ip)
                if let address = ipCursor.token() { e.sourceIP = String(bytes: address) }
            }
            e.kind = .disconnect
            e.template = "sshd:received-disconnect"
            return true
        }
        // "Disconnected from [authenticating |invalid ]user X IP port N [preauth]" / "Disconnected from IP port N"
        if c.skip("Disconnected from ") {
            disconnectPeer(&c, &e)
            e.kind = .disconnect
            e.template = "sshd:disconnected"
            return true
        }
        // "Connection closed by [authenticating user X ]IP[ port N] [preauth]"
        if c.skip("Connection closed by ") || c.skip("Connection reset by ") {
            disconnectPeer(&c, &e)
            e.kind = .disconnect
            e.template = "sshd:connection-closed"
            return true
        }
        if c.skip("Did not receive identification string from ") {
            if let ip = c.token() { e.sourceIP = String(bytes: ip) }
            e.kind = .disconnect
            e.template = "sshd:no-identification"
            return true
        }
        // "Connection from IP port N on IP port 22"
        if c.skip("Connection from ") {
            if let ip = c.token() { e.sourceIP = String(bytes: ip) }
            e.kind = .authInfo
            e.template = "sshd:connection-from"
            return true
        }
        // "maximum authentication attempts exceeded for [invalid user ]X from IP port N ssh2 [preauth]"
        if c.skip("maximum authentication attempts exceeded for ") {
            e.accountUnknown = c.skip("invalid user ")
            _ = userFromIP(&c, &e)
            e.kind = .authInfo
            e.outcome = .failure
            e.template = "sshd:max-auth-attempts"
            return true
        }
        // "Disconnecting: Too many authentication failures for X [preauth]"
        if c.skip("Disconnecting: Too many authentication failures") {
            if c.skip(" for ") {
                if c.skip("invalid user ") { e.accountUnknown = true }
                if let user = c.token(), !isPreauthMarker(user) { e.user = String(bytes: user) }
            }
            e.kind = .authInfo
            e.outcome = .failure
            e.template = "sshd:too-many-failures"
            return true
        }
        c = start
        return false
    }

    /// "X from IP[ port N …]" — the user may contain spaces only in broken logs; the last
    /// " from " wins so that a username like "from" still parses.
    private static func userFromIP(_ c: inout ByteCursor, _ e: inout LogEvent) -> Bool {
        var lastFrom: Int? = nil
        var j = c.i
        while let at = c.find(" from ", from: j) {
            lastFrom = at
            j = at + 1
        }
        guard let at = lastFrom else { return false }
        let user = UnsafeBufferPointer(rebasing: c.bytes[c.i..<at])
        e.user = String(bytes: user)
        c.i = at + 6
        if let ip = c.token() { e.sourceIP = String(bytes: ip) }
        c.skipSpaces()
        if c.skip("port "), let port = c.number() { e.sourcePort = port }
        return true
    }

    private static func disconnectPeer(_ c: inout ByteCursor, _ e: inout LogEvent) {
        if c.skip("authenticating user ") || c.skip("invalid user ") || c.skip("user ") {
            if let user = c.token() { e.user = String(bytes: user) }
            c.skipSpaces()
        }
        if let ip = c.token(), !isPreauthMarker(ip) { e.sourceIP = String(bytes: ip) }
        c.skipSpaces()
        if c.skip("port "), let port = c.number() { e.sourcePort = port }
    }

    private static func isPreauthMarker(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        var c = ByteCursor(token)
        return c.skip("[preauth]")
    }

    // MARK: PAM

    private static func pam(_ c: inout ByteCursor, _ e: inout LogEvent) -> Bool {
        let start = c
        // "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=IP  user=root"
        let summary = c.skip("PAM ")  // "PAM 5 more authentication failures; …"
        guard summary || c.skip("pam_unix(") || c.skip("pam_") else { return false }
        let isSession = c.contains(":session)")
        let service: Program =
            c.startsWith("su:") || c.startsWith("su-l:") ? .su : (c.startsWith("sudo") ? .sudo : .other)
        if isSession, let at = c.find("session opened for user ", from: c.i) {
            c.i = at + 24
            let target = c.token().map { String(bytes: stripUID($0)) }
            var actor: String? = nil
            if c.skip(" by "), let by = c.token() {
                let name = stripUID(by)
                if !name.isEmpty { actor = String(bytes: name) }
            }
            switch service {
            case .su:
                e.kind = .su
                e.outcome = .success
                e.user = actor
                e.targetUser = target
                e.template = "pam:su-session-opened"
            default:
                e.kind = .sessionOpen
                e.user = target
                if service == .sudo {
                    e.targetUser = target
                    e.user = actor
                    e.kind = .authInfo
                }
                e.template = service == .sudo ? "pam:sudo-session-opened" : "pam:session-opened"
            }
            return true
        }
        if isSession, let at = c.find("session closed for user ", from: c.i) {
            c.i = at + 24
            e.user = c.token().map { String(bytes: stripUID($0)) }
            e.kind = service == .other ? .sessionClose : .authInfo
            e.template = "pam:session-closed"
            return true
        }
        if c.contains("authentication failure") {
            e.kind = service == .su ? .su : .authInfo
            e.outcome = .failure
            if let rhost = keyValue(c, "rhost=") { e.sourceIP = rhost }
            if service == .su {
                e.user = keyValue(c, "ruser=") ?? keyValue(c, "logname=")
                e.targetUser = keyValue(c, " user=")
                e.template = "pam:su-auth-failure"
            } else {
                e.user = keyValue(c, " user=")
                e.template = summary ? "pam:more-auth-failures" : "pam:auth-failure"
            }
            return true
        }
        if c.contains("check pass; user unknown") {
            e.kind = .authInfo
            e.outcome = .failure
            e.accountUnknown = true
            e.template = "pam:check-pass-user-unknown"
            return true
        }
        if c.contains("ignoring max retries") {
            e.kind = .authInfo
            e.template = "pam:ignoring-max-retries"
            return true
        }
        c = start
        return false
    }

    /// "root(uid=0)" → "root".
    private static func stripUID(_ token: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var end = 0
        while end < token.count, token[end] != UInt8(ascii: "(") { end += 1 }
        return UnsafeBufferPointer(rebasing: token[0..<end])
    }

    /// The value after `key` up to the next space or ';', nil when empty.
    private static func keyValue(_ c: ByteCursor, _ key: StaticString) -> String? {
        guard let at = c.find(key, from: c.i) else { return nil }
        var j = at + key.utf8CodeUnitCount
        let start = j
        while j < c.bytes.count, c.bytes[j] != 0x20, c.bytes[j] != UInt8(ascii: ";") { j += 1 }
        return j > start ? String(bytes: UnsafeBufferPointer(rebasing: c.bytes[start..<j])) : nil
    }

    // MARK: sudo

    private static func sudo(_ c: inout ByteCursor, _ e: inout LogEvent) -> Bool {
        let start = c
        c.skipSpaces()
        // "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"
        // "alice : 3 incorrect password attempts ; TTY=… ; USER=root ; COMMAND=…"
        guard let at = c.find(" : ", from: c.i), c.contains("COMMAND=") || c.contains("USER=") else {
            c = start
            return false
        }
        let user = UnsafeBufferPointer(rebasing: c.bytes[c.i..<at])
        guard !user.isEmpty, !user.contains(0x20) else {
            c = start
            return false
        }
        e.user = String(bytes: user)
        c.i = at + 3
        e.kind = .sudo
        let failed =
            c.contains("incorrect password") || c.contains("NOT in sudoers") || c.contains("command not allowed")
            || c.contains("authentication failure")
        e.outcome = failed ? .failure : .success
        if failed, let attempts = ByteCursor(c.rest).leadingNumber() { e.repeatCount = max(1, attempts) }
        e.targetUser = keyValue(c, "USER=")
        if let at = c.find("COMMAND=", from: c.i) {
            e.command = String(bytes: UnsafeBufferPointer(rebasing: c.bytes[(at + 8)...]))
        }
        e.template = failed ? "sudo:denied" : "sudo:command"
        return true
    }

    // MARK: su

    private static func su(_ c: inout ByteCursor, _ e: inout LogEvent) -> Bool {
        let start = c
        // "(to root) alice on pts/0" / "FAILED SU (to root) alice on pts/0"
        let failedPrefix = c.skip("FAILED SU ")
        if c.skip("(to ") {
            guard let target = c.upTo(UInt8(ascii: ")")) else {
                c = start
                return false
            }
            c.skipSpaces()
            e.targetUser = String(bytes: target)
            if let user = c.token() { e.user = String(bytes: user) }
            e.kind = .su
            e.outcome = failedPrefix ? .failure : .success
            e.template = failedPrefix ? "su:failed" : "su:to"
            return true
        }
        c = start
        // "Successful su for root by alice" / "FAILED su for root by alice"
        let success = c.skip("Successful su for ")
        if success || c.skip("FAILED su for ") {
            if let target = c.token() { e.targetUser = String(bytes: target) }
            if c.skip(" by "), let user = c.token() { e.user = String(bytes: user) }
            e.kind = .su
            e.outcome = success ? .success : .failure
            e.template = success ? "su:successful" : "su:failed"
            return true
        }
        // "+ pts/0 alice:root" / "- pts/0 alice:root"
        if let first = c.peek, first == UInt8(ascii: "+") || first == UInt8(ascii: "-"), c.bytes.count > 2,
            c.bytes[c.i + 1] == 0x20
        {
            c.i += 2
            _ = c.token()
            c.skipSpaces()
            guard let pair = c.token(), let colon = pair.firstIndex(of: UInt8(ascii: ":")) else {
                c = start
                return false
            }
            e.user = String(bytes: UnsafeBufferPointer(rebasing: pair[..<colon]))
            e.targetUser = String(bytes: UnsafeBufferPointer(rebasing: pair[(colon + 1)...]))
            e.kind = .su
            e.outcome = first == UInt8(ascii: "+") ? .success : .failure
            e.template = "su:short"
            return true
        }
        c = start
        return false
    }
}

extension ByteCursor {
    /// A decimal number at the start (after spaces), without consuming.
    func leadingNumber() -> Int? {
        var copy = self
        copy.skipSpaces()
        return copy.number()
    }
}
