import Foundation
import Testing

@testable import VigilDetection

/// Reference time for RFC 3164 year inference in these tests: 2026-11-25T12:00:00Z.
let reference = UTC.milliseconds(year: 2026, month: 11, day: 25, hour: 12, minute: 0, second: 0)

func parse(_ text: String, fallback: Int64? = nil) -> ParsedInput {
    var text = text
    return text.withUTF8 {
        LogParser.parse($0, options: ParseOptions(referenceTime: reference, fallbackTime: fallback))
    }
}

func event(_ line: String) throws -> LogEvent {
    let result = parse(line)
    try #require(result.errors.isEmpty, "\(result.errors)")
    return try #require(result.events.first)
}

@Suite("Timestamps")
struct TimeTests {
    @Test(
        "RFC 3339 with and without fraction and zone",
        arguments: [
            ("2026-11-25T12:00:00Z", 0), ("2026-11-25T12:00:00", 0), ("2026-11-25 12:00:00", 0),
            ("2026-11-25T12:00:00.5Z", 500), ("2026-11-25T12:00:00.123456Z", 123),
            ("2026-11-25T13:00:00+01:00", 0), ("2026-11-25T07:30:00-04:30", 0), ("2026-11-25T12:00:00+0000", 0),
        ])
    func rfc3339(text: String, extraMs: Int64) {
        #expect(UTC.parse(text) == reference + extraMs)
    }

    @Test(
        "invalid dates are rejected",
        arguments: [
            "2026-02-30T00:00:00Z", "2026-13-01", "2026-11-25T24:00:00Z", "2026-11-25T12:00:00Zjunk", "yesterday", "",
        ])
    func invalid(text: String) { #expect(UTC.parse(text) == nil) }

    @Test("format round-trips and civil conversion is exact across centuries")
    func roundTrip() {
        #expect(UTC.format(reference + 7) == "2026-11-25T12:00:00.007Z")
        for days in stride(from: -800_000, to: 800_000, by: 997) {
            let (y, m, d) = UTC.civil(days: days)
            #expect(UTC.days(year: y, month: m, day: d) == days)
        }
        #expect(UTC.hour(reference) == 12)
        #expect(UTC.weekday(reference) == 2)  // a Wednesday
    }

    @Test("epoch seconds and milliseconds")
    func epoch() {
        #expect(UTC.fromEpoch(1_795_608_000) == 1_795_608_000_000)
        #expect(UTC.fromEpoch(1_795_608_000_123) == 1_795_608_000_123)
        #expect(UTC.fromEpoch(-1) == nil)
    }

    @Test("syslog year inference: the reference year unless that is more than a week ahead")
    func yearInference() {
        #expect(SyslogParser.inferYear(month: 11, day: 25, referenceTime: reference) == 2026)
        #expect(SyslogParser.inferYear(month: 12, day: 1, referenceTime: reference) == 2026)
        #expect(SyslogParser.inferYear(month: 12, day: 10, referenceTime: reference) == 2025)
        let january = UTC.milliseconds(year: 2027, month: 1, day: 2, hour: 0, minute: 0, second: 0)
        #expect(SyslogParser.inferYear(month: 12, day: 31, referenceTime: january) == 2026)
        #expect(SyslogParser.inferYear(month: 2, day: 29, referenceTime: reference) == 2026)  // clamps, no crash
    }

    @Test("a year-less date past the latest accepted time is last year's, never refused as future")
    func yearInferenceAgreesWithTheFutureBound() {
        // Found on a real sshd log dated "Dec 10" (no year), read on 7 December: the week's
        // window put it in the current year, three days ahead, and the one-day future bound
        // then refused every line.
        let now = UTC.milliseconds(year: 2026, month: 12, day: 7, hour: 6, minute: 0, second: 0)
        var text = """
            Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2
            Dec  8 01:00:00 LabSZ sshd[24201]: Failed password for root from 203.0.113.9 port 22 ssh2
            Dec  7 05:59:00 LabSZ sshd[24202]: Accepted password for alice from 192.0.2.10 port 50022 ssh2
            """
        let parsed = text.withUTF8 {
            LogParser.parse($0, options: ParseOptions(referenceTime: now, latestTime: now + 86_400_000))
        }
        #expect(parsed.errors.isEmpty, "\(parsed.errors)")
        #expect(parsed.futureEvents == 0)
        #expect(
            parsed.events.map { UTC.format($0.timestamp) } == [
                "2025-12-10T06:55:46.000Z",  // past the bound: last year
                "2026-12-08T01:00:00.000Z",  // inside the one-day skew: this year, as before
                "2026-12-07T05:59:00.000Z",
            ])
        // Without a bound the week's window alone decides, as before.
        let unbounded = text.withUTF8 { LogParser.parse($0, options: ParseOptions(referenceTime: now)) }
        #expect(unbounded.events.first.map { UTC.format($0.timestamp) } == "2026-12-10T06:55:46.000Z")
        // A line with its year is taken as written, and refused when it is in the future.
        var dated = "Dec 10 2026 06:55:46 LabSZ sshd[24200]: Failed password for root from 203.0.113.9 port 22 ssh2"
        let refused = dated.withUTF8 {
            LogParser.parse($0, options: ParseOptions(referenceTime: now, latestTime: now + 86_400_000))
        }
        #expect(refused.futureEvents == 1)
    }
}

@Suite("sshd, PAM, sudo and su lines")
struct SyslogTests {
    @Test("failed password")
    func failedPassword() throws {
        let e = try event("Nov 25 11:59:58 web1 sshd[24200]: Failed password for root from 203.0.113.9 port 52410 ssh2")
        #expect(e.kind == .authFailure)
        #expect(e.outcome == .failure)
        #expect(e.isFailedAttempt)
        #expect(e.user == "root")
        #expect(e.sourceIP == "203.0.113.9")
        #expect(e.sourcePort == 52410)
        #expect(e.host == "web1")
        #expect(e.service == "sshd")
        #expect(e.authMethod == "password")
        #expect(e.timestamp == reference - 2000)
        #expect(e.template == "sshd:failed")
    }

    @Test("failed password for an invalid user counts as an attempt on an unknown account")
    func failedInvalid() throws {
        let e = try event(
            "Nov 25 11:59:58 web1 sshd[1]: Failed password for invalid user oracle from 198.51.100.7 port 4000 ssh2")
        #expect(e.kind == .authFailure)
        #expect(e.isFailedAttempt)
        #expect(e.accountUnknown)
        #expect(e.user == "oracle")
    }

    @Test("invalid user line is enumeration evidence, not an attempt")
    func invalidUser() throws {
        let e = try event("Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186")
        #expect(e.kind == .invalidUser)
        #expect(!e.isAttempt)
        #expect(e.accountUnknown)
        #expect(e.user == "webmaster")
        #expect(e.sourceIP == "173.234.31.186")
        #expect(UTC.format(e.timestamp) == "2025-12-10T06:55:46.000Z")  // a week ahead of the reference → last year
    }

    @Test("accepted publickey")
    func accepted() throws {
        let e = try event(
            "Nov 25 09:00:00 bastion sshd[7]: Accepted publickey for alice from 192.0.2.10 port 50000 ssh2: RSA SHA256:abc"
        )
        #expect(e.kind == .authSuccess)
        #expect(e.isSuccessfulLogin)
        #expect(e.user == "alice")
        #expect(e.sourceIP == "192.0.2.10")
        #expect(e.authMethod == "publickey")
    }

    @Test("PAM authentication failure is recognised but not counted as a second attempt")
    func pamFailure() throws {
        let e = try event(
            "Nov 25 09:00:00 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root"
        )
        #expect(e.kind == .authInfo)
        #expect(!e.isAttempt)
        #expect(e.user == "root")
        #expect(e.sourceIP == "203.0.113.9")
    }

    @Test(
        "break-in attempt, disconnect, sessions",
        arguments: [
            (
                "sshd[1]: reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
                EventKind.breakInAttempt, "173.234.31.186" as String?, nil as String?
            ),
            ("sshd[1]: Received disconnect from 103.99.0.122: 11: Bye Bye [preauth]", .disconnect, "103.99.0.122", nil),
            (
                "sshd[1]: Received disconnect from 103.99.0.122 port 4000:11: Bye Bye [preauth]", .disconnect,
                "103.99.0.122", nil
            ),
            (
                "sshd[1]: Connection closed by authenticating user root 10.0.0.5 port 33 [preauth]", .disconnect,
                "10.0.0.5", "root"
            ),
            (
                "sshd[1]: Disconnected from invalid user admin 10.0.0.5 port 33 [preauth]", .disconnect, "10.0.0.5",
                "admin"
            ),
            ("sshd[1]: pam_unix(sshd:session): session opened for user alice by (uid=0)", .sessionOpen, nil, "alice"),
            ("sshd[1]: pam_unix(sshd:session): session closed for user alice", .sessionClose, nil, "alice"),
            ("sshd[1]: input_userauth_request: invalid user test [preauth]", .authInfo, nil, "test"),
        ])
    func kinds(message: String, kind: EventKind, ip: String?, user: String?) throws {
        let e = try event("Nov 25 09:00:00 h \(message)")
        #expect(e.kind == kind)
        #expect(e.sourceIP == ip)
        #expect(e.user == user)
    }

    @Test("message repeated N times counts N")
    func repeated() throws {
        let e = try event(
            "Nov 25 09:00:00 h sshd[1]: message repeated 5 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]"
        )
        #expect(e.kind == .authFailure)
        #expect(e.repeatCount == 5)
        #expect(e.sourceIP == "1.2.3.4")
    }

    @Test("sudo command and refusal")
    func sudo() throws {
        let ok = try event(
            "Nov 25 09:00:00 h sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash -i")
        #expect(ok.kind == .sudo)
        #expect(ok.outcome == .success)
        #expect(ok.user == "alice")
        #expect(ok.targetUser == "root")
        #expect(ok.command == "/bin/bash -i")
        let denied = try event(
            "Nov 25 09:00:00 h sudo:    bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh"
        )
        #expect(denied.kind == .sudo)
        #expect(denied.outcome == .failure)
        #expect(denied.repeatCount == 3)
    }

    @Test(
        "su in its several forms",
        arguments: [
            ("su[5]: (to root) alice on pts/0", Outcome.success),
            ("su[5]: FAILED SU (to root) alice on pts/0", .failure),
            ("su[5]: Successful su for root by alice", .success),
            ("su[5]: FAILED su for root by alice", .failure),
            ("su[5]: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000)", .success),
        ])
    func su(message: String, outcome: Outcome) throws {
        let e = try event("Nov 25 09:00:00 h \(message)")
        #expect(e.kind == .su)
        #expect(e.outcome == outcome)
        #expect(e.user == "alice")
        #expect(e.targetUser == "root")
    }

    @Test("RFC 5424 and ISO-timestamped lines")
    func modernFormats() throws {
        let a = try event(
            "<38>1 2026-11-25T10:00:00.250Z web2 sshd 999 - - Failed password for bob from 192.0.2.1 port 1 ssh2")
        #expect(a.kind == .authFailure)
        #expect(a.host == "web2")
        #expect(a.timestamp == reference - 2 * 3_600_000 + 250)
        let b = try event(
            "<38>1 2026-11-25T10:00:00Z web2 sshd 999 ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application]\"] Accepted password for bob from 192.0.2.1 port 1 ssh2"
        )
        #expect(b.kind == .authSuccess)
        let c = try event("2026-11-25T10:00:00+00:00 web3 sshd[42]: Invalid user x from 192.0.2.2")
        #expect(c.kind == .invalidUser)
        #expect(c.host == "web3")
        let d = try event("<86>Nov 25 10:00:00 web4 sshd[1]: Accepted password for bob from 192.0.2.1 port 1 ssh2")
        #expect(d.kind == .authSuccess)
        #expect(d.host == "web4")
    }

    @Test("unknown lines are events with a masked template")
    func unknown() throws {
        let e = try event(
            "Nov 25 09:00:00 h kernel: [12345.678] eth0: link up at 1000 Mbps, mac 00:1a:2b:3c:4d:5e from /sys/class/net/eth0"
        )
        #expect(e.kind == .unknown)
        #expect(e.message?.hasPrefix("[12345.678] eth0") == true)
        #expect(e.template == "kernel: [<NUM>] eth#: link up at <NUM> Mbps, mac <IP> from <PATH>")
        let other = try event(
            "Nov 25 09:00:01 h kernel: [99.1] eth1: link up at 100 Mbps, mac 00:aa:bb:cc:dd:ee from /sys/x")
        #expect(other.template == e.template)
    }
}

@Suite("JSON events")
struct JSONEventTests {
    @Test("the API shape")
    func apiShape() throws {
        let e = try event(
            #"{"timestamp":"2026-11-25T12:00:00Z","user":"alice","source_ip":"192.0.2.1","event_type":"login","action":"failure","message":"bad password","host":"app1","service":"web","dest_ip":"10.0.0.1","country":"DE","user_agent":"curl/8","session_id":"s1"}"#
        )
        #expect(e.kind == .authFailure)
        #expect(e.isFailedAttempt)
        #expect(e.user == "alice")
        #expect(e.sourceIP == "192.0.2.1")
        #expect(e.host == "app1")
        #expect(e.service == "web")
        #expect(e.destinationIP == "10.0.0.1")
        #expect(e.country == "DE")
        #expect(e.userAgent == "curl/8")
        #expect(e.sessionID == "s1")
        #expect(e.timestamp == reference)
    }

    @Test(
        "an outcome only in the event type's words counts: login_failed, failed_login, authentication_failure, login_success",
        arguments: [
            ("login_failed", EventKind.authFailure), ("failed_login", .authFailure),
            ("authentication_failure", .authFailure), ("login_success", .authSuccess),
            ("user_login", .authInfo),
        ])
    func outcomeInEventType(_ type: String, _ kind: EventKind) throws {
        let e = try event(
            #"{"timestamp":"2026-11-25T12:00:00Z","user":"root","source_ip":"192.0.2.9","event_type":"\#(type)"}"#)
        #expect(e.kind == kind, "\(type)")
        #expect(e.isFailedAttempt == (kind == .authFailure), "\(type)")
    }

    @Test("ECS nested fields and GeoJSON location")
    func ecs() throws {
        let e = try event(
            #"{"@timestamp":"2026-11-25T12:00:00.000Z","user":{"name":"bob"},"source":{"ip":"198.51.100.4","geo":{"country_iso_code":"BR","location":[-46.6,-23.5]}},"event":{"action":"user_login","outcome":"success","category":"authentication"},"host":{"name":"idp"}}"#
        )
        #expect(e.kind == .authSuccess)
        #expect(e.user == "bob")
        #expect(e.sourceIP == "198.51.100.4")
        #expect(e.country == "BR")
        #expect(e.latitude == -23.5)
        #expect(e.longitude == -46.6)
        #expect(e.host == "idp")
    }

    @Test(
        "aliases and epoch times",
        arguments: [
            #"{"ts":1795608000,"username":"c","src_ip":"192.0.2.3","status":"failed","type":"auth"}"#,
            #"{"time":1795608000000,"user":"c","ip":"192.0.2.3","result":"denied","event_type":"authentication"}"#,
            #"{"timestamp":"1795608000","user":"c","ip":"192.0.2.3","success":false,"event_type":"login"}"#,
        ])
    func aliases(json: String) throws {
        let e = try event(json)
        #expect(e.timestamp == reference)
        #expect(e.user == "c")
        #expect(e.sourceIP == "192.0.2.3")
        #expect(e.kind == .authFailure)
    }

    @Test("an sshd message carried in JSON is read as sshd")
    func messageInJSON() throws {
        let e = try event(
            #"{"@timestamp":"2026-11-25T12:00:00Z","message":"Invalid user admin from 203.0.113.50 port 22"}"#)
        #expect(e.kind == .invalidUser)
        #expect(e.user == "admin")
        #expect(e.sourceIP == "203.0.113.50")
    }

    @Test("escapes and unicode survive")
    func escapes() throws {
        let e = try event(
            #"{"timestamp":"2026-11-25T12:00:00Z","user":"j\u00fcrgen\t\"x\"","event_type":"login","outcome":"success","message":"caf\u00e9 \ud83d\ude00"}"#
        )
        #expect(e.user == "jürgen\t\"x\"")
        #expect(e.message == "café 😀")
    }

    @Test(
        "bad records give errors naming the record, field and reason",
        arguments: [
            (#"{"user":"a","event_type":"login"}"#, "no timestamp"),
            (#"{"timestamp":"soon","user":"a"}"#, #"field "timestamp""#),
            (#"{"timestamp":true}"#, "expected a date-time"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","lat":200}"#, "latitude"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","user":"a",}"#, "invalid JSON"),
            (#"{"timestamp":"2026-11-25T12:00:00Z" "user":"a"}"#, "expected ',' or '}'"),
            (#"{"timestamp":"2026-11-25T12:00:00Z","user":"\ud800"}"#, "surrogate"),
        ])
    func errors(json: String, reason: String) {
        let result = parse(json)
        #expect(result.events.isEmpty)
        #expect(result.errors.count == 1)
        #expect(result.errors.first?.reason.contains(reason) == true, "\(result.errors)")
        #expect(result.errors.first?.line == 1)
    }
}

@Suite("Over-long fields")
struct FieldLimitTests {
    @Test("megabyte-long user names and messages are cut at a character boundary; anomalies stay small")
    func limits() throws {
        let hugeUser = String(repeating: "é", count: 300_000)  // 2 bytes each: a cut could split one
        let hugeMessage = String(repeating: "stack frame at 0x1234 ", count: 50_000)
        var engine = DetectionEngine()
        var anomalies: [Anomaly] = []
        for i in 0..<12 {
            let line =
                #"{"timestamp":"2026-11-25T12:00:\#(String(format: "%02d", i))Z","user":"\#(hugeUser)","source_ip":"192.0.2.9","event_type":"login","action":"failure","message":"\#(hugeMessage)"}"#
            let e = try event(line)
            let user = try #require(e.user)
            #expect(user.utf8.count <= LogEvent.maxFieldBytes + "…".utf8.count)
            #expect(user.hasSuffix("…") && user.dropLast().allSatisfy { $0 == "é" })
            #expect((e.message?.utf8.count ?? 0) <= LogEvent.maxTextBytes + "…".utf8.count)
            anomalies += engine.process(e)
        }
        #expect(!anomalies.isEmpty)
        for anomaly in anomalies {
            #expect(AnomalyJSON.encode(anomaly).count < 64 * 1024)
        }
        // Syslog lines too, and the cut is deterministic (same input, same event).
        let line =
            "Nov 25 12:00:00 host sshd[1]: Failed password for invalid user \(String(repeating: "x", count: 100_000)) from 192.0.2.9 port 22 ssh2"
        let first = try event(line)
        let second = try event(line)
        #expect(first == second)
        #expect((first.user?.utf8.count ?? 0) <= LogEvent.maxFieldBytes + 3)
        #expect((first.message?.utf8.count ?? 0) <= LogEvent.maxTextBytes + 3)
        #expect(first.kind == .authFailure)
        // Short values are untouched.
        #expect(try event(#"{"timestamp":"2026-11-25T12:00:00Z","user":"alice","message":"ok"}"#).user == "alice")
    }
}

@Suite("Input containers")
struct ContainerTests {
    @Test("one object, an array, NDJSON and plain lines")
    func containers() {
        let one = parse(
            "{\n  \"timestamp\": \"2026-11-25T12:00:00Z\",\n  \"user\": \"a\",\n  \"event_type\": \"login\",\n  \"outcome\": \"success\"\n}\n"
        )
        #expect(one.events.count == 1 && one.errors.isEmpty)
        let array = parse(
            #"[{"timestamp":"2026-11-25T12:00:00Z","user":"a"}, 42, {"timestamp":"nope"}, {"timestamp":"2026-11-25T12:00:01Z","user":"b"}]"#
        )
        #expect(array.events.map(\.user) == ["a", "b"])
        #expect(array.errors.map(\.index) == [1, 2])
        #expect(array.records == 4)
        let ndjson = parse(
            "{\"timestamp\":\"2026-11-25T12:00:00Z\"}\n\n{\"timestamp\":\"bad\"}\n{\"timestamp\":\"2026-11-25T12:00:02Z\"}\n"
        )
        #expect(ndjson.events.count == 2)
        #expect(ndjson.errors.map(\.line) == [3])
        let mixed = parse(
            "Nov 25 09:00:00 h sshd[1]: Accepted password for a from 1.2.3.4 port 1 ssh2\n{\"timestamp\":\"2026-11-25T12:00:00Z\",\"user\":\"b\"}\n    at com.example.Foo(Foo.java:12)\n"
        )
        #expect(mixed.events.count == 3)
        #expect(mixed.events[2].timestamp == mixed.events[1].timestamp)  // continuation dated by the line before
    }

    @Test(
        "a Kafka record value reads as the same input read whole, however its JSON is laid out",
        arguments: [
            #"{"timestamp":"2026-11-25T12:00:00Z","user":"a","outcome":"FAILED","event_type":"login"}"#,
            "{\n  \"timestamp\": \"2026-11-25T12:00:00Z\",\n  \"user\": \"a\",\n  \"outcome\": \"success\"\n}\n",
            "{\"timestamp\":\"2026-11-25T12:00:00Z\",\"user\":\"a\"}\n{\"timestamp\":\"2026-11-25T12:00:01Z\",\"user\":\"b\"}",
            "{\"timestamp\":\"bad\"}\n{\"timestamp\":\"2026-11-25T12:00:01Z\",\"user\":\"b\"}\n",
            "{\"timestamp\":\"2026-11-25T12:00:00Z\",\n\"user\":}\n",
            #"{"timestamp":"2026-11-25T12:00:00Z","user":"a"} {"timestamp":"2026-11-25T12:00:01Z"}"#,
            "  {\"timestamp\":\"2026-11-25T12:00:00Z\",\"user\":\"a\"}  \r\n",
            "\n{\"timestamp\":\"2026-11-25T12:00:00Z\",\"user\":\"a\"}",
        ])
    func recordLayouts(_ text: String) {
        // A record is decoded at once as one object on one line; one whose JSON turns out to
        // span lines goes to the record splitter, as a whole input does. Either way the same.
        let options = ParseOptions(referenceTime: reference)
        var bytes = text
        let record = bytes.withUTF8 { LogParser.parseRecord($0, options: options) }
        let whole = bytes.withUTF8 { LogParser.parse($0, options: options) }
        #expect(record.events == whole.events)
        #expect(record.errors == whole.errors)
        #expect(record.records == whole.records)
        #expect(record.events.count + record.errors.count >= 1)
    }

    @Test("JSON outcomes are read in any case, and only whole words count")
    func outcomeWords() throws {
        func outcome(_ value: String) throws -> Outcome {
            try event(#"{"timestamp":"2026-11-25T12:00:00Z","user":"a","event_type":"login","outcome":\#(value)}"#)
                .outcome
        }
        #expect(try outcome(#""FAILED""#) == .failure)
        #expect(try outcome(#""Success""#) == .success)
        #expect(try outcome(#""authenticated""#) == .success)
        #expect(try outcome(#""UNAUTHORIZED""#) == .failure)
        #expect(try outcome(#""fail2""#) == .unknown)
        #expect(try outcome(#""failed-ish""#) == .unknown)
        #expect(try outcome(#""a much longer text than any outcome word""#) == .unknown)
        #expect(try outcome("200") == .unknown)
        #expect(try outcome("false") == .failure)
    }

    @Test("a broken array element does not hide the others; an unclosed array is reported")
    func brokenArray() {
        let result = parse(
            #"[{"timestamp":"2026-11-25T12:00:00Z","user":"a"},{"timestamp":"2026-11-25T12:00:00Z","user":},{"timestamp":"2026-11-25T12:00:01Z","user":"c"}"#
        )
        #expect(result.events.map(\.user) == ["a", "c"])
        #expect(result.errors.count == 2)
        #expect(result.errors.last?.reason.contains("not closed") == true)
    }

    @Test("a line with no timestamp and nothing before it is an error; other lines survive")
    func undatedFirstLine() {
        let result = parse(
            "just some words\nNov 25 09:00:00 h sshd[1]: Accepted password for a from 1.2.3.4 port 1 ssh2\n")
        #expect(result.errors.map(\.line) == [1])
        #expect(result.events.count == 1)
    }

    @Test("chunked feeding gives the same result as whole input")
    func chunked() {
        let text = (0..<200).map {
            "Nov 25 09:00:\(String(format: "%02d", $0 % 60)) h sshd[\($0)]: Failed password for u\($0) from 10.0.\($0 % 7).1 port \($0) ssh2"
        }.joined(separator: "\n")
        let whole = parse(text)
        var parser = InputParser(options: ParseOptions(referenceTime: reference))
        var pieces = ParsedInput()
        let bytes = Array(text.utf8)
        var offset = 0
        var size = 1
        while offset < bytes.count {
            let end = min(bytes.count, offset + size)
            bytes[offset..<end].withUnsafeBufferPointer { parser.feed($0, final: end == bytes.count, into: &pieces) }
            offset = end
            size = size * 3 % 97 + 1
        }
        #expect(pieces.events == whole.events)
        #expect(whole.events.count == 200)
    }
}
