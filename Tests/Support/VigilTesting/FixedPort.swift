/// Port 8000, the API's default: the README's Python example and the Docker image's command
/// name it verbatim, so the tests that run them must bind it — and must take turns, because
/// Swift Testing runs the suites of every test target at once in one process (two such tests
/// in different targets collided once: the second server exited at once, the port taken).
public enum FixedPort {
    private static let turns = TurnLock()

    /// Runs `body` while no other test holds port 8000. `body` must stop whatever it bound
    /// before it returns or throws.
    public static func with8000<R>(_ body: () async throws -> R) async throws -> R {
        await turns.acquire()
        do {
            let result = try await body()
            await turns.release()
            return result
        } catch {
            await turns.release()
            throw error
        }
    }
}

/// A lock awaited without blocking a thread (the cooperative pool has one per core).
actor TurnLock {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the lock to the next waiter (it stays held) or frees it.
    func release() {
        if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
    }
}
