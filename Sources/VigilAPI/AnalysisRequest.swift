import Foundation
import VigilDetection

/// What `POST /analyze` was asked: the logs (as bytes the record reader splits: a JSON array's
/// text, or raw lines) and the context to analyse them in, if any.
struct AnalysisRequest: Sendable {
    var logs: [UInt8]
    var context: String?

    /// Context names: short, printable, usable in a URL path.
    static func validContextName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 128
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            }
    }

    /// Decodes a body by its content type: `application/x-ndjson` and `text/plain` are the
    /// logs themselves; JSON is `{"logs": [ {event}, … ] | "raw lines", "context"?: name}`.
    static func decode(body: [UInt8], contentType: String?) throws(APIError) -> AnalysisRequest {
        let type = (contentType ?? "application/json").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? "application/json"
        switch type {
        case "application/x-ndjson", "application/jsonl", "application/ndjson", "text/plain":
            return AnalysisRequest(logs: body, context: nil)
        case "application/json", "":
            break
        default:
            throw APIError(
                .unsupportedMediaType, "unsupported_media_type",
                "Content-Type \(type) is not accepted: send application/json, application/x-ndjson or text/plain")
        }
        let members = try Self.members(body)
        var request = AnalysisRequest(logs: [], context: nil)
        var sawLogs = false
        for (key, range) in members {
            let value = Array(body[range])
            switch key {
            case "logs":
                sawLogs = true
                switch value.first {
                case UInt8(ascii: "["):
                    request.logs = value
                case UInt8(ascii: "\""):
                    request.logs = try string(value, field: "logs")
                default:
                    throw .unprocessable(
                        "invalid_field", "logs must be an array of log events (objects) or a string of log lines")
                }
            case "context":
                if value == Array("null".utf8) { continue }
                let name = String(decoding: try string(value, field: "context"), as: UTF8.self)
                guard validContextName(name) else {
                    throw .unprocessable(
                        "invalid_field", "context must be 1–128 characters of letters, digits, '-', '_' or '.'")
                }
                request.context = name
            default:
                throw .unprocessable("unknown_field", "unknown field \(key): the body takes logs and context")
            }
        }
        guard sawLogs else { throw .unprocessable("missing_field", "logs is required") }
        return request
    }

    /// The members of a JSON object body (keys and the byte ranges of their values).
    static func members(_ body: [UInt8]) throws(APIError) -> [(key: String, value: Range<Int>)] {
        do {
            return try body.withUnsafeBufferPointer { bytes throws(JSONSyntaxError) in
                var reader = JSONReader(bytes)
                return try reader.readMembers()
            }
        } catch {
            throw .badRequest("invalid_json", "the body is not a JSON object: \(error)")
        }
    }

    /// A string member's text; a field of another type is 422 naming it.
    static func string(_ value: [UInt8], field: String) throws(APIError) -> [UInt8] {
        let text: [UInt8]?
        do {
            text = try value.withUnsafeBufferPointer { bytes throws(JSONSyntaxError) in try JSONReader.string(bytes) }
        } catch {
            throw .badRequest("invalid_json", "\(field): \(error)")
        }
        guard let text else { throw .unprocessable("invalid_field", "\(field) must be a string") }
        return text
    }
}
