import Testing

@testable import VigilDetection

/// Lines in the order sshd and PAM write them, for one connection (pid) per attempt unless said
/// otherwise; parsed and fed to one engine.
struct AuthLog {
    var lines: [String] = []
    var second = 0

    mutating func add(_ message: String, pid: Int, program: String = "sshd", every seconds: Int = 2) {
        let time = UTC.format(
            UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 9, minute: 0, second: 0) + Int64(second) * 1000)
        lines.append("\(time) web1 \(program)[\(pid)]: \(message)")
        second += seconds
    }

    /// A password attempt on a real account, as PAM and sshd both report it.
    mutating func attempt(_ user: String, from source: String, pid: Int, rhost: String? = nil) {
        add(
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=\(rhost ?? source)  user=\(user)",
            pid: pid, every: 1)
        add("Failed password for \(user) from \(source) port \(40000 + pid % 20000) ssh2", pid: pid)
    }

    /// An attempt on an account that does not exist: sshd says so twice, PAM once.
    mutating func invalid(_ user: String, from source: String, pid: Int) {
        add("Invalid user \(user) from \(source) port \(40000 + pid % 20000)", pid: pid, every: 0)
        add("input_userauth_request: invalid user \(user) [preauth]", pid: pid, every: 0)
        add("pam_unix(sshd:auth): check pass; user unknown", pid: pid, every: 0)
        add(
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=\(source)",
            pid: pid, every: 1)
        add("Failed password for invalid user \(user) from \(source) port \(40000 + pid % 20000) ssh2", pid: pid)
    }

    /// A connection that names its source only in its opening line, then uses up its tries.
    mutating func triesExhausted(from source: String, pid: Int) {
        add("Connection from \(source) port \(50000 + pid % 10000) on 10.0.0.1 port 22", pid: pid, every: 0)
        add("Disconnecting: Too many authentication failures for root [preauth]", pid: pid)
    }

    func run(_ config: DetectionConfig = .default) -> (anomalies: [Anomaly], engine: DetectionEngine) {
        var engine = DetectionEngine(config: config)
        var text = lines.joined(separator: "\n")
        let parsed = text.withUTF8 {
            LogParser.parse(
                $0,
                options: ParseOptions(
                    referenceTime: UTC.milliseconds(year: 2026, month: 11, day: 26, hour: 0, minute: 0, second: 0)))
        }
        precondition(parsed.errors.isEmpty, "\(parsed.errors)")
        return (parsed.events.flatMap { engine.process($0) }, engine)
    }
}

private func evidence(_ anomaly: Anomaly) -> [String: EvidenceValue] {
    Dictionary(uniqueKeysWithValues: anomaly.evidence)
}

@Suite("Counting failed attempts as Wazuh and fail2ban see them")
struct AttemptCountingTests {
    @Test("one source trying a few accounts each is brute force (Wazuh 5712/5720): 8 failures in 120 s, any accounts")
    func perSource() throws {
        var log = AuthLog()
        for (i, user) in ["admin", "support", "user", "oracle"].enumerated() {
            log.invalid(user, from: "103.99.0.122", pid: 100 + i)
        }
        let found = log.run().anomalies.of(.bruteForce).high
        let alert = try #require(found.first)
        #expect(found.count == 1)
        #expect(alert.entity == Entity(.sourceIP, "103.99.0.122"))
        #expect(alert.mitre?.techniqueID == "T1110")
        // Four connections, each logging "Invalid user" and "Failed password": eight sshd lines.
        #expect(evidence(alert)["failures"] == .int(8))
        #expect(evidence(alert)["accounts"] == .strings(["admin", "support", "user", "oracle"]))
        #expect(evidence(alert)["rule"] == .string("source"))
        #expect(
            alert.summary
                == "8 failed logins from 103.99.0.122 against 4 accounts admin, support, user, oracle within 120 s (threshold 8)"
        )
    }

    @Test("PAM's report of an attempt and sshd's are one attempt, not two")
    func twins() throws {
        var seven = AuthLog()
        for i in 0..<7 { seven.attempt("deploy", from: "198.51.100.30", pid: 200 + i) }
        #expect(seven.run().anomalies.of(.bruteForce).high.isEmpty)  // 14 lines, 7 attempts
        var eight = AuthLog()
        for i in 0..<8 { eight.attempt("deploy", from: "198.51.100.30", pid: 200 + i) }
        let alert = try #require(eight.run().anomalies.of(.bruteForce).high.first)
        #expect(evidence(alert)["failures"] == .int(8))
        #expect(alert.entity == Entity(.sourceIPUser, "deploy@198.51.100.30"))
    }

    @Test("older systems log only PAM: its failures and 'N more' count, under the rhost as written")
    func pamOnly() throws {
        var log = AuthLog()
        for i in 0..<3 {
            log.add("check pass; user unknown", pid: 19_900 + i, program: "sshd(pam_unix)", every: 0)
            log.add(
                "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=c-67-166.hsd1.example.net",
                pid: 19_900 + i, program: "sshd(pam_unix)", every: 3)
            log.add(
                "2 more authentication failures; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=c-67-166.hsd1.example.net",
                pid: 19_900 + i, program: "sshd(pam_unix)", every: 3)
        }
        let alert = try #require(log.run().anomalies.of(.bruteForce).high.first)
        #expect(alert.entity == Entity(.sourceIP, "c-67-166.hsd1.example.net"))
        #expect(evidence(alert)["failures"] == .int(9))  // 3 connections × (1 + 2 more)
        #expect(evidence(alert)["source_form"] == .string("hostname"))
    }

    @Test("a host name PAM logs is tied to the address sshd logs for the same connection")
    func aliases() throws {
        var log = AuthLog()
        for i in 0..<8 {
            log.attempt("root", from: "52.80.34.196", pid: 300 + i, rhost: "ec2-52-80-34-196.compute.example.com")
        }
        let (anomalies, _) = log.run()
        let alert = try #require(anomalies.of(.bruteForce).high.first)
        #expect(alert.sourceIP == "52.80.34.196")
        #expect(evidence(alert)["failures"] == .int(8))
        #expect(evidence(alert)["source_form"] == .string("address"))
        #expect(!anomalies.contains { $0.sourceIP?.hasPrefix("ec2-") == true && $0.detector == .bruteForce })
    }

    @Test("a line without its source counts under its connection's; used-up tries stand for MaxAuthTries")
    func connectionSource() throws {
        var log = AuthLog()
        for i in 0..<2 { log.triesExhausted(from: "192.0.2.40", pid: 400 + i) }
        let alert = try #require(log.run().anomalies.of(.bruteForce).high.first)
        // Two connections that each used up MaxAuthTries (6): twelve failures, for root.
        #expect(alert.entity == Entity(.sourceIPUser, "root@192.0.2.40"))
        #expect(evidence(alert)["failures"] == .int(12))
    }

    @Test("processing an event in place finds what processing a copy finds, and leaves it as detection saw it")
    func inPlace() throws {
        var log = AuthLog()
        for i in 0..<2 { log.triesExhausted(from: "192.0.2.40", pid: 400 + i) }
        for i in 0..<10 { log.attempt("user\(i)", from: "198.51.100.7", pid: 500 + i) }
        var text = log.lines.joined(separator: "\n")
        var parsed = text.withUTF8 {
            LogParser.parse(
                $0,
                options: ParseOptions(
                    referenceTime: UTC.milliseconds(year: 2026, month: 11, day: 26, hour: 0, minute: 0, second: 0)))
        }
        try #require(parsed.errors.isEmpty && parsed.events.count == 24)
        var byValue = DetectionEngine()
        let copies = parsed.events.flatMap { byValue.process($0) }
        var inPlace = DetectionEngine()
        var found: [Anomaly] = []
        for i in parsed.events.indices { found += inPlace.process(&parsed.events[i]) }
        #expect(found == copies)
        #expect(found.contains { $0.detector == .bruteForce })
        #expect(inPlace.snapshot() == byValue.snapshot())
        // The used-up tries name no source; their connection's opening line did.
        let disconnect = try #require(parsed.events.first { $0.failureReport == .triesExhausted })
        #expect(disconnect.sourceIP == "192.0.2.40")
        // An event outside the supported time range is clamped where it lies.
        var ancient = LogEvent(timestamp: .min, kind: .authFailure, outcome: .failure, user: "root")
        _ = inPlace.process(&ancient)
        #expect(ancient.timestamp == UTC.supportedRange.lowerBound)
    }

    @Test("slower guessing — fail2ban's 5 failures in 10 minutes — is brute force at medium severity; 4 is not")
    func slowTier() throws {
        var five = AuthLog()
        for i in 0..<5 {
            five.attempt("www", from: "103.207.39.212", pid: 500 + i)
            five.second += 60
        }
        let alert = try #require(five.run().anomalies.of(.bruteForce).first)
        #expect(alert.severity == .medium)
        #expect(evidence(alert)["rule"] == .string("source_slow"))
        #expect(evidence(alert)["window_seconds"] == .int(600))
        var four = AuthLog()
        for i in 0..<4 {
            four.attempt("www", from: "103.207.39.212", pid: 500 + i)
            four.second += 60
        }
        #expect(four.run().anomalies.of(.bruteForce).isEmpty)
        var off = DetectionConfig()
        off.bruteForce.slowFailures = 0
        #expect(five.run(off).anomalies.of(.bruteForce).isEmpty)
    }

    @Test("benign lines repeated many times never make brute force")
    func benign() {
        var log = AuthLog()
        for i in 0..<100 {
            let pid = 600 + i
            log.add(
                "Accepted publickey for deploy from 10.9.9.9 port \(30000 + i) ssh2: ED25519 SHA256:abc", pid: pid,
                every: 0)
            log.add("pam_unix(sshd:session): session opened for user deploy by (uid=0)", pid: pid, every: 0)
            log.add("Received disconnect from 10.9.9.9 port \(30000 + i):11: disconnected by user", pid: pid, every: 0)
            log.add("Disconnected from user deploy 10.9.9.9 port \(30000 + i)", pid: pid, every: 0)
            log.add("Connection closed by 10.9.9.9 port \(30000 + i) [preauth]", pid: pid, every: 0)
            log.add("Did not receive identification string from 10.9.9.9 port \(30000 + i)", pid: pid, every: 0)
            log.add("error: Could not load host key: /etc/ssh/ssh_host_dsa_key", pid: pid, every: 0)
            log.add("pam_unix(sshd:session): session closed for user deploy", pid: pid, every: 1)
        }
        let anomalies = log.run().anomalies
        #expect(!anomalies.contains { $0.detector == .bruteForce || $0.mitre?.techniqueID.hasPrefix("T1110") == true })
    }
}

@Suite("Rare kinds of message, quietly")
struct QuietRareEventTests {
    /// 1,200 lines of routine activity so the template statistics have a history.
    func warmed() -> AuthLog {
        var log = AuthLog()
        for i in 0..<1_200 {
            log.add(
                "pam_unix(cron:session): session opened for user root by (uid=0)", pid: 10_000 + i, program: "CRON",
                every: 1)
        }
        return log
    }

    @Test("addresses, host names, user names and key=value values are masked: one kind of message")
    func masking() {
        #expect(
            Templates.mask("connection from 192.0.2.7 (scanner.example.net) at port 22")
                == "connection from <IP> (<HOST>) at port <NUM>")
        #expect(
            Templates.mask("connection from 198.51.100.9 (dsl-9.isp.example.org) at port 2222")
                == "connection from <IP> (<HOST>) at port <NUM>")
        #expect(Templates.mask("Started Session 4412 of user alice.") == "Started Session <NUM> of user <USER>.")
        #expect(
            Templates.mask("auth could not identify password for [bob]; rhost=mail.example.com user=bob uid=1001")
                == "auth could not identify password for [bob]; rhost=<HOST> user=<USER> uid=<NUM>")
        #expect(
            Templates.mask("No more user authentication methods available.")
                == "No more user authentication methods available.")
    }

    @Test("a new kind is reported once, then counted while it recurs; after a quiet week it is news again")
    func reportedOnce() throws {
        var log = warmed()
        for i in 0..<40 {
            log.add(
                "connection from 203.0.113.\(i) (host\(i).attacker.example) at Sat Nov 25", pid: 20_000 + i,
                program: "ftpd", every: 30)
        }
        // Rare: under 5% of what the engine saw (so that, a week later, it is still rare).
        var config = DetectionConfig()
        config.rareEvent.maxShare = 0.05
        var (anomalies, engine) = log.run(config)
        let rare = anomalies.of(.rareEvent)
        #expect(rare.count == 1, "\(rare.map(\.summary))")
        #expect(rare.first?.event.message?.contains("203.0.113.0") == true)  // the original line is kept
        #expect(engine.statistics.suppressed >= 39)
        // Eight days later the same kind of message is news again.
        let later = UTC.milliseconds(year: 2026, month: 12, day: 4, hour: 9, minute: 0, second: 0)
        var again = LogEvent(
            timestamp: later, kind: .unknown, message: "connection from 203.0.113.99", template: rare[0].event.template)
        again.fingerprint = 1
        #expect(engine.process(again).of(.rareEvent).count == 1)
    }

    @Test("a day of real-shaped auth logs from many hosts gives a handful of rare events, not one per host")
    func quiet() {
        var log = warmed()
        for i in 0..<300 {
            let host = "\(i % 200)-\(i % 7).dyn.example.net"
            log.add(
                "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=\(host)", pid: 30_000 + i,
                program: "sshd(pam_unix)", every: 0)
            log.add(
                "connection from 198.51.\(i % 200).\(i % 250) (\(host)) at Sat Nov 25 09:\(i % 60):00 2026",
                pid: 31_000 + i, program: "ftpd", every: 20)
        }
        let rare = log.run().anomalies.of(.rareEvent)
        #expect(rare.count <= 3, "\(rare.map(\.summary))")
    }
}
