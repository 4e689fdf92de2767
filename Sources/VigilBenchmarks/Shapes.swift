import Foundation
import VigilDetection

/// Data shapes for the engine benchmark that are not our generator's: benchmarks on one shape
/// flatter the parser it was tuned for (the engine once ran 3× slower on another generator's
/// JSON). Each shape is deterministic (a seed) and varies what costs the engine work: how many
/// users and sources (state size), the share of failures (windows updated), attack bursts (many
/// anomalies to build), and record length (bytes to skip).
struct Shape: Sendable {
    enum Format: String, Sendable {
        /// Filebeat/ECS nested JSON (`@timestamp`, `event.outcome`, `user.name`, `source.ip`, …).
        case ecs
        /// A hand-written application's flat JSON (`ts` in epoch ms, `username`, `src_ip`, `status`).
        case flat
        /// RFC 3164 sshd and PAM lines as OpenSSH writes them.
        case sshd
    }

    var name: String
    var format: Format
    var users: Int
    var sources: Int
    /// Share of login attempts that fail.
    var failures: Double
    /// Attack bursts (brute force, spraying from a few addresses): many anomalies.
    var noisy = false
    /// About 1 KiB per record (user agents, labels and fields the engine skips).
    var long = false

    /// The benchmark's matrix: few and many entities, quiet and noisy, short and long.
    static let matrix: [Shape] = [
        Shape(
            name: "ECS JSON, 5k users, 20k sources, 8% failures", format: .ecs, users: 5_000, sources: 20_000,
            failures: 0.08),
        Shape(
            name: "ECS JSON, 100 users, 100 sources, 1% failures", format: .ecs, users: 100, sources: 100,
            failures: 0.01),
        Shape(
            name: "ECS JSON, 100k users, 100k sources, 30% failures, attacks", format: .ecs, users: 100_000,
            sources: 100_000, failures: 0.30, noisy: true),
        Shape(
            name: "ECS JSON, 5k users, 20k sources, 8% failures, long records", format: .ecs, users: 5_000,
            sources: 20_000, failures: 0.08, long: true),
        Shape(
            name: "flat JSON, 5k users, 20k sources, 8% failures", format: .flat, users: 5_000, sources: 20_000,
            failures: 0.08),
        Shape(
            name: "flat JSON, 100k users, 100k sources, 1% failures", format: .flat, users: 100_000, sources: 100_000,
            failures: 0.01),
        Shape(
            name: "sshd lines, 5k users, 20k sources, 8% failures", format: .sshd, users: 5_000, sources: 20_000,
            failures: 0.08),
        Shape(
            name: "sshd lines, 100 users, 100 sources, 30% failures, attacks", format: .sshd, users: 100, sources: 100,
            failures: 0.30, noisy: true),
        Shape(
            name: "sshd lines, 100k users, 100k sources, 8% failures, long records", format: .sshd, users: 100_000,
            sources: 100_000, failures: 0.08, long: true),
    ]

    /// `count` records, starting at `start` (epoch ms), 50 ms apart on average (a million span
    /// about 14 hours, so a user's logins are minutes apart, as in a real auth log).
    func records(count: Int, start: Int64 = 1_795_000_000_000, seed: UInt64 = 42) -> [[UInt8]] {
        var rng = SeededRandom(seed: seed)
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        var time = start
        let hosts = (1...40).map { "srv-\($0 < 10 ? "0" : "")\($0).dc\($0 % 3 + 1).example.com" }
        let agent = String(
            repeating: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) ", count: 4)
        while out.count < count {
            time += Int64(rng.next(bound: 100))
            let attack = noisy && rng.next(bound: 100) < 10
            let userIndex = Int(rng.next(bound: UInt64(users)))
            let user =
                attack && rng.next(bound: 2) == 0
                ? ["root", "admin", "oracle", "test"][Int(rng.next(bound: 4))] : "user\(userIndex)"
            let sourceIndex =
                attack
                ? Int(rng.next(bound: 20))
                : (rng.next(bound: 100) == 0 ? Int(rng.next(bound: UInt64(sources))) : userIndex % sources)
            let source = attack ? "203.0.\(113 + sourceIndex / 10).\(sourceIndex)" : Self.address(sourceIndex)
            let failed = attack || Double(rng.next(bound: 10_000)) / 10_000 < failures
            let host = hosts[Int(rng.next(bound: UInt64(hosts.count)))]
            let port = 1024 + Int(rng.next(bound: 60_000))
            let pid = 1000 + Int(rng.next(bound: 60_000))
            var text: String
            switch format {
            case .ecs:
                text =
                    #"{"@timestamp":"\#(UTC.format(time))","event":{"category":["authentication"],"action":"ssh_login","outcome":"\#(failed ? "failure" : "success")","dataset":"system.auth"},"user":{"name":"\#(user)"},"source":{"ip":"\#(source)","port":\#(port)},"host":{"name":"\#(host)","os":{"family":"debian"}},"process":{"name":"sshd","pid":\#(pid)},"message":"\#(failed ? "Failed" : "Accepted") password for \#(user) from \#(source) port \#(port) ssh2""#
                if long {
                    text +=
                        #","user_agent":{"original":"\#(agent)"},"labels":{"env":"production","team":"platform-security","region":"eu-west-1"},"agent":{"type":"filebeat","version":"8.15.0","id":"5f0c2b84-9f0e-4d1e-8a35-3c41a0d2b7e9"},"ecs":{"version":"8.11.0"},"tags":["auth","ssh","beats_input_codec_plain_applied"]"#
                }
                text += "}"
            case .flat:
                text =
                    #"{"ts":\#(time),"username":"\#(user)","src_ip":"\#(source)","status":"\#(failed ? "failed" : "ok")","event_type":"login","app":"vpn-gateway","hostname":"\#(host)","msg":"\#(failed ? "authentication failed" : "authenticated")""#
                if long {
                    text +=
                        #","user_agent":"\#(agent)","session_id":"\#(rng.next(bound: 1 << 40))","tenant":"acme-corp""#
                }
                text += "}"
            case .sshd:
                let stamp = Self.syslogStamp(time)
                let short = host.prefix { $0 != "." }
                text =
                    failed
                    ? "\(stamp) \(short) sshd[\(pid)]: Failed password for \(rng.next(bound: 20) == 0 ? "invalid user " : "")\(user) from \(source) port \(port) ssh2"
                    : "\(stamp) \(short) sshd[\(pid)]: Accepted publickey for \(user) from \(source) port \(port) ssh2: RSA SHA256:\(String(repeating: "q", count: long ? 43 : 8))"
                if long && !failed {
                    text += " [\(agent.prefix(300))]"
                }
            }
            out.append(Array(text.utf8))
        }
        return out
    }

    /// A stable address for source number `n` (in 10.0.0.0/8 and 172.16.0.0/12).
    static func address(_ n: Int) -> String {
        n % 2 == 0
            ? "10.\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)" : "172.\(16 + n >> 16 & 15).\(n >> 8 & 255).\(n & 255)"
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Nov 25 10:00:00`, as rsyslog's traditional format writes it (no year).
    static func syslogStamp(_ time: Int64) -> String {
        let iso = UTC.format(time)  // 2026-11-25T10:00:00.123Z
        let month = Int(iso.dropFirst(5).prefix(2)) ?? 1
        let day = Int(iso.dropFirst(8).prefix(2)) ?? 1
        let clock = iso.dropFirst(11).prefix(8)
        return "\(months[month - 1]) \(day < 10 ? " " : "")\(day) \(clock)"
    }
}

extension SeededRandom {
    /// Uniform in [0, bound) (a modulo's tiny bias does not matter to a workload).
    mutating func next(bound: UInt64) -> UInt64 { next() % max(1, bound) }
}
