/// Where an HTTP server listens.
public struct HTTPConfiguration: Sendable, Equatable {
    /// The address to bind; `127.0.0.1` keeps it local, `0.0.0.0` exposes it.
    public var address: String
    /// The port; 0 disables the server.
    public var port: Int

    public init(address: String = "127.0.0.1", port: Int) {
        self.address = address
        self.port = port
    }

    /// The metrics and health server of `vigil stream`: 127.0.0.1:9464.
    public static let metricsDefault = HTTPConfiguration(address: "127.0.0.1", port: 9464)

    public var isEnabled: Bool { port != 0 }
}

/// The answer of a health probe: healthy or not, and a JSON body saying why.
public struct ProbeResult: Sendable {
    public var healthy: Bool
    /// A JSON object (the probe's details).
    public var body: String

    public init(healthy: Bool, body: String) {
        self.healthy = healthy
        self.body = body
    }
}
