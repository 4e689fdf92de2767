import Testing

@testable import VigilDetection

/// Lines in the shapes real machines write them (written here by hand, after sshd's, PAM's,
/// sudo's and su's own messages, rsyslog's and journald's formats, and Winlogbeat's events).
// `event(_:)` and `reference` (2026-11-25T12:00:00Z) are ParserTests'.

private func header(_ message: String, pid: Int = 4211, program: String = "sshd") -> String {
    "Nov 25 09:15:02 web1 \(program)[\(pid)]: \(message)"
}

@Suite("sshd messages as sshd writes them")
struct SSHDMessageTests {
    @Test(
        "failed logins of every method, for real and invalid users",
        arguments: ["password", "publickey", "none", "keyboard-interactive/pam", "hostbased"])
    func failed(method: String) throws {
        let e = try event(header("Failed \(method) for root from 198.51.100.7 port 52314 ssh2"))
        #expect(e.kind == .authFailure && e.outcome == .failure && e.failureReport == .attempt)
        #expect(e.user == "root" && e.sourceIP == "198.51.100.7" && e.sourcePort == 52314 && e.authMethod == method)
        #expect(e.processID == 4211 && e.host == "web1" && e.service == "sshd")
        let invalid = try event(header("Failed \(method) for invalid user oracle from 2001:db8::17 port 40022 ssh2"))
        #expect(invalid.user == "oracle" && invalid.sourceIP == "2001:db8::17" && invalid.accountUnknown)
    }

    @Test("invalid users, with and without a port, and with an empty name")
    func invalidUser() throws {
        let e = try event(header("Invalid user ftpuser from 203.0.113.44 port 60122"))
        #expect(e.kind == .invalidUser && e.failureReport == .refusedAccount && e.accountUnknown)
        #expect(e.user == "ftpuser" && e.sourceIP == "203.0.113.44" && e.sourcePort == 60122)
        let noPort = try event(header("Invalid user admin from 203.0.113.44"))
        #expect(noPort.user == "admin" && noPort.sourceIP == "203.0.113.44" && noPort.sourcePort == nil)
        let empty = try event(header("Invalid user  from 203.0.113.44 port 51000"))
        #expect(empty.user == nil && empty.sourceIP == "203.0.113.44" && empty.failureReport == .refusedAccount)
        let twin = try event(header("input_userauth_request: invalid user ftpuser [preauth]"))
        #expect(twin.kind == .authInfo && twin.user == "ftpuser" && twin.failureReport == nil)
    }

    @Test(
        "sshd relaying PAM's verdict",
        arguments: [
            ("error: PAM: Authentication failure for root from 192.0.2.31", "root", false),
            ("error: PAM: authentication error for illegal user tester from 192.0.2.31", "tester", true),
            ("error: PAM: unknown user for illegal user guest from 192.0.2.31", "guest", true),
            (
                "error: PAM: User not known to the underlying authentication module for illegal user x1 from 192.0.2.31",
                "x1", true
            ),
        ])
    func pamError(line: String, user: String, unknown: Bool) throws {
        let e = try event(header(line))
        #expect(e.failureReport == .pamError && e.outcome == .failure)
        #expect(e.user == user && e.sourceIP == "192.0.2.31" && e.accountUnknown == unknown)
    }

    @Test("connections that used up their tries stand for several failures")
    func exhausted() throws {
        let e = try event(
            header(
                "error: maximum authentication attempts exceeded for invalid user pi from 192.0.2.50 port 5022 ssh2 [preauth]"
            ))
        #expect(e.failureReport == .triesExhausted && e.user == "pi" && e.sourceIP == "192.0.2.50" && e.accountUnknown)
        let short = try event(header("Disconnecting: Too many authentication failures for root [preauth]"))
        #expect(short.failureReport == .triesExhausted && short.user == "root" && short.sourceIP == nil)
        let long = try event(
            header(
                "Disconnecting authenticating user root 192.0.2.50 port 5022: Too many authentication failures [preauth]"
            ))
        #expect(long.failureReport == .triesExhausted && long.user == "root" && long.sourceIP == "192.0.2.50")
    }

    @Test("users refused by configuration, and root refused by older sshd")
    func refused() throws {
        for reason in ["not listed in AllowUsers", "listed in DenyUsers", "not in any group listed in AllowGroups"] {
            let e = try event(header("User backup from 198.51.100.8 not allowed because \(reason)"))
            #expect(e.failureReport == .refusedAccount && e.user == "backup" && e.sourceIP == "198.51.100.8")
        }
        let root = try event(header("ROOT LOGIN REFUSED FROM 198.51.100.9"))
        #expect(root.failureReport == .refusedAccount && root.user == "root" && root.sourceIP == "198.51.100.9")
    }

    @Test(
        "disconnects name the user and the peer, and count as nothing",
        arguments: [
            "Connection closed by authenticating user root 198.51.100.10 port 41234 [preauth]",
            "Disconnected from invalid user test 198.51.100.10 port 41234 [preauth]",
            "Connection reset by authenticating user root 198.51.100.10 port 41234 [preauth]",
            "Disconnected from user root 198.51.100.10 port 41234",
            "Connection closed by 198.51.100.10 port 41234 [preauth]",
            "Received disconnect from 198.51.100.10 port 41234:11: Bye Bye [preauth]",
        ])
    func disconnects(line: String) throws {
        let e = try event(header(line))
        #expect(e.kind == .disconnect && e.failureReport == nil)
        #expect(e.sourceIP == "198.51.100.10" && e.sourcePort == 41234)
        if line.contains("user ") { #expect(e.user != nil) }
    }

    @Test("a client giving up with 'Auth fail' is a failure, as fail2ban counts it")
    func authFailDisconnect() throws {
        let e = try event(
            header("Received disconnect from 198.51.100.11: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]"))
        #expect(e.failureReport == .attempt && e.sourceIP == "198.51.100.11")
    }

    @Test("successes, with key fingerprints; postponed attempts")
    func accepted() throws {
        for method in ["password", "publickey", "keyboard-interactive/pam"] {
            let e = try event(
                header("Accepted \(method) for deploy from 10.1.2.3 port 50022 ssh2: ED25519 SHA256:Ab12Cd34Ef56"))
            #expect(e.kind == .authSuccess && e.user == "deploy" && e.sourceIP == "10.1.2.3" && e.sourcePort == 50022)
        }
        let postponed = try event(
            header("Postponed keyboard-interactive for invalid user x from 10.1.2.4 port 1 ssh2 [preauth]"))
        #expect(postponed.kind == .authInfo && postponed.user == "x" && postponed.sourceIP == "10.1.2.4")
        #expect(postponed.failureReport == nil)
    }

    @Test(
        "scans and probes are reconnaissance, never login failures",
        arguments: [
            ("Did not receive identification string from 192.0.2.60 port 60001", "sshd:no-identification"),
            (
                "Bad protocol version identification 'GET / HTTP/1.1' from 192.0.2.60 port 60001",
                "sshd:bad-protocol-version"
            ),
            (
                "Unable to negotiate with 192.0.2.60 port 60001: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1",
                "sshd:unable-to-negotiate"
            ),
            ("refused connect from scanner.example.net (192.0.2.60)", "sshd:refused-connect"),
        ])
    func probes(line: String, template: String) throws {
        let e = try event(header(line))
        #expect(e.kind == .probe && e.template == template && e.failureReport == nil)
        #expect(e.sourceIP == "192.0.2.60")
        let breakIn = try event(
            header(
                "reverse mapping checking getaddrinfo for host.example.com [192.0.2.61] failed - POSSIBLE BREAK-IN ATTEMPT!"
            ))
        #expect(breakIn.kind == .breakInAttempt && breakIn.sourceIP == "192.0.2.61")
    }
}

@Suite("PAM in both tag styles")
struct PAMMessageTests {
    @Test(
        "authentication failures with an address, an IPv6 address or a host name; with and without a user",
        arguments: [
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=RHOST  user=root",
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=RHOST",
        ])
    func newStyle(template: String) throws {
        for rhost in ["198.51.100.20", "2001:db8::20", "dsl-20.example.net"] {
            let e = try event(header(template.replacingOccurrences(of: "RHOST", with: rhost)))
            #expect(e.failureReport == .pam && e.outcome == .failure && e.sourceIP == rhost)
            #expect(e.sourceIsAddress == !rhost.hasPrefix("dsl"))
            #expect(e.user == (template.hasSuffix("root") ? "root" : nil))
        }
    }

    @Test("the older sshd(pam_unix)[pid] tag: failures, their summary, unknown users, sessions")
    func oldStyle() throws {
        let failure = try event(
            header(
                "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 user=root",
                pid: 19939, program: "sshd(pam_unix)"))
        #expect(failure.service == "sshd" && failure.processID == 19939)
        #expect(failure.failureReport == .pam && failure.sourceIP == "218.188.2.4" && failure.user == "root")
        #expect(failure.template == "pam:auth-failure")
        let named = try event(
            header(
                "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=h24-71.example.net",
                program: "sshd(pam_unix)"))
        #expect(named.sourceIP == "h24-71.example.net" && named.user == nil)
        let more = try event(
            header(
                "2 more authentication failures; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root",
                program: "sshd(pam_unix)"))
        #expect(more.failureReport == .pam && more.repeatCount == 2 && more.template == "pam:more-auth-failures")
        let relayed = try event(
            header("PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root"))
        #expect(relayed.repeatCount == 5 && relayed.failureReport == .pam)
        let unknown = try event(header("check pass; user unknown", program: "sshd(pam_unix)"))
        #expect(unknown.accountUnknown && unknown.failureReport == nil)
        let opened = try event(header("session opened for user root by (uid=0)", program: "sshd(pam_unix)"))
        #expect(opened.kind == .sessionOpen && opened.user == "root")
        let closed = try event(header("pam_unix(sshd:session): session closed for user root"))
        #expect(closed.kind == .sessionClose && closed.user == "root")
    }
}

@Suite("sudo and su")
struct SudoSuTests {
    @Test("sudo commands, refusals and PAM failures")
    func sudo() throws {
        let command = try event(
            header(
                "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/systemctl restart nginx",
                program: "sudo"))
        #expect(
            command.kind == .sudo && command.outcome == .success && command.user == "alice"
                && command.targetUser == "root")
        #expect(command.command == "/bin/systemctl restart nginx")
        let wrong = try event(
            header(
                "alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
                program: "sudo"))
        #expect(wrong.kind == .sudo && wrong.outcome == .failure && wrong.repeatCount == 3)
        let notAllowed = try event(
            header("bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh", program: "sudo"))
        #expect(notAllowed.outcome == .failure && notAllowed.user == "bob")
        let pam = try event(
            header(
                "pam_unix(sudo:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=bob",
                program: "sudo"))
        #expect(pam.kind == .sudo && pam.outcome == .failure && pam.user == "bob" && pam.sourceIP == nil)
    }

    @Test("su in its forms")
    func su() throws {
        let failed = try event(header("FAILED su for root by carol", program: "su"))
        #expect(
            failed.kind == .su && failed.outcome == .failure && failed.user == "carol" && failed.targetUser == "root")
        let ok = try event(header("Successful su for root by carol", program: "su"))
        #expect(ok.kind == .su && ok.outcome == .success)
        let to = try event(header("(to root) carol on pts/2", program: "su"))
        #expect(to.kind == .su && to.targetUser == "root" && to.user == "carol")
        let pam = try event(
            header(
                "pam_unix(su:auth): authentication failure; logname=carol uid=1002 euid=0 tty=pts/2 ruser=carol rhost=  user=root",
                program: "su"))
        #expect(pam.kind == .su && pam.outcome == .failure && pam.user == "carol" && pam.targetUser == "root")
    }
}

@Suite("Syslog headers")
struct SyslogHeaderTests {
    let message = "sshd[77]: Failed password for root from 192.0.2.90 port 2222 ssh2"

    @Test("RFC 3164 with and without a year, with a priority")
    func bsd() throws {
        let noYear = try event("Nov 25 09:15:02 web1 \(message)")
        #expect(noYear.timestamp == UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 9, minute: 15, second: 2))
        let withYear = try event("Nov 25 2024 09:15:02 web1 \(message)")
        #expect(withYear.timestamp == UTC.milliseconds(year: 2024, month: 11, day: 25, hour: 9, minute: 15, second: 2))
        let priority = try event("<38>Nov 25 09:15:02 web1 \(message)")
        #expect(priority.timestamp == noYear.timestamp && priority.failureReport == .attempt && priority.host == "web1")
    }

    @Test("rsyslog's RFC 3339, and the space-separated high-precision form with its two spaces")
    func precise() throws {
        let rfc3339 = try event("2013-10-30T14:51:21.901728+01:00 web1 \(message)")
        #expect(
            rfc3339.timestamp
                == UTC.milliseconds(year: 2013, month: 10, day: 30, hour: 13, minute: 51, second: 21, millisecond: 901))
        #expect(rfc3339.user == "root" && rfc3339.processID == 77)
        let spaced = try event("2020-03-23 06:47:42.801612-0700  web1 \(message)")
        #expect(
            spaced.timestamp
                == UTC.milliseconds(year: 2020, month: 3, day: 23, hour: 13, minute: 47, second: 42, millisecond: 801))
        #expect(spaced.host == "web1" && spaced.failureReport == .attempt)
    }

    @Test("Solaris's message id after the tag")
    func solaris() throws {
        let e = try event(
            "Nov 25 09:15:02 sol10 sshd[1234]: [ID 800047 auth.info] Failed password for admin from 192.0.2.91 port 22 ssh2"
        )
        #expect(e.failureReport == .attempt && e.user == "admin" && e.sourceIP == "192.0.2.91" && e.processID == 1234)
    }

    @Test("RFC 5424 with its procid")
    func rfc5424() throws {
        let e = try event(
            "<38>1 2026-11-25T09:15:02.123Z web1 sshd 4242 - - Failed password for root from 192.0.2.92 port 22 ssh2")
        #expect(e.processID == 4242 && e.failureReport == .attempt && e.service == "sshd" && e.host == "web1")
    }

    @Test("systemd's journal as JSON (journalctl -o json)")
    func journald() throws {
        let e = try event(
            #"{"__REALTIME_TIMESTAMP":"1795634102123456","_HOSTNAME":"web2","SYSLOG_IDENTIFIER":"sshd","_PID":"3110","_COMM":"sshd","PRIORITY":"6","MESSAGE":"Failed password for invalid user hadoop from 192.0.2.93 port 40000 ssh2"}"#
        )
        #expect(e.timestamp == 1_795_634_102_123)
        #expect(e.host == "web2" && e.service == "sshd" && e.processID == 3110)
        #expect(e.failureReport == .attempt && e.user == "hadoop" && e.sourceIP == "192.0.2.93" && e.accountUnknown)
        let byComm = try event(
            #"{"__REALTIME_TIMESTAMP":"1795634102123456","_HOSTNAME":"web2","_COMM":"sshd","_PID":"3111","MESSAGE":"Invalid user hadoop from 192.0.2.93 port 40001"}"#
        )
        #expect(byComm.service == "sshd" && byComm.failureReport == .refusedAccount)
    }
}

@Suite("Windows logons as Winlogbeat ships them")
struct WindowsLogonTests {
    func winlog(_ code: Int, extra: String = "") -> String {
        #"{"@timestamp":"2026-11-25T10:00:00.000Z","event":{"code":"\#(code)","provider":"Microsoft-Windows-Security-Auditing"},"host":{"name":"DC01"},"winlog":{"channel":"Security","computer_name":"DC01.corp.example","event_id":\#(code),"event_data":{"TargetUserName":"administrator","TargetDomainName":"CORP","IpAddress":"203.0.113.70","IpPort":"51234","LogonType":"3","WorkstationName":"KALI"\#(extra)}}}"#
    }

    @Test("4625 is a failed logon attempt, 4624 a success, 4740 a lockout, 4672 and 4648 information")
    func codes() throws {
        let failed = try event(winlog(4625, extra: #","SubStatus":"0xC0000064""#))
        #expect(failed.kind == .authFailure && failed.failureReport == .attempt && failed.accountUnknown)
        #expect(failed.user == "administrator" && failed.sourceIP == "203.0.113.70" && failed.sourcePort == 51234)
        #expect(failed.template == "windows:4625:logon-failed type 3")
        let ok = try event(winlog(4624))
        #expect(ok.kind == .authSuccess && ok.isSuccessfulLogin)
        #expect(try event(winlog(4740)).kind == .lockout)
        #expect(try event(winlog(4672)).template == "windows:4672:special-privileges")
        #expect(try event(winlog(4648)).kind == .authInfo)
        let local = try event(winlog(4625).replacingOccurrences(of: "203.0.113.70", with: "-"))
        #expect(local.sourceIP == nil)
    }

    @Test("a 4625 storm from one address is brute force")
    func bruteForce() throws {
        var engine = DetectionEngine()
        var found: [Anomaly] = []
        for i in 0..<10 {
            var e = try event(winlog(4625).replacingOccurrences(of: "administrator", with: "user\(i)"))
            e.timestamp += Int64(i) * 5_000
            found += engine.process(e)
        }
        let high = try #require(found.of(.bruteForce).high.first)
        #expect(high.entity == Entity(.sourceIP, "203.0.113.70"))
        #expect(high.mitre?.techniqueID.hasPrefix("T1110") == true)
    }
}
