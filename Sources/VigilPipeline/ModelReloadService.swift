import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads the model on SIGHUP: a `Service` over `UnixSignalsSequence`, ended by the service
/// group's graceful shutdown. What a reload does is the caller's `reload` (load the model
/// directory, swap it into the pipeline); a failed reload keeps the model in use.
public struct ModelReloadService: Service {
    private let signal: UnixSignal
    private let reload: @Sendable () -> Void

    public init(signal: UnixSignal = .sighup, reload: @escaping @Sendable () -> Void) {
        self.signal = signal
        self.reload = reload
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: signal)
        for await _ in signals.cancelOnGracefulShutdown() { reload() }
    }
}
