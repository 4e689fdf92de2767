import HTTPTypes
import Hummingbird
import VigilDetection

/// An error answer: the status and `{"error": {"code", "message"}}` — every failure of the API
/// has this shape (never a stack trace, never an HTML page).
public struct APIError: Error, Sendable, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// A stable, machine-readable name (`invalid_json`, `body_too_large`, …).
    public var code: String
    /// What was wrong, in words: which field, which record, why.
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body.
    public var body: [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.key("error")
        w.objectValue { w in
            w.field("code", code)
            w.field("message", message)
        }
        w.endObject()
        return w.bytes
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code, message) }
    static func unprocessable(_ code: String, _ message: String) -> APIError {
        APIError(.unprocessableContent, code, message)
    }
    static func tooLarge(_ message: String) -> APIError { APIError(.contentTooLarge, "body_too_large", message) }
}
