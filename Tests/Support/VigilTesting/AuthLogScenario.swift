import VigilDetection

/// A multi-host sshd/PAM log in the shapes real machines write (rsyslog's ISO timestamps):
/// brute force spread over several hosts, slow guessing, enumeration of unknown accounts,
/// spraying, stuffing of one account from many sources, a success after failures, PAM naming
/// a source by host name, source-less "Too many authentication failures" lines, and routine
/// logins and sudo. Deterministic (a fixed seed).
public func multiHostAuthLog(seed: UInt64 = 7) -> [String] {
    var rng = SeededRandom(seed: seed)
    var lines: [(Int64, String)] = []
    let start = UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 8, minute: 0, second: 0)
    var pid = 20_000
    func stamp(_ t: Int64) -> String { UTC.format(t) }
    func line(_ t: Int64, _ host: String, _ program: String, _ pid: Int, _ message: String) {
        lines.append((t, "\(stamp(t)) \(host) \(program)[\(pid)]: \(message)"))
    }
    let hosts = (1...5).map { "web\($0)" }
    let users = (1...30).map { "user\($0)" }
    // Routine: each user logs in from their own address a few times an hour, on a few hosts.
    for (k, user) in users.enumerated() {
        var t = start + Int64(rng.next(600_000))
        while t < start + 7_200_000 {
            pid += 1
            let host = hosts[(k + Int(rng.next(2))) % hosts.count]
            line(t, host, "sshd", pid, "Accepted publickey for \(user) from 10.1.\(k / 200).\(k % 200 + 10) port \(40_000 + Int(rng.next(20_000))) ssh2: ED25519 SHA256:k\(k)")
            line(t + 5, host, "sshd", pid, "pam_unix(sshd:session): session opened for user \(user)(uid=\(1000 + k)) by (uid=0)")
            if k % 7 == 0 && t > start + 5_400_000 {
                line(t + 60_000, host, "sudo", pid + 1, "  \(user) : TTY=pts/0 ; PWD=/home/\(user) ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx")
            }
            line(t + 900_000, host, "sshd", pid, "pam_unix(sshd:session): session closed for user \(user)")
            t += 300_000 + Int64(rng.next(900_000))
        }
    }
    // One connection: PAM's failure line, then sshd's, `tries` times; then the disconnect.
    func attack(
        _ source: String, users: [String], hosts: [String], at t0: Int64, every gap: Int64, tries: Int = 3,
        pamName: String? = nil, invalid: Bool = false, exhausted: Bool = false
    ) {
        var t = t0
        for (n, user) in users.enumerated() {
            pid += 1
            let host = hosts[n % hosts.count]
            let port = 30_000 + Int(rng.next(30_000))
            if invalid { line(t, host, "sshd", pid, "Invalid user \(user) from \(source) port \(port)") }
            for k in 0..<tries {
                let at = t + Int64(k) * 2_000
                if !invalid {
                    line(at, host, "sshd", pid, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=\(pamName ?? source)  user=\(user)")
                }
                line(at + 3, host, "sshd", pid, "Failed password for \(invalid ? "invalid user " : "")\(user) from \(source) port \(port) ssh2")
            }
            let end = t + Int64(tries) * 2_000
            if exhausted {
                line(end, host, "sshd", pid, "Disconnecting: Too many authentication failures for \(user) [preauth]")
            } else {
                line(end, host, "sshd", pid, "Connection closed by authenticating user \(user) \(source) port \(port) [preauth]")
            }
            t += gap
        }
    }
    // Fast brute force on root from two sources, each spread over all five hosts.
    attack("203.0.113.7", users: Array(repeating: "root", count: 10), hosts: hosts, at: start + 1_800_000, every: 8_000)
    attack(
        "198.51.100.23", users: Array(repeating: "root", count: 8), hosts: hosts, at: start + 3_000_000, every: 9_000,
        pamName: "scanner.example.net")
    // Slow guessing: a connection every two minutes, two tries each, over three hosts.
    attack(
        "192.0.2.99", users: Array(repeating: "admin", count: 3), hosts: Array(hosts.prefix(3)),
        at: start + 4_000_000, every: 120_000, tries: 2, exhausted: true)
    // Enumeration of unknown accounts.
    attack(
        "203.0.113.50", users: ["oracle", "postgres", "ftpuser", "test", "pi", "ubnt", "git"], hosts: hosts,
        at: start + 2_400_000, every: 4_000, tries: 1, invalid: true)
    // Spraying: one password for many real accounts.
    attack("198.51.100.77", users: Array(users.prefix(12)), hosts: hosts, at: start + 5_000_000, every: 3_000, tries: 1)
    // Stuffing: one account from many sources.
    for k in 0..<12 {
        attack(
            "192.0.2.\(100 + k)", users: ["deploy"], hosts: [hosts[k % 5]], at: start + 5_600_000 + Int64(k) * 7_000,
            every: 1, tries: 1)
    }
    // Success after failures for one account.
    attack("203.0.113.200", users: Array(repeating: "user5", count: 3), hosts: ["web2"], at: start + 6_000_000, every: 20_000, tries: 2)
    pid += 1
    line(start + 6_070_000, "web2", "sshd", pid, "Accepted password for user5 from 203.0.113.200 port 51234 ssh2")
    return lines.sorted { $0.0 < $1.0 }.map(\.1)
}

extension SeededRandom {
    /// Uniform in [0, bound) (a modulo's tiny bias is fine for test scenarios).
    public mutating func next(_ bound: UInt64) -> UInt64 { next() % bound }
}
