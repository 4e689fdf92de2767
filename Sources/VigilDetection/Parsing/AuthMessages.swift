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
    /// `pamModule`: the tag named a PAM module (`sshd(pam_unix)[…]:`), so the message is PAM's
    /// without its `pam_unix(…)` prefix.
    static func parse(
        _ message: UnsafeBufferPointer<UInt8>, program: Program, pamModule: Bool = false, into event: inout LogEvent
    ) -> Bool {
        var c = ByteCursor(message)
        // "message repeated 5 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]"
        if c.skip("message repeated ") {
            guard let count = c.number(), c.skip(" times: [") else { return false }
            c.skipSpaces()
            let inner = trimmingTrailing(c.rest) { $0 == UInt8(ascii: "]") || $0 == 0x20 }
            let recognised = parse(inner, program: program, pamModule: pamModule, into: &event)
            event.repeatCount = max(1, count)
            return recognised
        }
        if pamModule { return pamMessage(&c, &event, service: program, summary: false) }
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
            e.failureReport = .attempt
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
        // "Invalid user X from IP[ port N]" (the user may be empty)
        if c.skip("Invalid user ") || c.skip("Illegal user ") {
            guard userFromIP(&c, &e) else {
                c = start
                return false
            }
            e.kind = .invalidUser
            e.outcome = .failure
            e.accountUnknown = true
            e.failureReport = .refusedAccount
            e.template = "sshd:invalid-user"
            return true
        }
        // "User X from IP not allowed because not listed in AllowUsers" (… listed in DenyUsers, …)
        if c.skip("User "), let at = c.find(" not allowed because ", from: c.i), userFromIP(&c, &e, before: at) {
            e.kind = .authFailure
            e.outcome = .failure
            e.failureReport = .refusedAccount
            e.template = "sshd:user-not-allowed"
            return true
        }
        c = start
        // "ROOT LOGIN REFUSED FROM IP" (older sshd with PermitRootLogin no)
        if c.skip("ROOT LOGIN REFUSED FROM ") {
            if let ip = c.token() { e.sourceIP = String(bytes: trimmingTrailing(ip) { $0 == UInt8(ascii: ",") }) }
            e.user = "root"
            e.kind = .authFailure
            e.outcome = .failure
            e.failureReport = .refusedAccount
            e.template = "sshd:root-login-refused"
            return true
        }
        // "error: PAM: Authentication failure for [illegal user ]X from IP" — and its variants
        if c.skip("error: PAM: ") {
            let unknown = c.startsWith("unknown user") || c.startsWith("User not known")
            guard c.upTo(" for ") != nil else {
                c = start
                return false
            }
            e.accountUnknown = c.skip("illegal user ") || c.skip("invalid user ") || unknown
            guard userFromIP(&c, &e) else {
                c = start
                return false
            }
            e.kind = .authFailure
            e.outcome = .failure
            e.failureReport = .pamError
            e.template = "sshd:pam-error"
            return true
        }
        // "Postponed keyboard-interactive for [invalid user ]X from IP port N ssh2 [preauth]"
        if c.skip("Postponed "), c.upTo(" for ") != nil {
            e.accountUnknown = c.skip("invalid user ")
            _ = userFromIP(&c, &e)
            e.kind = .authInfo
            e.template = "sshd:postponed"
            return true
        }
        c = start
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
            peerAddress(&c, &e)
            e.kind = .disconnect
            e.template = "sshd:received-disconnect"
            // "…: 3: com.jcraft.jsch.JSchException: Auth fail": the client gave up after a
            // failed login (fail2ban counts it as one).
            _ = c.skip(":")
            c.skipSpaces()
            if c.skip("3: "), c.contains("Auth fail") {
                e.outcome = .failure
                e.failureReport = .attempt
                e.template = "sshd:received-disconnect-auth-fail"
            }
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

        // "Connection from IP port N on IP port 22"
        if c.skip("Connection from ") {
            if let ip = c.token() { e.sourceIP = String(bytes: ip) }
            e.failureReport = .opened
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
            e.failureReport = .triesExhausted
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
            e.failureReport = .triesExhausted
            e.template = "sshd:too-many-failures"
            return true
        }
        // "Disconnecting [authenticating |invalid ]user X IP port N: Too many authentication failures [preauth]"
        if c.skip("Disconnecting "), c.contains("Too many authentication failures") {
            disconnectPeer(&c, &e)
            if let ip = e.sourceIP, ip.hasSuffix(":") { e.sourceIP = String(ip.dropLast()) }
            e.kind = .authInfo
            e.outcome = .failure
            e.failureReport = .triesExhausted
            e.template = "sshd:too-many-failures"
            return true
        }
        c = start
        // Connections that never try to log in: scanners and banner grabbers.
        if let probe = probe(&c, &e) {
            e.kind = .probe
            e.template = probe
            return true
        }
        c = start
        return false
    }

    /// "X from IP[ port N …]" — the user may contain spaces only in broken logs; the last
    /// " from " wins so that a username like "from" still parses.
    private static func userFromIP(_ c: inout ByteCursor, _ e: inout LogEvent, before limit: Int? = nil) -> Bool {
        var lastFrom: Int? = nil
        var j = c.i
        while let at = c.find(" from ", from: j), at < (limit ?? Int.max) {
            lastFrom = at
            j = at + 1
        }
        // "Invalid user  from IP": an empty user name leaves one " from" right at the start.
        if lastFrom == nil, c.startsWith("from ") {
            c.i += 5
            if let ip = c.token() { e.sourceIP = String(bytes: ip) }
            c.skipSpaces()
            if c.skip("port "), let port = c.number(), port <= 65_535 { e.sourcePort = port }
            return true
        }
        guard let at = lastFrom else { return false }
        let user = UnsafeBufferPointer(rebasing: c.bytes[c.i..<at])
        if !user.isEmpty { e.user = String(bytes: user) }
        c.i = at + 6
        if let ip = c.token() { e.sourceIP = String(bytes: ip) }
        c.skipSpaces()
        if c.skip("port "), let port = c.number(), port <= 65_535 { e.sourcePort = port }
        return true
    }

    /// sshd's lines about connections that never tried to log in; the template, or nil.
    private static func probe(_ c: inout ByteCursor, _ e: inout LogEvent) -> String? {
        let start = c
        _ = c.skip("error: ")
        // "Did not receive identification string from IP[ port N]"
        if c.skip("Did not receive identification string from ") {
            peerAddress(&c, &e)
            return "sshd:no-identification"
        }
        // "Bad protocol version identification 'GET / HTTP/1.1' from IP[ port N]"
        if c.skip("Bad protocol version identification "), let at = c.find(" from ", from: c.i) {
            c.i = at + 6
            peerAddress(&c, &e)
            return "sshd:bad-protocol-version"
        }
        // "Unable to negotiate with IP port N: no matching key exchange method found. …"
        if c.skip("Unable to negotiate with ") {
            peerAddress(&c, &e)
            return "sshd:unable-to-negotiate"
        }
        // "kex_exchange_identification: …", "banner exchange: Connection from IP port N: invalid format"
        if c.skip("kex_exchange_identification: ") || c.skip("banner exchange: ") {
            if let at = c.find("Connection from ", from: c.i) ?? c.find("read: ", from: c.i).map({ $0 - 16 }),
                at >= c.i, c.bytes.count > at + 16
            {
                c.i = at + 16
                peerAddress(&c, &e)
            }
            return "sshd:kex-identification"
        }
        // tcp wrappers: "refused connect from HOST (IP)"
        if c.skip("refused connect from ") {
            if let name = c.token() { e.sourceIP = String(bytes: name) }
            c.skipSpaces()
            if c.skip("("), let ip = c.upTo(UInt8(ascii: ")")) { e.sourceIP = String(bytes: ip) }
            return "sshd:refused-connect"
        }
        c = start
        return nil
    }

    /// "IP[ port N][:…]" — an address (or name) and, if given, the port.
    private static func peerAddress(_ c: inout ByteCursor, _ e: inout LogEvent) {
        if let token = c.token() {
            let address = trimmingTrailing(token) { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ",") }
            if !address.isEmpty { e.sourceIP = String(bytes: address) }
        }
        c.skipSpaces()
        if c.skip("port "), let port = c.number(), port <= 65_535 { e.sourcePort = port }
    }

    private static func disconnectPeer(_ c: inout ByteCursor, _ e: inout LogEvent) {
        if c.skip("authenticating user ") || c.skip("invalid user ") || c.skip("user ") {
            if let user = c.token() { e.user = String(bytes: user) }
            c.skipSpaces()
        }
        if let ip = c.token(), !isPreauthMarker(ip) { e.sourceIP = String(bytes: ip) }
        c.skipSpaces()
        if c.skip("port "), let port = c.number(), port <= 65_535 { e.sourcePort = port }
    }

    private static func isPreauthMarker(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        var c = ByteCursor(token)
        return c.skip("[preauth]")
    }

    // MARK: PAM

    /// PAM's messages as most services log them: `pam_unix(sshd:auth): …`, or sshd's relay
    /// `PAM 5 more authentication failures; …`.
    private static func pam(_ c: inout ByteCursor, _ e: inout LogEvent) -> Bool {
        let start = c
        let summary = c.skip("PAM ")  // "PAM 5 more authentication failures; …"
        guard summary || c.skip("pam_unix(") || c.skip("pam_") else { return false }
        let service: Program =
            c.startsWith("su:") || c.startsWith("su-l:") ? .su : (c.startsWith("sudo") ? .sudo : .other)
        if pamMessage(&c, &e, service: service, summary: summary) { return true }
        c = start
        return false
    }

    /// The body of a PAM message — after `pam_unix(sshd:auth): `, or all of it when the tag
    /// named the module (`sshd(pam_unix)[19939]: authentication failure; …`).
    static func pamMessage(_ c: inout ByteCursor, _ e: inout LogEvent, service: Program, summary: Bool) -> Bool {
        if let at = c.find("session opened for user ", from: c.i) {
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
            case .sudo:
                e.kind = .authInfo
                e.user = actor
                e.targetUser = target
                e.template = "pam:sudo-session-opened"
            default:
                e.kind = .sessionOpen
                e.user = target
                e.template = "pam:session-opened"
            }
            return true
        }
        if let at = c.find("session closed for user ", from: c.i) {
            c.i = at + 24
            e.user = c.token().map { String(bytes: stripUID($0)) }
            e.kind = service == .su || service == .sudo ? .authInfo : .sessionClose
            e.template = "pam:session-closed"
            return true
        }
        if c.contains("authentication failure") {
            e.outcome = .failure
            if let rhost = keyValue(c, "rhost=") { e.sourceIP = rhost }
            switch service {
            case .su:
                e.kind = .su
                e.user = keyValue(c, "ruser=") ?? keyValue(c, "logname=")
                e.targetUser = keyValue(c, " user=")
                e.template = "pam:su-auth-failure"
            case .sudo:
                // The user who ran sudo failed to authenticate (to root, unless sudo says otherwise).
                e.kind = .sudo
                e.user = keyValue(c, " user=") ?? keyValue(c, "ruser=") ?? keyValue(c, "logname=")
                e.template = "pam:sudo-auth-failure"
            default:
                e.kind = .authInfo
                e.user = keyValue(c, " user=")
                // "5 more authentication failures" stands for five more failed attempts.
                if let at = c.find(" more authentication failure", from: c.i) {
                    var digits = at
                    while digits > 0, c.bytes[digits - 1] >= 48, c.bytes[digits - 1] <= 57, at - digits < 6 {
                        digits -= 1
                    }
                    var number = ByteCursor(c.bytes, at: digits)
                    if let count = number.number() { e.repeatCount = max(1, count) }
                }
                let more = summary || e.repeatCount > 1
                e.failureReport = .pam
                e.template = more ? "pam:more-auth-failures" : "pam:auth-failure"
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
