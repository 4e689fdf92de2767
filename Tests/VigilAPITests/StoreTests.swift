import Crypto
import Testing

@testable import VigilAPI

@Suite("Contexts and the response cache are bounded")
struct StoreTests {
    @Test("contexts: the least recently used goes first at the cap; unused ones expire")
    func contexts() async throws {
        let store = ContextStore(maxContexts: 2, idleMs: 60_000)
        let a = store.context(named: "a")
        _ = store.context(named: "b")
        #expect(store.context(named: "a") === a)  // a used again: b is now the oldest
        _ = store.context(named: "c")
        #expect(store.names == ["a", "c"])
        #expect(store.remove("a"))
        #expect(!store.remove("a"))
        let short = ContextStore(maxContexts: 10, idleMs: 1)
        _ = short.context(named: "x")
        try await Task.sleep(for: .milliseconds(20))
        #expect(short.names.isEmpty)
        #expect(short.context(named: "x") !== a)
    }

    @Test("the cache keeps answers under its byte budget, dropping the least recently used")
    func cache() {
        let cache = ResultCache(maxBytes: 3 * (1_000 + 128))
        func key(_ n: Int) -> SHA256Digest { ResultCache.key(body: [UInt8(n)], contentType: nil, model: "m") }
        func answer(_ n: Int) -> AnalysisAnswer {
            AnalysisAnswer(body: [UInt8](repeating: UInt8(n), count: 1_000), events: n, anomalies: 0)
        }
        for n in 0..<3 { cache.put(key(n), answer(n)) }
        #expect(cache.get(key(0))?.events == 0)  // 0 used: 1 is the oldest
        cache.put(key(3), answer(3))
        #expect(cache.get(key(1)) == nil)
        #expect(cache.get(key(0)) != nil && cache.get(key(2)) != nil && cache.get(key(3)) != nil)
        #expect(cache.bytes <= cache.maxBytes)
        // Too large for the whole budget: never stored.
        cache.put(key(9), AnalysisAnswer(body: [UInt8](repeating: 0, count: 10_000), events: 9, anomalies: 0))
        #expect(cache.get(key(9)) == nil)
        // Another model version is another key.
        #expect(ResultCache.key(body: [1], contentType: nil, model: "m") != ResultCache.key(body: [1], contentType: nil, model: "n"))
    }
}
