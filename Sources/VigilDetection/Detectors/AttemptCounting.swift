/// Counting failed attempts the way the rules SOC teams trust count them (Wazuh 5712/5720/5763,
/// fail2ban's sshd filter): every sshd failure line counts (`Invalid user`, `Failed password`,
/// `error: PAM: Authentication failure`, `User … not allowed`). PAM reports the same attempts
/// a second time (`authentication failure; … rhost=`, `5 more authentication failures`), and
/// older systems log only PAM's lines. Per connection (host, program, pid) the engine keeps
/// what sshd's lines and PAM's lines reported and counts the larger: sshd's lines as Wazuh
/// counts them, PAM's where sshd logged nothing — never both. A "maximum authentication
/// attempts exceeded" stands for sshd's MaxAuthTries when fewer failure lines came before it.
///
/// The connection also names the source when a line does not (`Too many authentication
/// failures for root [preauth]`), and ties a host name (PAM's `rhost=`) to the address sshd
/// logs, so an attacker is counted under one name.
struct SessionReports: Sendable {
    var attempts: UInt32 = 0
    var refusedAccount: UInt32 = 0
    var pamErrors: UInt32 = 0
    var pam: UInt32 = 0
    var triesExhausted: UInt32 = 0
    /// Failures counted so far for the connection.
    var counted: UInt32 = 0
    /// The source its failures count under: an address once one is known.
    var source: String? = nil
    var user: String? = nil

    /// sshd's failure lines, or PAM's count, or what an exhausted connection stands for.
    var reported: UInt32 {
        max(attempts.addingSaturated(refusedAccount).addingSaturated(pamErrors), triesExhausted, pam)
    }
}

/// The address a host name was seen to stand for.
struct SourceAlias: Sendable {
    var address: String
}

/// The outcome of counting one record.
struct AttemptCount {
    /// New failed attempts the record adds (0 for a line repeating what its connection said).
    var weight = 0
    /// The source and account to count them under (the record's own, or its connection's).
    var source: String?
    var user: String?
}

extension DetectionEngine {
    /// How many new failed attempts `event` reports, and under which source and account.
    mutating func countAttempts(_ event: inout LogEvent) -> AttemptCount {
        var count = AttemptCount(weight: 0, source: event.sourceIP, user: event.user)
        // An event made by hand (not by a parser) that says it is a failed attempt is one.
        guard let report = event.failureReport ?? (event.isFailedAttempt ? .attempt : nil) else { return count }
        let repeats = UInt32(clamping: max(1, event.repeatCount))
        let reported: UInt32 =
            switch report {
            case .attempt, .pamError, .pam: repeats
            case .refusedAccount: 1
            case .triesExhausted: UInt32(clamping: max(1, config.bruteForce.maxAuthTries))
            case .opened: 0
            }
        // A host name already tied to an address counts under the address.
        if let name = count.source, !LogEvent.isAddress(name),
            let alias = state.sourceAliases.peek(EntityKey.source(name))
        {
            count.source = alias.address
        }
        guard let pid = event.processID else {
            count.weight = Int(reported)  // no connection to compare with: each report counts
            return count
        }
        let connection = Self.connection(event, pid: pid)
        var learned: (name: String, address: String)? = nil
        state.sessions.update(connection, time: event.timestamp, make: SessionReports.init) { session in
            switch report {
            case .attempt: session.attempts = session.attempts.addingSaturated(reported)
            case .refusedAccount: session.refusedAccount = session.refusedAccount.addingSaturated(reported)
            case .pamError: session.pamErrors = session.pamErrors.addingSaturated(reported)
            case .pam: session.pam = session.pam.addingSaturated(reported)
            case .triesExhausted: session.triesExhausted = max(session.triesExhausted, reported)
            case .opened: break
            }
            let before = session.counted
            session.counted = max(session.counted, session.reported)
            var weight = Int(session.counted - before)
            if let source = count.source, LogEvent.isAddress(source) {
                if let earlier = session.source, !LogEvent.isAddress(earlier) {
                    // Counted so far under a host name: it moves to the address sshd names.
                    learned = (earlier, source)
                    weight += Int(before)
                }
                session.source = source
            } else if let known = session.source, LogEvent.isAddress(known) {
                if let name = count.source { learned = (name, known) }
                count.source = known
            } else if session.source == nil {
                session.source = count.source
            } else {
                count.source = session.source
            }
            if session.user == nil { session.user = count.user }
            count.user = count.user ?? session.user
            count.weight = weight
        }
        if let learned {
            state.sourceAliases.update(
                EntityKey.source(learned.name), time: event.timestamp,
                make: { SourceAlias(address: learned.address) }
            ) { $0.address = learned.address }
        }
        return count
    }

    /// The key of an sshd connection's state: host, program and process id.
    static func connection(_ event: LogEvent, pid: Int) -> UInt64 {
        StableHash.combine(
            StableHash.combine(StableHash.hash(event.host ?? ""), StableHash.hash(event.service ?? "")), UInt64(pid))
    }

    /// For an event naming its source by a host name (PAM's `rhost=`): the address its
    /// connection, or an earlier one, tied the name to — if known by now. PAM logs its line
    /// before sshd's names the address, so the route stage asks at the end of a batch.
    public func address(for event: LogEvent) -> String? {
        guard let name = event.sourceIP, !LogEvent.isAddress(name) else { return nil }
        if let pid = event.processID, let source = state.sessions.peek(Self.connection(event, pid: pid))?.source,
            LogEvent.isAddress(source)
        {
            return source
        }
        return state.sourceAliases.peek(EntityKey.source(name))?.address
    }
}
