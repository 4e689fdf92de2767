#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Ports for servers that tests and benchmarks start on this machine.
///
/// A random port can be taken — by another test's server, or by one of the many sockets
/// whose port the kernel picks from its ephemeral range (every outgoing connection, and
/// librdkafka's mock clusters, which listen on port 0). A stream whose metrics port was one
/// such port stopped at once, and the test then waited ten seconds on each of 240 probes of
/// whatever held it. So: a port below the ephemeral range, never handed out twice by this
/// process, and bindable when handed out.
public enum FreePort {
    private static let given = Mutex<Set<Int>>([])

    /// A port free now on every local address.
    public static func next() -> Int {
        let upper = max(10_001, ephemeralRangeStart())
        while true {
            let port = Int.random(in: 10_000..<upper)
            guard given.withLock({ $0.insert(port).inserted }) else { continue }
            if let listener = PortListener(port: port) {
                listener.close()
                return port
            }
        }
    }

    /// The first port of the kernel's ephemeral range (Linux's default when unreadable).
    static func ephemeralRangeStart() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
    }
}

/// A TCP socket listening on `0.0.0.0:port` — how a test holds a port so that a server
/// asked to use it fails. Closed by ``close()`` or when released.
public final class PortListener: Sendable {
    public let port: Int
    private let descriptor: Int32
    private let open = Atomic<Bool>(true)

    /// Nil when the port cannot be bound (it is in use).
    public init?(port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        // As NIO binds: address reuse on, so a port left in TIME_WAIT counts as free.
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            closeSocket(fd)
            return nil
        }
        self.port = port
        descriptor = fd
    }

    /// A listener on a port from ``FreePort/next()``.
    public static func onFreePort() -> PortListener {
        while true {
            if let listener = PortListener(port: FreePort.next()) { return listener }
        }
    }

    public func close() {
        if open.exchange(false, ordering: .acquiringAndReleasing) { closeSocket(descriptor) }
    }

    deinit { close() }
}

/// `close(2)`; a free function because inside ``PortListener`` `close` names its method.
private func closeSocket(_ descriptor: Int32) { _ = close(descriptor) }
