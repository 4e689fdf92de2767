import VigilDetection

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The kinds of attack the generator injects, each with the detector expected to catch it.
public enum AttackKind: String, Sendable, CaseIterable, Hashable {
    case bruteForce = "brute_force"
    case passwordSpraying = "password_spraying"
    case credentialStuffing = "credential_stuffing"
    case successAfterFailures = "success_after_failures"
    case accountEnumeration = "account_enumeration"
    case newSource = "new_source"
    case unusualHour = "unusual_hour"
    case privilegedFailures = "privileged_failures"
    case privilegedEscalation = "privileged_escalation"
    case rareEvent = "rare_event"
    case volumeSpike = "volume_spike"
    case impossibleTravel = "impossible_travel"

    /// The detector that should report it.
    public var detector: DetectorKind {
        switch self {
        case .bruteForce: .bruteForce
        case .passwordSpraying: .passwordSpraying
        case .credentialStuffing: .credentialStuffing
        case .successAfterFailures: .successAfterFailures
        case .accountEnumeration: .accountEnumeration
        case .newSource: .newSource
        case .unusualHour: .unusualHour
        case .privilegedFailures, .privilegedEscalation: .privilegedAccount
        case .rareEvent: .rareEvent
        case .volumeSpike: .volumeSpike
        case .impossibleTravel: .impossibleTravel
        }
    }
}

/// An attack the generator injected: ground truth for precision and recall.
public struct InjectedAttack: Sendable, Hashable {
    public var kind: AttackKind
    /// Users, addresses or templates the attack is about; an anomaly naming any of them in the
    /// attack's time range belongs to it.
    public var entities: Set<String>
    public var start: Int64
    public var end: Int64
    public var description: String
}

/// Output format of generated events.
public enum GeneratedFormat: String, Sendable, CaseIterable {
    /// NDJSON authentication events in Vigil's API shape, with countries.
    case json
    /// sshd/sudo/su syslog lines (rsyslog's ISO timestamps; no geography, so no travel attacks).
    case syslog
}

/// Settings of a generated data set.
public struct GeneratorOptions: Sendable {
    public var seed: UInt64 = 7
    public var users = 60
    /// Days of normal history (training data).
    public var historyDays = 14
    /// Days after the history, with attacks injected (test data).
    public var attackDays = 7
    /// Injections of each attack kind over the attack days.
    public var attacksPerKind = 4

    /// Accepted values (``Generator/generate(_:)`` clamps into them): attacks need a victim
    /// and a second account; ten years of days keep every time in range.
    public static let userRange = 2...100_000
    public static let dayRange = 0...3_650
    public static let attacksPerKindRange = 0...1_000
    public var format = GeneratedFormat.json
    /// 2026-11-01T00:00:00Z.
    public var start: Int64 = 1_793_491_200_000
    /// Also emit background chatter (disconnects, cron, systemd) and internet scan noise.
    public var noise = true

    public init() {}
}

/// Generated records in time order, split at the end of the history.
public struct GeneratedData: Sendable {
    /// One record (JSON object or syslog line) per element.
    public var history: [String] = []
    public var test: [String] = []
    public var attacks: [InjectedAttack] = []
}

/// A seedable generator of realistic authentication logs: users with home addresses,
/// countries and diurnal working hours, admins who sudo, typos, background chatter and
/// internet scanning — plus injected attacks of every kind Vigil detects.
public struct Generator {
    struct User {
        var name: String
        var country: String
        var utcOffset: Int
        var home: [String]
        var admin: Bool
        var host: String
        var loginsPerDay: Double
    }

    struct Record {
        var time: Int64
        var text: String
    }

    public let options: GeneratorOptions
    private var random: SeededRandom
    private var users: [User] = []
    private var records: [Record] = []
    private var attacks: [InjectedAttack] = []
    private var nextConnectionPID = 100_000
    private var nextPID = 1000

    private static let firstNames = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara",
    ]
    private static let places: [(String, Int)] = [
        ("DE", 1), ("GB", 0), ("US", -5), ("US", -8), ("FR", 1), ("NL", 1),
        ("JP", 9), ("IN", 5), ("BR", -3), ("AU", 10),
    ]
    private static let hosts = ["web1", "web2", "db1", "bastion", "build1", "mail1"]
    private static let attackerUsers = [
        "admin", "test", "oracle", "postgres", "ubuntu", "guest", "user", "ftp", "git",
        "support", "deploy", "jenkins", "pi", "hadoop", "mysql", "www", "backup", "nagios",
        "tomcat", "minecraft", "steam", "ansible", "docker", "server", "info",
    ]

    public init(options: GeneratorOptions) {
        var options = options
        options.users = options.users.clamped(to: GeneratorOptions.userRange)
        options.historyDays = options.historyDays.clamped(to: GeneratorOptions.dayRange)
        options.attackDays = options.attackDays.clamped(to: GeneratorOptions.dayRange)
        options.attacksPerKind = options.attacksPerKind.clamped(to: GeneratorOptions.attacksPerKindRange)
        options.start = UTC.clamp(options.start).clamped(to: 0...(UTC.supportedRange.upperBound / 2))
        self.options = options
        random = SeededRandom(seed: options.seed)
    }

    /// Generates the data set.
    public static func generate(_ options: GeneratorOptions) -> GeneratedData {
        var generator = Generator(options: options)
        return generator.run()
    }

    private mutating func run() -> GeneratedData {
        makeUsers()
        let day: Int64 = 86_400_000
        let totalDays = options.historyDays + options.attackDays
        for d in 0..<totalDays { normalDay(options.start + Int64(d) * day) }
        let attackStart = options.start + Int64(options.historyDays) * day
        if options.attackDays > 0 && options.attacksPerKind > 0 {
            injectAttacks(from: attackStart, to: attackStart + Int64(options.attackDays) * day)
        }
        records.sort { ($0.time, $0.text) < ($1.time, $1.text) }
        var data = GeneratedData()
        for r in records {
            if r.time < attackStart { data.history.append(r.text) } else { data.test.append(r.text) }
        }
        data.attacks = attacks.sorted { ($0.start, $0.kind.rawValue) < ($1.start, $1.kind.rawValue) }
        return data
    }

    // MARK: Population

    private mutating func makeUsers() {
        for i in 0..<options.users {
            let base = Self.firstNames[i % Self.firstNames.count]
            let name = i < Self.firstNames.count ? base : "\(base)\(i / Self.firstNames.count)"
            let place = Self.places[i % Self.places.count]
            // Each user works from one or two networks: an office /24 shared by colleagues of the
            // same country and a home address.
            let officeNet = 10 + (i % Self.places.count)
            let office = "10.\(officeNet).\(i % 7).\(20 + Int(random.next() % 200))"
            let home =
                "\(81 + i % 120).\(Int(random.next() % 250) + 1).\(Int(random.next() % 250)).\(Int(random.next() % 250) + 1)"
            users.append(
                User(
                    name: name, country: place.0, utcOffset: place.1,
                    home: random.unit() < 0.6 ? [office, home] : [office],
                    admin: i % 8 == 0, host: Self.hosts[i % Self.hosts.count], loginsPerDay: 2 + random.unit() * 4))
        }
    }

    private mutating func normalDay(_ dayStart: Int64) {
        let weekday = UTC.weekday(dayStart)
        let weekend = weekday >= 5
        for index in users.indices {
            let u = users[index]
            let expected = weekend ? u.loginsPerDay * 0.15 : u.loginsPerDay
            let logins = poisson(expected)
            for _ in 0..<logins {
                // Local working hours 08–18 (occasionally an evening), converted to UTC.
                let localHour = random.unit() < 0.93 ? 8 + random.unit() * 10 : 18 + random.unit() * 3
                let time =
                    dayStart + Int64((localHour - Double(u.utcOffset)) * 3_600_000) + Int64(random.next() % 60_000)
                let ip = u.home[Int(random.next() % UInt64(u.home.count))]
                if random.unit() < 0.06 {
                    failure(time - 8_000, user: u.name, ip: ip, host: u.host, country: u.country)
                }
                success(time, user: u.name, ip: ip, host: u.host, country: u.country)
                if u.admin && random.unit() < 0.5 {
                    escalation(time + 120_000 + Int64(random.next() % 600_000), user: u.name, host: u.host)
                }
                disconnect(time + 1_800_000 + Int64(random.next() % 7_200_000), user: u.name, ip: ip, host: u.host)
            }
        }
        guard options.noise else { return }
        // Background chatter of the machines.
        for host in Self.hosts {
            for hour in 0..<24 where random.unit() < 0.8 {
                let t = dayStart + Int64(hour) * 3_600_000 + Int64(random.next() % 3_600_000)
                chatter(t, host: host)
            }
        }
        // Internet scanning: single probes from random addresses, far below any threshold.
        for _ in 0..<poisson(30) {
            let t = dayStart + Int64(random.next() % 86_400_000)
            let ip = randomPublicIP()
            let user = Self.attackerUsers[Int(random.next() % UInt64(Self.attackerUsers.count))]
            let connection = nextConnection()
            invalid(t, user: user, ip: ip, host: "bastion", connection: connection)
            failure(
                t + 1_500, user: user, ip: ip, host: "bastion", country: "CN", unknownAccount: true,
                connection: connection)
        }
    }

    // MARK: Attacks

    private mutating func injectAttacks(from start: Int64, to end: Int64) {
        var kinds = AttackKind.allCases
        if options.format == .syslog { kinds.removeAll { $0 == .impossibleTravel } }
        let span = end - start - 3_600_000
        var slot = 0
        let slots = kinds.count * options.attacksPerKind
        for round in 0..<options.attacksPerKind {
            for kind in kinds {
                // Spread attacks out so they do not overlap each other.
                let base = start + span * Int64(slot) / Int64(max(1, slots)) + Int64(random.next() % 600_000)
                slot += 1
                inject(kind, at: base, round: round)
            }
        }
    }

    private mutating func inject(_ kind: AttackKind, at t: Int64, round: Int) {
        let victim = users[(Int(random.next() % UInt64(users.count)))]
        let attacker = randomPublicIP()
        switch kind {
        case .bruteForce:
            let n = 15 + Int(random.next() % 25)
            for k in 0..<n {
                failure(t + Int64(k) * 3_000, user: victim.name, ip: attacker, host: victim.host, country: "CN")
            }
            record(
                kind, [attacker, victim.name, "\(victim.name)@\(attacker)"], t, t + Int64(n) * 3_000,
                "\(n) password guesses against \(victim.name) from \(attacker)")
        case .passwordSpraying:
            let n = 14 + Int(random.next() % 10)
            for k in 0..<n {
                let user =
                    k % 3 == 0
                    ? users[(k * 7 + round) % users.count].name
                    : Self.attackerUsers[(k + round) % Self.attackerUsers.count]
                failure(
                    t + Int64(k) * 12_000, user: user, ip: attacker, host: "bastion", country: "RU",
                    unknownAccount: k % 3 != 0)
            }
            record(kind, [attacker], t, t + Int64(n) * 12_000, "spraying \(n) accounts from \(attacker)")
        case .credentialStuffing:
            let n = 12 + Int(random.next() % 10)
            var sources: Set<String> = []
            for k in 0..<n {
                let ip = randomPublicIP()
                sources.insert(ip)
                failure(t + Int64(k) * 9_000, user: victim.name, ip: ip, host: victim.host, country: "BR")
            }
            record(
                kind, Set([victim.name]).union(sources), t, t + Int64(n) * 9_000,
                "\(victim.name) tried from \(n) sources")
        case .successAfterFailures:
            let n = 9 + Int(random.next() % 6)
            for k in 0..<n {
                failure(t + Int64(k) * 4_000, user: victim.name, ip: attacker, host: victim.host, country: "CN")
            }
            let done = t + Int64(n) * 4_000 + 2_000
            success(done, user: victim.name, ip: attacker, host: victim.host, country: victim.country)
            record(
                kind, [victim.name, attacker, "\(victim.name)@\(attacker)"], t, done,
                "\(n) failures then success for \(victim.name)")
        case .accountEnumeration:
            let n = 8 + Int(random.next() % 8)
            for k in 0..<n {
                let name = "\(Self.attackerUsers[(k + round * 5) % Self.attackerUsers.count])\(k)"
                invalid(t + Int64(k) * 5_000, user: name, ip: attacker, host: "bastion")
            }
            record(kind, [attacker], t, t + Int64(n) * 5_000, "\(n) unknown accounts probed from \(attacker)")
        case .newSource:
            // During working hours, from a network the user never used.
            let ip = "\(203).\(Int(random.next() % 250)).\(113).\(Int(random.next() % 250) + 1)"
            let local = nextLocalTime(after: t, hour: 11, offset: victim.utcOffset)
            success(local, user: victim.name, ip: ip, host: victim.host, country: victim.country)
            record(kind, [victim.name, ip], local, local, "\(victim.name) from never-seen \(ip)")
        case .unusualHour:
            // 03:00 local, from a known address.
            let time = nextLocalTime(after: t, hour: 3, offset: victim.utcOffset)
            success(time, user: victim.name, ip: victim.home[0], host: victim.host, country: victim.country)
            record(kind, [victim.name], time, time, "\(victim.name) logging in at 03:00 local")
        case .privilegedFailures:
            let n = 4 + Int(random.next() % 3)  // below the brute-force threshold
            for k in 0..<n {
                failure(t + Int64(k) * 40_000, user: "root", ip: attacker, host: "bastion", country: "KP")
            }
            record(kind, [attacker, "root"], t, t + Int64(n) * 40_000, "\(n) root password guesses from \(attacker)")
        case .privilegedEscalation:
            let candidate =
                users.first { !$0.admin && $0.name.hasPrefix(Self.firstNames[(round * 3 + 1) % Self.firstNames.count]) }
                ?? users[1]
            let login = t
            success(
                login, user: candidate.name, ip: candidate.home[0], host: candidate.host, country: candidate.country)
            escalation(login + 60_000, user: candidate.name, host: candidate.host, command: "/bin/bash")
            record(kind, [candidate.name], login, login + 60_000, "\(candidate.name) (not an admin) sudo to root")
        case .rareEvent:
            let messages = [
                "error: kex_exchange_identification: banner line contains invalid characters",
                "fatal: userauth_pubkey: parse request failed: incomplete message [preauth]",
                "error: Bad remote protocol version identification: 'GET / HTTP/1.1'",
                "warning: /etc/ssh/sshd_config line 42: Deprecated option UsePrivilegeSeparation",
            ]
            let message = messages[round % messages.count]
            let template = emitSSHD(t, host: "bastion", message: message)
            record(kind, [template], t, t, "never-seen sshd message")
        case .volumeSpike:
            let n = 300 + Int(random.next() % 200)
            for k in 0..<n {
                success(
                    t + Int64(k) * 500, user: victim.name, ip: victim.home[0], host: victim.host,
                    country: victim.country)
            }
            record(
                kind, [victim.name, victim.home[0]], t, t + Int64(n) * 500, "\(n) logins by \(victim.name) in minutes")
        case .impossibleTravel:
            let far = victim.country == "RU" ? "AU" : "RU"
            success(t, user: victim.name, ip: victim.home[0], host: victim.host, country: victim.country)
            let ip = randomPublicIP()
            success(t + 20 * 60_000, user: victim.name, ip: ip, host: victim.host, country: far)
            record(
                kind, [victim.name, ip], t, t + 20 * 60_000,
                "\(victim.name) in \(victim.country) then \(far) 20 minutes later")
        }
    }

    /// The first time after `t` that is `hour`:00 local time at `offset`.
    private func nextLocalTime(after t: Int64, hour: Int, offset: Int) -> Int64 {
        let day: Int64 = 86_400_000
        var candidate = t.floorDiv(day) * day + Int64(hour - offset) * 3_600_000
        while candidate <= t { candidate += day }
        return candidate
    }

    private mutating func record(
        _ kind: AttackKind, _ entities: Set<String>, _ start: Int64, _ end: Int64, _ description: String
    ) {
        attacks.append(InjectedAttack(kind: kind, entities: entities, start: start, end: end, description: description))
    }

    // MARK: Emitters

    /// A pid for a connection's lines, from a sequence of its own (no random draw, so adding it
    /// changed nothing else the seed produces).
    private mutating func nextConnection() -> Int {
        nextConnectionPID = nextConnectionPID >= 4_000_000 ? 100_000 : nextConnectionPID + 1
        return nextConnectionPID
    }

    private mutating func pid() -> Int {
        nextPID += 1 + Int(random.next() % 7)
        if nextPID > 60_000 { nextPID = 1000 }
        return nextPID
    }

    private mutating func success(_ t: Int64, user: String, ip: String, host: String, country: String) {
        switch options.format {
        case .json:
            emitJSON(
                t, user: user, ip: ip, host: host, type: "login", outcome: "success", country: country,
                message: "Accepted password for \(user)")
        case .syslog:
            emitSSHD(
                t, host: host,
                message: "Accepted password for \(user) from \(ip) port \(1024 + Int(random.next() % 60_000)) ssh2")
            emitSSHD(t + 5, host: host, message: "pam_unix(sshd:session): session opened for user \(user) by (uid=0)")
        }
    }

    private mutating func failure(
        _ t: Int64, user: String, ip: String, host: String, country: String, unknownAccount: Bool = false,
        connection: Int? = nil
    ) {
        switch options.format {
        case .json:
            emitJSON(
                t, user: user, ip: ip, host: host, type: unknownAccount ? "invalid_user" : "login", outcome: "failure",
                country: country, message: "Failed password for \(unknownAccount ? "invalid user " : "")\(user)")
        case .syslog:
            let port = 1024 + Int(random.next() % 60_000)
            let connection = connection ?? nextConnection()
            if !unknownAccount {
                emitSSHD(
                    t - 2, host: host,
                    message:
                        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=\(ip)  user=\(user)",
                    connection: connection)
            }
            emitSSHD(
                t, host: host,
                message:
                    "Failed password for \(unknownAccount ? "invalid user " : "")\(user) from \(ip) port \(port) ssh2",
                connection: connection)
        }
    }

    private mutating func invalid(_ t: Int64, user: String, ip: String, host: String, connection: Int? = nil) {
        switch options.format {
        case .json:
            emitJSON(
                t, user: user, ip: ip, host: host, type: "invalid_user", outcome: "failure", country: "CN",
                message: "Invalid user \(user)")
        case .syslog:
            emitSSHD(
                t, host: host, message: "Invalid user \(user) from \(ip) port \(1024 + Int(random.next() % 60_000))",
                connection: connection)
        }
    }

    private mutating func disconnect(_ t: Int64, user: String, ip: String, host: String) {
        switch options.format {
        case .json:
            emitJSON(t, user: user, ip: ip, host: host, type: "logout", outcome: "success", country: nil, message: nil)
        case .syslog:
            emitSSHD(
                t, host: host,
                message:
                    "Received disconnect from \(ip) port \(1024 + Int(random.next() % 60_000)):11: disconnected by user"
            )
            emitSSHD(t + 3, host: host, message: "pam_unix(sshd:session): session closed for user \(user)")
        }
    }

    private mutating func escalation(_ t: Int64, user: String, host: String, command: String? = nil) {
        let commands = [
            "/usr/bin/systemctl restart nginx", "/usr/bin/apt-get update", "/usr/bin/journalctl -u app",
            "/bin/cat /var/log/syslog",
        ]
        let cmd = command ?? commands[Int(random.next() % UInt64(commands.count))]
        switch options.format {
        case .json:
            appendJSON(t) { w in
                w.field("user", user)
                w.field("event_type", "sudo")
                w.field("target_user", "root")
                w.field("command", cmd)
                w.field("host", host)
                w.field("outcome", "success")
            }
        case .syslog:
            records.append(
                Record(
                    time: t,
                    text:
                        "\(iso(t)) \(host) sudo:   \(user) : TTY=pts/0 ; PWD=/home/\(user) ; USER=root ; COMMAND=\(cmd)"
                ))
        }
    }

    private mutating func chatter(_ t: Int64, host: String) {
        let lines = [
            "CRON[\(pid())]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
            "systemd[1]: Started Session \(pid()) of user root.",
            "systemd[1]: logrotate.service: Succeeded.",
            "CRON[\(pid())]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            "sshd[\(pid())]: Connection closed by 10.\(Int(random.next() % 10)).0.\(Int(random.next() % 250)) port \(1024 + Int(random.next() % 60_000)) [preauth]",
            "kernel: [\(Int(random.next() % 900_000)).\(Int(random.next() % 999))] UFW BLOCK IN=eth0 OUT= SRC=\(randomPublicIP()) DST=10.0.0.5 PROTO=TCP DPT=\(Int(random.next() % 65_000))",
        ]
        let line = lines[Int(random.next() % UInt64(lines.count))]
        switch options.format {
        case .json:
            appendJSON(t) { w in
                w.field("host", host)
                w.field("message", line)
            }
        case .syslog:
            records.append(Record(time: t, text: "\(iso(t)) \(host) \(line)"))
        }
    }

    /// Appends a JSON event at `t`: its timestamp, then the fields `body` writes.
    private mutating func appendJSON(_ t: Int64, _ body: (inout JSONWriter) -> Void) {
        var w = JSONWriter()
        w.beginObject()
        w.field("timestamp", UTC.format(t))
        body(&w)
        w.endObject()
        records.append(Record(time: t, text: w.string))
    }

    /// Emits an sshd line (JSON: with the message) and returns its template.
    @discardableResult
    private mutating func emitSSHD(_ t: Int64, host: String, message: String, connection: Int? = nil) -> String {
        switch options.format {
        case .json:
            appendJSON(t) { w in
                w.field("host", host)
                w.field("service", "sshd")
                w.field("message", message)
            }
        case .syslog:
            // One connection's lines share sshd's pid, as they do on real machines. (A pid is
            // drawn for every line regardless, so the data around it stays what the seed gave.)
            let drawn = pid()
            records.append(Record(time: t, text: "\(iso(t)) \(host) sshd[\(connection ?? drawn)]: \(message)"))
        }
        // The template is what the engine makes of the record it just wrote: ground truth must
        // name what the detector will report.
        var text = records.last?.text ?? ""
        return text.withUTF8 { LogParser.parseRecord($0, options: ParseOptions(referenceTime: t, fallbackTime: t)) }
            .events.first?.template ?? ""
    }

    private mutating func emitJSON(
        _ t: Int64, user: String, ip: String, host: String, type: String, outcome: String,
        country: String?, message: String?
    ) {
        appendJSON(t) { w in
            w.field("user", user)
            w.field("source_ip", ip)
            w.field("event_type", type)
            w.field("action", outcome)
            w.field("host", host)
            w.field("service", "sshd")
            w.field("country", country)
            w.field("message", message)
        }
    }

    private func iso(_ t: Int64) -> String {
        // rsyslog's RSYSLOG_FileFormat: 2026-11-01T08:00:00.123+00:00
        String(UTC.format(t).dropLast()) + "+00:00"
    }

    private mutating func randomPublicIP() -> String {
        let first = [45, 58, 61, 77, 91, 103, 112, 118, 122, 139, 159, 175, 185, 193, 211, 218, 222][
            Int(random.next() % 17)]
        return "\(first).\(Int(random.next() % 256)).\(Int(random.next() % 256)).\(1 + Int(random.next() % 254))"
    }

    private mutating func poisson(_ mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        let limit = exp(-mean)
        var k = 0
        var p = random.unit()
        while p > limit {
            k += 1
            p *= random.unit()
        }
        return k
    }
}

extension Comparable {
    fileprivate func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
