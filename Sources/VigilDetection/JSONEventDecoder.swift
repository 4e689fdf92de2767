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

    private enum Field {
        case timestamp, user, sourceIP, eventType, action, outcome, success, message, host, service, destinationIP
        case country, latitude, longitude, geoLon, geoLat, userAgent, sessionID, targetUser, command, authMethod, sourcePort
    }

    private static func field(_ path: String) -> Field? {
        switch path {
        case "timestamp", "@timestamp", "time", "event_time", "eventTime", "ts", "datetime", "date": .timestamp
        case "user", "username", "user.name", "userName", "user_name", "account", "login", "principal": .user
        case "source_ip", "src_ip", "ip", "source.ip", "client_ip", "client.ip", "sourceIPAddress", "remote_addr",
             "src", "source.address", "client.address", "remote_ip": .sourceIP
        case "event_type", "eventType", "type", "event.category", "event.type", "category": .eventType
        case "action", "event.action", "activity": .action
        case "outcome", "event.outcome", "status", "result", "auth_result": .outcome
        case "success", "succeeded": .success
        case "message", "msg", "log", "event.original": .message
        case "host", "hostname", "host.name", "host.hostname", "server", "agent.hostname": .host
        case "service", "service.name", "program", "process.name", "app", "application", "syslog_program": .service
        case "dest_ip", "dst_ip", "destination.ip", "server.ip", "target_ip": .destinationIP
        case "country", "country_code", "geo.country", "source.geo.country_iso_code", "client.geo.country_iso_code",
             "source.geo.country_name", "geo.country_iso_code": .country
        case "latitude", "lat", "source.geo.location.lat", "geo.lat", "client.geo.location.lat", "geo.location.lat": .latitude
        case "longitude", "lon", "lng", "source.geo.location.lon", "geo.lon", "client.geo.location.lon", "geo.location.lon": .longitude
        case "source.geo.location[0]", "geo.location[0]": .geoLon
        case "source.geo.location[1]", "geo.location[1]": .geoLat
        case "user_agent", "userAgent", "user_agent.original", "http.user_agent": .userAgent
        case "session_id", "sessionId", "session.id", "sessionID": .sessionID
        case "target_user", "user.target.name", "run_as", "runas", "user.effective.name": .targetUser
        case "command", "process.command_line", "cmd": .command
        case "auth_method", "method", "authentication.method", "event.authentication_method": .authMethod
        case "source_port", "src_port", "source.port", "client.port", "port": .sourcePort
        default: nil
        }
    }

    /// Decodes one JSON object. `fallbackTime` dates an object without a timestamp (the Kafka
    /// record's timestamp); without it such an object is an error.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, fallbackTime: Int64? = nil,
                              referenceTime: Int64) -> Result<LogEvent, Failure> {
        var event = LogEvent(timestamp: Int64.min, kind: .unknown)
        var eventType: String? = nil
        var failure: Failure? = nil
        var explicitSuccess: Bool? = nil
        var reader = JSONReader(bytes)
        do {
            try reader.readObject { pathBytes, value in
                guard failure == nil else { return }
                let path = String(decoding: pathBytes, as: UTF8.self)
                guard let field = field(path) else { return }
                if case .null = value { return }
                switch field {
                case .timestamp:
                    guard event.timestamp == Int64.min else { return } // first one wins
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
                            failure = .invalidField(path, "\"\(String(bytes: text).prefix(40))\" is not an RFC 3339 date-time or epoch number")
                        }
                    default:
                        failure = .invalidField(path, "expected a date-time string or an epoch number")
                    }
                case .user: event.user = nonEmpty(value.text)
                case .sourceIP: event.sourceIP = nonEmpty(value.text)
                case .eventType: eventType = value.text
                case .action: event.action = value.text
                case .outcome:
                    if case .bool(let ok) = value { explicitSuccess = ok } else { event.outcome = outcome(value.text) }
                case .success:
                    if case .bool(let ok) = value { explicitSuccess = ok } else { event.outcome = outcome(value.text) }
                case .message: event.message = value.text
                case .host: event.host = nonEmpty(value.text)
                case .service: event.service = nonEmpty(value.text)
                case .destinationIP: event.destinationIP = nonEmpty(value.text)
                case .country: event.country = nonEmpty(value.text)
                case .latitude, .geoLat:
                    guard let v = value.double, (-90...90).contains(v) else {
                        failure = .invalidField(path, "latitude must be a number in -90…90"); return
                    }
                    event.latitude = v
                case .longitude, .geoLon:
                    guard let v = value.double, (-180...180).contains(v) else {
                        failure = .invalidField(path, "longitude must be a number in -180…180"); return
                    }
                    event.longitude = v
                case .userAgent: event.userAgent = value.text
                case .sessionID: event.sessionID = value.text
                case .targetUser: event.targetUser = nonEmpty(value.text)
                case .command: event.command = value.text
                case .authMethod: event.authMethod = value.text
                case .sourcePort:
                    if let v = value.double, v >= 0, v <= 65535 { event.sourcePort = Int(v) }
                }
            }
        } catch {
            return .failure(.syntax(error))
        }
        if let failure { return .failure(failure) }
        if event.timestamp == Int64.min {
            guard let fallbackTime else { return .failure(.missingTimestamp) }
            event.timestamp = fallbackTime
        }
        if let explicitSuccess { event.outcome = explicitSuccess ? .success : .failure }
        classify(&event, eventType: eventType)
        return .success(event)
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty, text != "-" else { return nil }
        return text
    }

    static func outcome(_ text: String?) -> Outcome {
        guard let text else { return .unknown }
        switch text.lowercased() {
        case "success", "succeeded", "successful", "ok", "accepted", "accept", "allow", "allowed", "pass", "passed",
             "true", "granted", "authenticated":
            return .success
        case "failure", "failed", "fail", "denied", "deny", "rejected", "reject", "error", "invalid", "false",
             "blocked", "unauthorized", "forbidden":
            return .failure
        default:
            return .unknown
        }
    }

    /// Words of `event_type` and `action` that decide the kind, as bits.
    struct Words: OptionSet {
        let rawValue: UInt64
        init(rawValue: UInt64) { self.rawValue = rawValue }
        static let sudo = Words(rawValue: 1 << 0), su = Words(rawValue: 1 << 1), switchWord = Words(rawValue: 1 << 2)
        static let user = Words(rawValue: 1 << 3), logout = Words(rawValue: 1 << 4), sign = Words(rawValue: 1 << 5)
        static let out = Words(rawValue: 1 << 6), off = Words(rawValue: 1 << 7), log = Words(rawValue: 1 << 8)
        static let session = Words(rawValue: 1 << 9), open = Words(rawValue: 1 << 10), close = Words(rawValue: 1 << 11)
        static let invalid = Words(rawValue: 1 << 12), unknown = Words(rawValue: 1 << 13), notWord = Words(rawValue: 1 << 14)
        static let found = Words(rawValue: 1 << 15), nonexistent = Words(rawValue: 1 << 16), login = Words(rawValue: 1 << 17)
        static let auth = Words(rawValue: 1 << 18), inWord = Words(rawValue: 1 << 19), ssh = Words(rawValue: 1 << 20)
        static let password = Words(rawValue: 1 << 21), credential = Words(rawValue: 1 << 22), mfa = Words(rawValue: 1 << 23)
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

        /// The known words among `text`'s tokens (split on anything but letters and digits).
        init(_ text: String?) {
            var words: Words = []
            guard let text else { self = words; return }
            var token = ""
            func flush() {
                if !token.isEmpty, let w = Words.table[token] { words.insert(w) }
                token.removeAll(keepingCapacity: true)
            }
            for scalar in text.unicodeScalars {
                if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                    token.unicodeScalars.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
                } else {
                    flush()
                }
            }
            flush()
            self = words
        }
    }

    /// Decides the kind from event type, action, outcome and (for log-shaped JSON) the message.
    static func classify(_ event: inout LogEvent, eventType: String?) {
        let words = Words(eventType).union(Words(event.action))
        if event.outcome == .unknown, let action = event.action {
            let fromAction = outcome(action)
            if fromAction != .unknown { event.outcome = fromAction }
            else if words.contains(.failure) || words.contains(.invalid) { event.outcome = .failure }
            else if words.contains(.success) { event.outcome = .success }
        }
        let invalidUser = (words.contains(.user) && (words.contains(.invalid) || words.contains(.unknown)
                                                     || (words.contains(.notWord) && words.contains(.found))))
            || words.contains(.nonexistent)
        let logout = words.contains(.logout) || (words.contains(.sign) && words.contains(.out))
            || (words.contains(.log) && words.contains(.off))
        let auth = !words.isDisjoint(with: [.login, .auth, .ssh, .password, .credential, .mfa])
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
            // A log line carried in JSON (Filebeat and friends): read the message itself.
            var text = message
            let recognised = text.withUTF8 { AuthMessages.parse($0, program: .other, into: &event) }
            if !recognised { event.kind = .unknown }
        } else {
            event.kind = .unknown
        }
        if event.template.isEmpty {
            if let message = event.message, event.kind == .unknown {
                event.template = (event.service.map { "\($0): " } ?? "") + Templates.mask(message)
            } else {
                event.template = "json:\(event.kind.rawValue):\(eventType?.lowercased() ?? "-"):\(event.action?.lowercased() ?? "-")"
            }
        }
        if (event.kind == .sudo || event.kind == .su) && event.outcome == .unknown { event.outcome = .success }
    }
}
