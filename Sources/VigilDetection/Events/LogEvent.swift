/// What happened, normalised across input formats.
public enum EventKind: String, Sendable, Hashable, CaseIterable, Comparable {
    /// A successful authentication (sshd "Accepted …", a JSON login success).
    case authSuccess = "auth_success"
    /// A failed authentication attempt against an account.
    case authFailure = "auth_failure"
    /// An attempt against an account that does not exist (sshd "Invalid user …").
    case invalidUser = "invalid_user"
    /// Reverse DNS did not match: sshd's "POSSIBLE BREAK-IN ATTEMPT!".
    case breakInAttempt = "break_in_attempt"
    /// A connection that never tried to log in: a scanner or banner grabber (sshd's "Did not
    /// receive identification string", "Bad protocol version", "Unable to negotiate").
    case probe
    /// An account locked out after failures (Windows 4740).
    case lockout
    /// A connection closed or disconnected (often `[preauth]`).
    case disconnect
    case sessionOpen = "session_open"
    case sessionClose = "session_close"
    /// A logout (JSON events).
    case logout
    /// sudo ran (or refused) a command.
    case sudo
    /// su switched (or failed to switch) user.
    case su
    /// Recognised authentication chatter that is not itself an attempt: PAM's echo of an sshd
    /// failure, "check pass; user unknown", "input_userauth_request". Counting these as
    /// attempts would count each attempt twice.
    case authInfo = "auth_info"
    /// Anything else: kept with its message and template for the rare-message detector.
    case unknown

    public static func < (lhs: EventKind, rhs: EventKind) -> Bool { lhs.rawValue < rhs.rawValue }

}

/// How a record reports failed authentication. The same attempt is often reported by several
/// lines of one sshd connection (sshd's own, PAM's, a summary); the engine counts the most any
/// one form reports for the connection, so each attempt counts once — as Wazuh's and fail2ban's
/// rules see every one of them.
public enum FailureReport: UInt8, Sendable, Hashable {
    /// One failed attempt (sshd's `Failed …`, a JSON or Windows logon failure), times
    /// `repeatCount`.
    case attempt
    /// An attempt on an account that does not exist or may not log in (`Invalid user`, `User … not
    /// allowed`, `ROOT LOGIN REFUSED`): logged once per connection.
    case refusedAccount
    /// sshd relaying PAM's verdict (`error: PAM: Authentication failure for …`).
    case pamError
    /// PAM's own `authentication failure` (1), or `N more authentication failures` (N, in
    /// `repeatCount`).
    case pam
    /// The connection used up its tries (`maximum authentication attempts exceeded`, `Too many
    /// authentication failures`): it stands for sshd's MaxAuthTries failures.
    case triesExhausted
    /// No failure: the connection's opening line (`Connection from …`), naming the source its
    /// later lines may leave out.
    case opened
}

/// Whether the action succeeded.
public enum Outcome: String, Sendable, Hashable {
    case success, failure, unknown
}

/// One log event in Vigil's model, whatever format it came in.
///
/// Times are milliseconds since the Unix epoch (event time, never wall-clock time).
public struct LogEvent: Sendable, Hashable {
    public var timestamp: Int64
    public var kind: EventKind
    public var outcome: Outcome
    public var user: String?
    public var sourceIP: String?
    public var host: String?
    /// The program or service: `sshd`, `sudo`, or a JSON `service`.
    public var service: String?
    public var destinationIP: String?
    public var sourcePort: Int?
    /// ISO country code or name, when the event carries one.
    public var country: String?
    public var latitude: Double?
    public var longitude: Double?
    public var userAgent: String?
    public var sessionID: String?
    /// For su/sudo: the account switched to (`root`).
    public var targetUser: String?
    /// For sudo: the command.
    public var command: String?
    /// `password`, `publickey`, … when known.
    public var authMethod: String?
    /// The original action text (JSON `action`/`event.action`).
    public var action: String?
    /// The human-readable message.
    public var message: String?
    /// The message's template: variable parts (numbers, addresses, users, paths) masked.
    public var template: String
    /// This record is one authentication attempt (counted by the windowed detectors). sshd's
    /// "Invalid user X from IP" is not (the "Failed password for invalid user X" lines that
    /// follow are); a JSON login event is.
    public var isAttempt: Bool = false
    /// The account named does not exist on the target.
    public var accountUnknown: Bool = false
    /// How many occurrences this record stands for ("message repeated 5 times"), between 1 and
    /// ``maximumRepeatCount``: the count comes from the input, so it is clamped where it enters
    /// (a claimed 10^18 repeats must neither overflow a counter nor outweigh real evidence).
    public var repeatCount: Int {
        get { Int(storedRepeatCount) }
        set { storedRepeatCount = UInt32(min(max(1, newValue), Self.maximumRepeatCount)) }
    }
    private var storedRepeatCount: UInt32 = 1
    /// The largest repeat count a record can claim (sshd's own counters stay far below it).
    public static let maximumRepeatCount = 100_000
    /// A stable fingerprint of the source record, the basis of deterministic anomaly ids.
    public var fingerprint: UInt64 = 0

    public init(
        timestamp: Int64, kind: EventKind, outcome: Outcome = .unknown, user: String? = nil,
        sourceIP: String? = nil, message: String? = nil, template: String = ""
    ) {
        self.timestamp = timestamp
        self.kind = kind
        self.outcome = outcome
        self.user = user
        self.sourceIP = sourceIP
        self.message = message
        self.template = template
    }

    /// The process that wrote the line (syslog's `prog[pid]`, journald's `_PID`): with the host
    /// and program it identifies one sshd connection, whose lines report the same attempts.
    public var processID: Int? = nil
    /// How this record reports failed authentication, if it does — what the attempt counting
    /// of the brute-force family reads (see ``FailureReport``).
    public var failureReport: FailureReport? = nil

    /// A failed authentication attempt (what brute-force style detectors count).
    public var isFailedAttempt: Bool { isAttempt && outcome == .failure }

    /// The source is an address (IPv4 or IPv6), not a host name (PAM's `rhost=` may be either).
    public var sourceIsAddress: Bool { sourceIP.map(LogEvent.isAddress) ?? false }

    /// An IPv4 address or an IPv6 one (hex digits and colons, perhaps a zone or embedded v4).
    public static func isAddress(_ text: String) -> Bool {
        var dots = 0
        var colons = 0
        var digits = 0
        var hex = 0
        var other = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): hex += 1
            case UInt8(ascii: "."): dots += 1
            case UInt8(ascii: ":"): colons += 1
            case UInt8(ascii: "%"): return colons >= 2  // fe80::1%eth0
            default: other += 1
            }
        }
        if other > 0 { return false }
        if colons >= 2 { return true }
        return colons == 0 && hex == 0 && dots == 3 && digits >= 4
    }
    /// A successful authentication.
    public var isSuccessfulLogin: Bool { isAttempt && outcome == .success }
}

extension LogEvent {
    /// The longest `message`, `command` and `template` kept, in UTF-8 bytes.
    public static let maxTextBytes = 8192
    /// The longest value kept in the other text fields (names, addresses, identifiers).
    public static let maxFieldBytes = 1024

    /// Cuts over-long text fields (at a character boundary, ending in "…"). Parsers call it so
    /// that an anomaly stays far below Kafka's message size limit whatever the input: a
    /// megabyte-long user name or stack trace must not make an anomaly unpublishable (and
    /// stall its partition).
    mutating func limitFieldLengths() {
        Self.limit(&message, Self.maxTextBytes)
        Self.limit(&command, Self.maxTextBytes)
        if template.utf8.count > Self.maxTextBytes { template = Self.truncated(template, Self.maxTextBytes) }
        let n = Self.maxFieldBytes
        Self.limit(&user, n)
        Self.limit(&sourceIP, n)
        Self.limit(&host, n)
        Self.limit(&service, n)
        Self.limit(&destinationIP, n)
        Self.limit(&country, n)
        Self.limit(&userAgent, n)
        Self.limit(&sessionID, n)
        Self.limit(&targetUser, n)
        Self.limit(&authMethod, n)
        Self.limit(&action, n)
    }

    private static func limit(_ value: inout String?, _ maxBytes: Int) {
        guard let text = value, text.utf8.count > maxBytes else { return }
        value = truncated(text, maxBytes)
    }

    static func truncated(_ text: String, _ maxBytes: Int) -> String {
        let utf8 = text.utf8
        var end = utf8.index(utf8.startIndex, offsetBy: maxBytes)
        // Back to the start of a scalar: never split a multi-byte character.
        while end > utf8.startIndex && UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        return String(text[..<end]) + "…"
    }
}
