/// Maps a JSON object onto a ``LogEvent``.
///
/// Accepts Vigil's API shape (`timestamp, user, source_ip, event_type, action, message`, plus
/// `host, service, dest_ip, country, user_agent, session_id`), ECS-style nested fields
/// (`@timestamp, user.name, source.ip, event.action, event.outcome, host.name,
/// source.geo.country_iso_code, source.geo.location`) and common aliases (`username, src_ip,
/// ip, status, result`). Unknown fields are ignored.
public enum JSONEventDecoder {
    /// Why an object could not become an event.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case syntax(JSONSyntaxError)
        /// A field has a value of the wrong type or form.
        case invalidField(String, String)
        case missingTimestamp

        public var description: String {
            switch self {
            case .syntax(let error): "invalid JSON: \(error)"
            case .invalidField(let field, let reason): "field \"\(field)\": \(reason)"
            case .missingTimestamp: "no timestamp (expected one of: timestamp, @timestamp, time, event_time, ts)"
            }
        }
    }

    private enum Field: Sendable {
        case timestamp, user, sourceIP, eventType, action, outcome, success, message, host, service, destinationIP
        case country, latitude, longitude, geoLon, geoLat, userAgent, sessionID, targetUser, command, authMethod,
            sourcePort
        /// journald: `__REALTIME_TIMESTAMP` (microseconds), `_PID`, `_COMM` (a fallback program).
        case microseconds, processID, command_name
        /// Windows Security events (Winlogbeat): the event id, logon type and failure sub-status.
        case eventCode, logonType, subStatus
    }

    /// Field names (dotted paths) and their meaning; looked up by the path's bytes.
    private static let fields = KeyTable<Field>([
        "timestamp": .timestamp,
        "@timestamp": .timestamp,
        "time": .timestamp,
        "event_time": .timestamp,
        "eventTime": .timestamp,
        "ts": .timestamp,
        "datetime": .timestamp,
        "date": .timestamp,
        "user": .user,
        "username": .user,
        "user.name": .user,
        "userName": .user,
        "user_name": .user,
        "account": .user,
        "login": .user,
        "principal": .user,
        "source_ip": .sourceIP,
        "src_ip": .sourceIP,
        "ip": .sourceIP,
        "source.ip": .sourceIP,
        "client_ip": .sourceIP,
        "client.ip": .sourceIP,
        "sourceIPAddress": .sourceIP,
        "remote_addr": .sourceIP,
        "src": .sourceIP,
        "source.address": .sourceIP,
        "client.address": .sourceIP,
        "remote_ip": .sourceIP,
        "event_type": .eventType,
        "eventType": .eventType,
        "type": .eventType,
        "event.category": .eventType,
        "event.type": .eventType,
        "category": .eventType,
        "action": .action,
        "event.action": .action,
        "activity": .action,
        "outcome": .outcome,
        "event.outcome": .outcome,
        "status": .outcome,
        "result": .outcome,
        "auth_result": .outcome,
        "success": .success,
        "succeeded": .success,
        "message": .message,
        "msg": .message,
        "log": .message,
        "event.original": .message,
        "host": .host,
        "hostname": .host,
        "host.name": .host,
        "host.hostname": .host,
        "server": .host,
        "agent.hostname": .host,
        "service": .service,
        "service.name": .service,
        "program": .service,
        "process.name": .service,
        "app": .service,
        "application": .service,
        "syslog_program": .service,
        "dest_ip": .destinationIP,
        "dst_ip": .destinationIP,
        "destination.ip": .destinationIP,
        "server.ip": .destinationIP,
        "target_ip": .destinationIP,
        "country": .country,
        "country_code": .country,
        "geo.country": .country,
        "source.geo.country_iso_code": .country,
        "client.geo.country_iso_code": .country,
        "source.geo.country_name": .country,
        "geo.country_iso_code": .country,
        "latitude": .latitude,
        "lat": .latitude,
        "source.geo.location.lat": .latitude,
        "geo.lat": .latitude,
        "client.geo.location.lat": .latitude,
        "geo.location.lat": .latitude,
        "longitude": .longitude,
        "lon": .longitude,
        "lng": .longitude,
        "source.geo.location.lon": .longitude,
        "geo.lon": .longitude,
        "client.geo.location.lon": .longitude,
        "geo.location.lon": .longitude,
        "source.geo.location[0]": .geoLon,
        "geo.location[0]": .geoLon,
        "source.geo.location[1]": .geoLat,
        "geo.location[1]": .geoLat,
        "user_agent": .userAgent,
        "userAgent": .userAgent,
        "user_agent.original": .userAgent,
        "http.user_agent": .userAgent,
        "session_id": .sessionID,
        "sessionId": .sessionID,
        "session.id": .sessionID,
        "sessionID": .sessionID,
        "target_user": .targetUser,
        "user.target.name": .targetUser,
        "run_as": .targetUser,
        "runas": .targetUser,
        "user.effective.name": .targetUser,
        "command": .command,
        "process.command_line": .command,
        "cmd": .command,
        "auth_method": .authMethod,
        "method": .authMethod,
        "authentication.method": .authMethod,
        "event.authentication_method": .authMethod,
        "source_port": .sourcePort,
        "src_port": .sourcePort,
        "source.port": .sourcePort,
        "client.port": .sourcePort,
        "port": .sourcePort,
        // systemd's journal (`journalctl -o json`)
        "MESSAGE": .message,
        "SYSLOG_IDENTIFIER": .service,
        "_COMM": .command_name,
        "_HOSTNAME": .host,
        "__REALTIME_TIMESTAMP": .microseconds,
        "_PID": .processID,
        "SYSLOG_PID": .processID,
        // Windows Security log as Winlogbeat ships it (ECS plus winlog.*)
        "event.code": .eventCode,
        "winlog.event_id": .eventCode,
        "EventID": .eventCode,
        "winlog.event_data.TargetUserName": .user,
        "winlog.event_data.IpAddress": .sourceIP,
        "winlog.event_data.IpPort": .sourcePort,
        "winlog.event_data.LogonType": .logonType,
        "winlog.event_data.SubStatus": .subStatus,
        "winlog.computer_name": .host,
    ])

    /// Decodes one JSON object. `fallbackTime` dates an object without a timestamp (the Kafka
    /// record's timestamp); without it such an object is an error.
    public static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, fallbackTime: Int64? = nil,
        referenceTime: Int64
    ) -> Result<LogEvent, Failure> {
        var event = LogEvent(timestamp: Int64.min, kind: .unknown)
        var templates = TemplateCache()
        if let failure = decode(bytes, into: &event, fallbackTime: fallbackTime, templates: &templates) {
            return .failure(failure)
        }
        return .success(event)
    }

    /// Decodes into `event` (in place: no copies of the event), returning why it failed if it did.
    /// `event` must be fresh (`LogEvent(timestamp:kind:)` with nothing else set).
    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, into event: inout LogEvent, fallbackTime: Int64?,
        templates: inout TemplateCache
    ) -> Failure? {
        var sawNewline = false
        return decode(bytes, into: &event, fallbackTime: fallbackTime, templates: &templates, sawNewline: &sawNewline)
    }

    /// ``decode(_:into:fallbackTime:templates:)``, also saying whether the JSON read held a line
    /// break between its tokens (up to where reading stopped, if it failed).
    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, into event: inout LogEvent, fallbackTime: Int64?,
        templates: inout TemplateCache, sawNewline: inout Bool
    ) -> Failure? {
        var reader = JSONReader(bytes)
        defer { sawNewline = reader.sawNewline }
        event.timestamp = Int64.min  // "not set yet"
        var eventType: String? = nil
        var failure: Failure? = nil
        var explicitSuccess: Bool? = nil
        var extras = Extras()
        do {
            try reader.readObject { pathBytes, value in
                guard failure == nil, let field = fields[pathBytes] else { return }
                // Only errors need the path as text.
                var path: String { String(decoding: pathBytes, as: UTF8.self) }
                if case .null = value { return }
                switch field {
                case .timestamp:
                    guard event.timestamp == Int64.min else { return }  // first one wins
                    switch value {
                    case .number(let text):
                        guard let number = parseDouble(text), let time = UTC.fromEpoch(number) else {
                            failure = .invalidField(path, "epoch time out of range")
                            return
                        }
                        event.timestamp = time
                    case .string(let text):
                        if let time = UTC.parse(text) {
                            event.timestamp = time
                        } else if let number = parseDouble(text), let time = UTC.fromEpoch(number) {
                            event.timestamp = time
                        } else {
                            failure = .invalidField(
                                path,
                                "\"\(String(bytes: text).prefix(40))\" is not an RFC 3339 date-time or epoch number")
                        }
                    default:
                        failure = .invalidField(path, "expected a date-time string or an epoch number")
                    }
                case .user: event.user = nonEmpty(value)
                case .sourceIP: event.sourceIP = nonEmpty(value)
                case .eventType: eventType = value.text
                case .action: event.action = value.text
                case .outcome, .success:
                    switch value {
                    case .bool(let ok): explicitSuccess = ok
                    case .string(let text), .number(let text): event.outcome = outcome(text)
                    case .null: break
                    }
                case .message: event.message = value.text
                case .host: event.host = nonEmpty(value)
                case .service: event.service = nonEmpty(value)
                case .destinationIP: event.destinationIP = nonEmpty(value)
                case .country: event.country = nonEmpty(value)
                case .latitude, .geoLat:
                    guard let v = value.double, (-90...90).contains(v) else {
                        failure = .invalidField(path, "latitude must be a number in -90…90")
                        return
                    }
                    event.latitude = v
                case .longitude, .geoLon:
                    guard let v = value.double, (-180...180).contains(v) else {
                        failure = .invalidField(path, "longitude must be a number in -180…180")
                        return
                    }
                    event.longitude = v
                case .userAgent: event.userAgent = value.text
                case .sessionID: event.sessionID = value.text
                case .targetUser: event.targetUser = nonEmpty(value)
                case .command: event.command = value.text
                case .authMethod: event.authMethod = value.text
                case .sourcePort:
                    if let v = value.double ?? value.text.flatMap(Double.init), v >= 0, v <= 65535 {
                        event.sourcePort = Int(v)
                    }
                case .microseconds:
                    guard event.timestamp == Int64.min else { return }
                    guard let micros = value.double ?? value.text.flatMap(Double.init), micros >= 0, micros < 1e18
                    else {
                        failure = .invalidField(path, "expected microseconds since the epoch")
                        return
                    }
                    event.timestamp = Int64(micros / 1000)
                case .processID:
                    if let pid = value.double ?? value.text.flatMap(Double.init), pid >= 0, pid <= 4_194_304 {
                        event.processID = Int(pid)
                    }
                case .command_name: extras.commandName = nonEmpty(value)
                case .eventCode:
                    extras.eventCode =
                        extras.eventCode
                        ?? (value.double.flatMap { Int(exactly: $0) } ?? value.text.flatMap { Int($0) })
                case .logonType:
                    extras.logonType = value.double.flatMap { Int(exactly: $0) } ?? value.text.flatMap { Int($0) }
                case .subStatus: extras.subStatus = value.text?.lowercased()
                }
            }
        } catch {
            return .syntax(error)
        }
        if let failure { return failure }
        if event.timestamp == Int64.min {
            guard let fallbackTime else { return .missingTimestamp }
            event.timestamp = fallbackTime
        }
        if let explicitSuccess { event.outcome = explicitSuccess ? .success : .failure }
        if event.service == nil { event.service = extras.commandName }
        if let code = extras.eventCode, windowsLogon(&event, code: code, extras: extras) {
            return nil
        }
        classify(&event, eventType: eventType, templates: &templates)
        // Unescaping never lengthens a string: a short object has no long field.
        if bytes.count > LogEvent.maxFieldBytes { event.limitFieldLengths() }
        return nil
    }

    /// Fields read on the way that only help classify.
    private struct Extras {
        var commandName: String? = nil
        var eventCode: Int? = nil
        var logonType: Int? = nil
        var subStatus: String? = nil
    }

    /// Windows Security logon events (Winlogbeat's `event.code` / `winlog.event_id`); false for
    /// other codes, which are classified as any JSON event.
    private static func windowsLogon(_ event: inout LogEvent, code: Int, extras: Extras) -> Bool {
        let logonType = extras.logonType.map { " type \($0)" } ?? ""
        switch code {
        case 4625:  // An account failed to log on.
            event.kind = .authFailure
            event.outcome = .failure
            event.isAttempt = true
            event.failureReport = .attempt
            // 0xC0000064: the user name does not exist.
            event.accountUnknown = extras.subStatus == "0xc0000064"
            event.template = "windows:4625:logon-failed\(logonType)"
        case 4624:  // An account was successfully logged on.
            event.kind = .authSuccess
            event.outcome = .success
            event.isAttempt = true
            event.template = "windows:4624:logon\(logonType)"
        case 4740:  // A user account was locked out.
            event.kind = .lockout
            event.outcome = .failure
            event.template = "windows:4740:account-locked-out"
        case 4672:  // Special privileges assigned to a new logon.
            event.kind = .authInfo
            event.template = "windows:4672:special-privileges"
        case 4648:  // A logon was attempted using explicit credentials.
            event.kind = .authInfo
            event.template = "windows:4648:explicit-credentials"
        default:
            return false
        }
        // Local and absent addresses say nothing about where an attack comes from.
        if let source = event.sourceIP, source == "-" || source == "::1" || source == "127.0.0.1" {
            event.sourceIP = nil
        }
        return true
    }

    /// `text` lower-cased; returned as is (no copy) when it has no upper-case ASCII.
    static func lowercasedASCII(_ text: String?) -> String? {
        guard let text else { return nil }
        return text.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) ? text.lowercased() : text
    }

    /// The value as text, unless it is empty or `-`: decided on the bytes, before a string is
    /// made (most fields go through here).
    private static func nonEmpty(_ value: JSONScalar) -> String? {
        switch value {
        case .string(let bytes), .number(let bytes):
            guard !bytes.isEmpty, bytes.count != 1 || bytes[0] != UInt8(ascii: "-") else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        case .bool, .null: return value.text
        }
    }

    static func outcome(_ text: String?) -> Outcome {
        guard var text else { return .unknown }
        return text.withUTF8 { outcome($0) }
    }

    /// The outcome a word means, whatever its case (`FAILED`, `Success`).
    static func outcome(_ bytes: UnsafeBufferPointer<UInt8>) -> Outcome {
        // Lower-cased on the stack: no string is made for a member that is one of a few words.
        guard bytes.count <= Self.longestOutcome else { return .unknown }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.longestOutcome) { lower in
            for k in 0..<bytes.count {
                let b = bytes[k]
                lower[k] = b >= 65 && b <= 90 ? b + 32 : b
            }
            return outcomes[UnsafeBufferPointer(rebasing: lower[0..<bytes.count])] ?? .unknown
        }
    }

    private static let outcomes = KeyTable<Outcome>(
        Dictionary(
            uniqueKeysWithValues: [
                "success", "succeeded", "successful", "ok", "accepted", "accept", "allow", "allowed", "pass",
                "passed", "true", "granted", "authenticated",
            ].map { ($0, Outcome.success) }
                + [
                    "failure", "failed", "fail", "denied", "deny", "rejected", "reject", "error", "invalid", "false",
                    "blocked", "unauthorized", "forbidden",
                ].map { ($0, Outcome.failure) }))
    private static let longestOutcome = 16

    /// Words of `event_type` and `action` that decide the kind, as bits.
    struct Words: OptionSet {
        let rawValue: UInt64
        init(rawValue: UInt64) { self.rawValue = rawValue }
        static let sudo = Words(rawValue: 1 << 0), su = Words(rawValue: 1 << 1), switchWord = Words(rawValue: 1 << 2)
        static let user = Words(rawValue: 1 << 3), logout = Words(rawValue: 1 << 4), sign = Words(rawValue: 1 << 5)
        static let out = Words(rawValue: 1 << 6), off = Words(rawValue: 1 << 7), log = Words(rawValue: 1 << 8)
        static let session = Words(rawValue: 1 << 9), open = Words(rawValue: 1 << 10), close = Words(rawValue: 1 << 11)
        static let invalid = Words(rawValue: 1 << 12), unknown = Words(rawValue: 1 << 13),
            notWord = Words(rawValue: 1 << 14)
        static let found = Words(rawValue: 1 << 15), nonexistent = Words(rawValue: 1 << 16),
            login = Words(rawValue: 1 << 17)
        static let auth = Words(rawValue: 1 << 18), inWord = Words(rawValue: 1 << 19), ssh = Words(rawValue: 1 << 20)
        static let password = Words(rawValue: 1 << 21), credential = Words(rawValue: 1 << 22),
            mfa = Words(rawValue: 1 << 23)
        static let failure = Words(rawValue: 1 << 24), success = Words(rawValue: 1 << 25)

        static let table: [String: Words] = [
            "sudo": .sudo, "su": .su, "switch": .switchWord, "user": .user, "logout": .logout, "logoff": .logout,
            "signout": .logout, "sign": .sign, "out": .out, "off": .off, "log": .log, "session": .session,
            "open": .open, "opened": .open, "start": .open, "started": .open, "close": .close, "closed": .close,
            "end": .close, "ended": .close, "stop": .close, "stopped": .close, "invalid": .invalid, "unknown": .unknown,
            "not": .notWord, "found": .found, "nonexistent": .nonexistent, "login": .login, "logon": .login,
            "signin": .login, "auth": .auth, "authentication": .auth, "authenticate": .auth, "authenticated": .auth,
            "in": .inWord, "ssh": .ssh, "sshd": .ssh, "password": .password, "credential": .credential,
            "credentials": .credential, "mfa": .mfa, "2fa": .mfa, "fail": .failure, "failed": .failure,
            "failure": .failure, "denied": .failure, "deny": .failure, "reject": .failure, "rejected": .failure,
            "success": .success, "succeeded": .success, "successful": .success, "accepted": .success,
        ]

        private static let lookup = KeyTable<Words>(table)

        /// The known words among `text`'s tokens (split on anything but ASCII letters and
        /// digits, compared case-insensitively).
        init(_ text: String?) {
            var words: Words = []
            guard var text else {
                self = words
                return
            }
            text.withUTF8 { bytes in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { token in
                    var length = 0
                    func flush() {
                        if length > 0, length <= 24,
                            let w = Words.lookup[UnsafeBufferPointer(rebasing: token[0..<length])]
                        {
                            words.insert(w)
                        }
                        length = 0
                    }
                    for b in bytes {
                        switch b {
                        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                            if length < 24 { token[length] = b }
                            length += 1
                        case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                            if length < 24 { token[length] = b + 32 }
                            length += 1
                        default:
                            flush()
                        }
                    }
                    flush()
                }
            }
            self = words
        }
    }

    /// Decides the kind from event type, action, outcome and (for log-shaped JSON) the message.
    static func classify(_ event: inout LogEvent, eventType: String?, templates: inout TemplateCache) {
        let text = TemplateCache.TextKey(eventType: eventType, action: event.action)
        let words = templates.words(text) { Words(eventType).union(Words(event.action)) }
        // The outcome may be in the action ("failure") or only in the event type's words
        // ("login_failed", "authentication_failure", "failed_login").
        if event.outcome == .unknown {
            let fromAction = outcome(event.action)
            if fromAction != .unknown {
                event.outcome = fromAction
            } else if words.contains(.failure) || words.contains(.invalid) {
                event.outcome = .failure
            } else if words.contains(.success) {
                event.outcome = .success
            }
        }
        let invalidUser =
            (words.contains(.user)
                && (words.contains(.invalid) || words.contains(.unknown)
                    || (words.contains(.notWord) && words.contains(.found))))
            || words.contains(.nonexistent)
        let logout =
            words.contains(.logout) || (words.contains(.sign) && words.contains(.out))
            || (words.contains(.log) && words.contains(.off))
        let auth =
            !words.isDisjoint(with: [.login, .auth, .ssh, .password, .credential, .mfa])
            || (words.contains(.sign) && words.contains(.inWord))
        if words.contains(.sudo) {
            event.kind = .sudo
        } else if words.contains(.su) || (words.contains(.switchWord) && words.contains(.user)) {
            event.kind = .su
        } else if logout {
            event.kind = .logout
        } else if words.contains(.session) && !auth {
            event.kind = words.contains(.close) ? .sessionClose : .sessionOpen
        } else if invalidUser {
            event.kind = .invalidUser
            event.outcome = .failure
            event.accountUnknown = true
            event.isAttempt = true
        } else if auth || (eventType == nil && event.outcome != .unknown && event.user != nil) {
            switch event.outcome {
            case .success: event.kind = .authSuccess
            case .failure: event.kind = .authFailure
            case .unknown: event.kind = .authInfo
            }
            event.isAttempt = event.outcome != .unknown
        } else if let message = event.message {
            // A log line carried in JSON (Filebeat, journald and friends): read the message
            // itself, as the program that wrote it.
            var text = message
            var service = event.service ?? ""
            let program = service.withUTF8 { AuthMessages.program($0) }
            let recognised = text.withUTF8 { AuthMessages.parse($0, program: program, into: &event) }
            if !recognised { event.kind = .unknown }
        } else {
            event.kind = .unknown
        }
        if event.template.isEmpty {
            if let message = event.message, event.kind == .unknown {
                event.template = (event.service.map { "\($0): " } ?? "") + Templates.mask(message)
            } else {
                event.template = templates.template(
                    kind: event.kind, eventType: eventType, action: event.action, text: text)
            }
        }
        if (event.kind == .sudo || event.kind == .su) && event.outcome == .unknown { event.outcome = .success }
        if event.failureReport == nil && event.isAttempt && event.outcome == .failure { event.failureReport = .attempt }
    }
}

/// The templates of JSON events — `json:<kind>:<event type>:<action>` — built once per
/// distinct combination and shared, instead of a new string for every event (they repeat:
/// a handful per source of logs). Kept in ``ParsedInput``, which a stream reuses per batch.
public struct TemplateCache: Sendable {
    /// Keyed by hashes already mixed, so looked up through a ``HashedMap``, not a Dictionary
    /// (which would hash each key again with SipHash, twice per JSON event).
    private var strings = HashedMap<String>()
    /// The classifying words of each (event type, action) pair, found once per pair instead
    /// of by splitting both texts into words for every event (a twentieth of a JSON event).
    private var words = HashedMap<JSONEventDecoder.Words>()
    /// Beyond this many combinations (not a normal log) the cache starts over.
    static let capacity = 4_096

    public init() {}

    /// An event's (event type, action) pair, hashed once for both caches.
    struct TextKey {
        var hash: UInt64
        init(eventType: String?, action: String?) {
            hash = StableHash.combine(
                eventType.map { StableHash.hash($0) } ?? 1, action.map { StableHash.hash($0) } ?? 1)
        }
    }

    mutating func words(_ text: TextKey, _ make: () -> JSONEventDecoder.Words) -> JSONEventDecoder.Words {
        if let known = words[text.hash] { return known }
        let found = make()
        if words.count >= Self.capacity { words = HashedMap() }
        words.insert(text.hash, found)
        return found
    }

    mutating func template(kind: EventKind, eventType: String?, action: String?, text: TextKey) -> String {
        let key = StableHash.combine(StableHash.hash(kind.rawValue), text.hash)
        if let known = strings[key] { return known }
        var template = "json:"
        template.reserveCapacity(48)
        template += kind.rawValue
        template += ":"
        template += JSONEventDecoder.lowercasedASCII(eventType) ?? "-"
        template += ":"
        template += JSONEventDecoder.lowercasedASCII(action) ?? "-"
        if strings.count >= Self.capacity { strings = HashedMap() }
        strings.insert(key, template)
        return template
    }
}
