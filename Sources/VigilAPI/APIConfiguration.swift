import Foundation
import VigilAnalysis
import VigilDetection

/// Everything `vigil serve` is configured with, apart from logging: where it listens, the
/// model, the limits that keep one client from exhausting the server, and access control.
public struct APIConfiguration: Sendable, Equatable {
    /// The address to bind (`0.0.0.0` in a container) and the port (0: any free port).
    public var address = "127.0.0.1"
    public var port = 8000
    /// The model directory loaded at start and by `POST /models/load` without `model_dir`
    /// (`MODEL_DIR`). When it does not exist the rules-only default is used — unless it was
    /// configured explicitly (``modelDirectoryExplicit``): then the server is not ready until
    /// a model is loaded, rather than silently running without the one asked for.
    public var modelDirectory = "anomaly_outputs"
    public var modelDirectoryExplicit = false
    /// Directories `POST /models/load` may load from (subdirectories included, symlinks
    /// resolved). Empty: the working directory and the parent of ``modelDirectory``.
    public var modelRoots: [String] = []
    /// Largest request body read into memory (`/analyze`); larger ones get 413.
    public var maxBodyBytes = 16 << 20
    /// Largest upload to `/analyze/file`, spooled to a temporary file (not memory).
    public var maxUploadBytes = 256 << 20
    /// Most records (array elements or lines) one request may hold.
    public var maxEventsPerRequest = 100_000
    /// Record errors listed in a response (all are counted).
    public var maxErrorsListed = 100
    /// Time for one request; past it the answer is 503 `timeout` and the analysis stops.
    public var requestTimeoutMs = 30_000
    /// Named analysis contexts kept (least recently used dropped first) and how long an
    /// unused one lives.
    public var maxContexts = 64
    public var contextIdleMs = 3_600_000
    /// Bytes of cached responses (0: no cache).
    public var cacheBytes = 32 << 20
    /// Accepted bearer tokens; empty: no authentication.
    public var tokens: [String] = []
    /// With tokens set, whether `/health*` and `/metrics` still answer without one (probes
    /// and scrapers rarely carry tokens).
    public var openProbes = true
    /// Requests per second per client address (a token bucket's refill; 0: no limit) and the
    /// bucket's size (the burst allowed).
    public var rateLimitPerSecond = 0.0
    public var rateLimitBurst = 20
    /// PEM files for serving HTTPS directly (both or neither).
    public var tlsCertificatePath: String? = nil
    public var tlsKeyPath: String? = nil
    /// Where uploads are spooled.
    public var temporaryDirectory = "/tmp"
    /// Analyses run at once; more requests wait their turn (within their deadline). Bounds the
    /// memory and CPU a burst of large requests takes.
    public var workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
    public var detection: DetectionConfig = .default
    public var limits = ReadLimits()

    public init() {}
}
