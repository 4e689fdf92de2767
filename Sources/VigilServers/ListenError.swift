import Foundation
import NIOCore
import Synchronization

/// A server that could not start listening: what it serves, the address and port it was
/// given, and why (usually "Address already in use" or "Permission denied").
///
/// Thrown by ``MetricsServer`` and the API server instead of NIO's bare
/// `bind(descriptor:ptr:bytes:)` error, so the command can say which setting to change — and
/// so a stream whose metrics port is taken exits with an error instead of shutting down as if
/// asked to.
public struct ListenError: Error, CustomStringConvertible {
    /// What the server is for ("metrics and health", "API").
    public var purpose: String
    public var address: String
    public var port: Int
    public var reason: String

    public init(purpose: String, address: String, port: Int, underlying: any Error) {
        self.purpose = purpose
        self.address = address
        self.port = port
        if let io = underlying as? IOError {
            reason = String(cString: strerror(io.errnoCode))
        } else {
            reason = "\(underlying)"
        }
    }

    public var description: String { "cannot serve \(purpose) on \(address):\(port): \(reason)" }
}

/// Whether a server has started listening; an error before that is a ``ListenError``.
public final class ListenState: Sendable {
    private let listening = Atomic<Bool>(false)
    private let purpose: String
    private let address: String
    private let port: Int

    public init(purpose: String, address: String, port: Int) {
        self.purpose = purpose
        self.address = address
        self.port = port
    }

    /// Call from the server's `onServerRunning`.
    public func markListening() { listening.store(true, ordering: .releasing) }

    /// Runs the server; a failure before it listened is rethrown as a ``ListenError``.
    public func run(_ serve: () async throws -> Void) async throws {
        do {
            try await serve()
        } catch where !listening.load(ordering: .acquiring) {
            throw ListenError(purpose: purpose, address: address, port: port, underlying: error)
        }
    }
}
