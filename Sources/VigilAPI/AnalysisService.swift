import Crypto
import Foundation
import Metrics
import Synchronization
import VigilAnalysis
import VigilDetection

/// One analysis answer, encoded once (cached answers are these bytes): the response JSON
/// (`anomalies_detected`, `anomalies`, `events_analyzed`, `errors`, … — the REST API's shape),
/// and for readers the first anomalies as one-line text.
public struct AnalysisAnswer: Sendable {
    public var body: [UInt8]
    public var events: Int
    public var anomalies: Int
    public var errorCount: Int = 0
    public var lines: [String] = []
}

/// The analysis behind `/analyze` and `/analyze/file`: each request on its own with the loaded
/// model (deterministic, so identical requests are answered from the cache), or in a named
/// context whose event-time state carries over from request to request.
public final class AnalysisService: Sendable {
    public let configuration: APIConfiguration
    public let models: ModelStore
    let contexts: ContextStore
    let cache: ResultCache
    public let statistics = APIStatistics()
    let slots: AnalysisSlots
    /// Receives the anomalies of every analysis answered (not the cached repeats of one, and
    /// not the MCP tools'): `vigil serve --alerts` puts them in the alert outbox.
    let alerts: AnomalyHook?

    /// What the analyses' anomalies are handed to, after the analysis and before the answer.
    public typealias AnomalyHook = @Sendable ([Anomaly]) -> Void

    public init(configuration: APIConfiguration, models: ModelStore, alerts: AnomalyHook? = nil) {
        self.configuration = configuration
        self.models = models
        self.alerts = alerts
        slots = AnalysisSlots(configuration.workers)
        contexts = ContextStore(maxContexts: configuration.maxContexts, idleMs: configuration.contextIdleMs)
        cache = ResultCache(maxBytes: configuration.cacheBytes)
    }

    /// The model, or 503 while there is none.
    func currentModel() throws(APIError) -> LoadedModel {
        guard let model = models.model else {
            throw APIError(
                .serviceUnavailable, "no_model",
                "no model is loaded\(models.unavailableReason.map { ": \($0)" } ?? ""); POST /models/load")
        }
        return model
    }

    /// Analyses a `/analyze` body (the REST API's entry, used in process by the benchmark).
    /// Returns the answer and whether it came from the cache.
    public func analyze(
        body: [UInt8], contentType: String?, deadline: ContinuousClock.Instant
    ) async throws(APIError)
        -> (AnalysisAnswer, cached: Bool)
    {
        let request = try AnalysisRequest.decode(body: body, contentType: contentType)
        let model = try currentModel()
        try checkRecordCount(request.logs)
        await slots.acquire()
        defer { slots.release() }
        if let name = request.context {
            let context = contexts.context(named: name)
            let answer = try await context.analyze(
                request.logs, name: "request", model: model, service: self, deadline: deadline)
            return (answer, false)
        }
        let key = cache.isEnabled ? ResultCache.key(body: body, contentType: contentType, model: model.version) : nil
        if let key, let hit = cache.get(key) {
            statistics.cache(hit: true)
            return (hit, true)
        }
        if key != nil { statistics.cache(hit: false) }
        var session = makeSession(model)
        let answer = try run(
            LogInput.bytes(request.logs, name: "request"), in: &session, model: model, context: nil,
            deadline: deadline)
        if let key { cache.put(key, answer) }
        return (answer, false)
    }

    /// Analyses an uploaded file (spooled to `path`), named `name` in ids and errors.
    func analyzeFile(
        path: String, name: String, deadline: ContinuousClock.Instant
    ) async throws(APIError) -> AnalysisAnswer {
        let model = try currentModel()
        await slots.acquire()
        defer { slots.release() }
        var session = makeSession(model)
        var input = LogInput.file(path)
        input.name = name
        return try run(input, in: &session, model: model, context: nil, deadline: deadline)
    }

    func makeSession(_ model: LoadedModel) -> AnalysisSession {
        AnalysisSession(
            model: model.model, modelName: model.directory, detection: configuration.detection,
            maxErrors: configuration.maxErrorsListed, limits: configuration.limits)
    }

    /// Refuses bodies with more records than allowed before any is analysed (a context must
    /// not take half a request). Records are at least two bytes ("{}" or a character and a
    /// newline), so small bodies need no count.
    private func checkRecordCount(_ logs: [UInt8]) throws(APIError) {
        let limit = configuration.maxEventsPerRequest
        guard logs.count / 2 + 1 > limit else { return }
        var records = 0
        do {
            var reader = try RecordReader(.bytes(logs, name: "request"), limits: configuration.limits)
            while try reader.next({ item in if case .record = item { records += 1 } }), records <= limit {}
        } catch {
            return  // unreadable input is reported by the analysis itself
        }
        if records > limit {
            throw APIError(
                .contentTooLarge, "too_many_events",
                "the request holds more than \(limit) records; send them in smaller requests (with a context to keep state)"
            )
        }
    }

    /// Analyses one input on its own with the model in use (the MCP server's tools); the
    /// answer carries up to `textLines` anomalies as one-line text.
    public func analyze(
        _ input: LogInput, textLines: Int, deadline: ContinuousClock.Instant
    ) throws(APIError)
        -> AnalysisAnswer
    {
        let model = try currentModel()
        var session = makeSession(model)
        return try run(
            input, in: &session, model: model, context: nil, deadline: deadline, textLines: textLines, alert: false)
    }

    /// Runs one input through `session` and encodes the answer; its anomalies go to the alert
    /// hook when `alert` is set.
    func run(
        _ input: LogInput, in session: inout AnalysisSession, model: LoadedModel, context: String?,
        deadline: ContinuousClock.Instant, textLines: Int = 0, alert: Bool = true
    ) throws(APIError) -> AnalysisAnswer {
        let started = ContinuousClock.now
        var anomalies = JSONWriter(capacity: 4096)
        anomalies.beginArray()
        var count = 0
        var lines: [String] = []
        let hook = alert ? alerts : nil
        var found: [Anomaly] = []
        let summary = session.analyze(input, until: { ContinuousClock.now >= deadline || Task.isCancelled }) {
            anomaly in
            AnomalyJSON.write(anomaly, to: &anomalies)
            if lines.count < textLines { lines.append(AnomalyText.line(anomaly)) }
            if hook != nil { found.append(anomaly) }
            count += 1
            statistics.anomaly(anomaly)
        }
        anomalies.endArray()
        if summary.failure == "stopped before the end (deadline)" {
            throw APIError(
                .serviceUnavailable, "timeout",
                "the analysis took longer than \(configuration.requestTimeoutMs) ms; send smaller requests")
        }
        if let hook, !found.isEmpty { hook(found) }
        statistics.analysed(events: summary.events, records: summary.records, errors: summary.errorCount)
        var w = JSONWriter(capacity: anomalies.bytes.count + 512)
        w.beginObject()
        w.field("anomalies_detected", count)
        w.key("anomalies")
        w.raw(anomalies.bytes)
        w.field("events_analyzed", summary.events)
        w.field("records", summary.records)
        w.key("errors")
        w.beginArray()
        for error in summary.errors {
            w.beginObject()
            w.field("index", error.index)
            w.field("line", error.line)
            w.field("reason", error.reason)
            w.endObject()
        }
        w.endArray()
        w.field("errors_total", summary.errorCount)
        if let failure = summary.failure { w.field("input_error", failure) }
        w.field("duration_ms", (ContinuousClock.now - started).milliseconds)
        w.key("model")
        model.write(to: &w)
        w.field("context", context)
        w.endObject()
        return AnalysisAnswer(
            body: w.bytes, events: summary.events, anomalies: count, errorCount: summary.errorCount, lines: lines)
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return (Double(seconds) * 1000 + Double(attoseconds) / 1e15).rounded(toPlaces: 3)
    }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}

/// A named analysis context: its engine state carries from one request to the next, and its
/// records are numbered on, so a log sent in chunks gives exactly the anomalies (ids
/// included) of one request holding all of it. Requests to one context run one at a time.
actor AnalysisContext {
    let name: String
    private var session: AnalysisSession?
    private var modelVersion = ""
    private var nextIndex = 0

    init(name: String) { self.name = name }

    func analyze(
        _ logs: [UInt8], name inputName: String, model: LoadedModel, service: AnalysisService,
        deadline: ContinuousClock.Instant
    ) throws(APIError) -> AnalysisAnswer {
        var session = self.session ?? service.makeSession(model)
        if self.session != nil, modelVersion != model.version {
            session.replaceModel(model.model, name: model.directory, detection: service.configuration.detection)
        }
        modelVersion = model.version
        var input = LogInput.bytes(logs, name: inputName)
        input.firstIndex = nextIndex
        let recordsBefore = session.summary.records
        defer { self.session = session }
        let answer = try service.run(input, in: &session, model: model, context: name, deadline: deadline)
        nextIndex += session.summary.records - recordsBefore
        return answer
    }
}

/// The named contexts: at most `maxContexts`, the least recently used dropped first, and any
/// unused for `idleMs` dropped.
final class ContextStore: Sendable {
    private struct Entry {
        var context: AnalysisContext
        var lastUsed: ContinuousClock.Instant
    }
    private let entries = Mutex<[String: Entry]>([:])
    let maxContexts: Int
    let idle: Duration

    init(maxContexts: Int, idleMs: Int) {
        self.maxContexts = max(1, maxContexts)
        idle = .milliseconds(max(1, idleMs))
    }

    func context(named name: String) -> AnalysisContext {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            entries = entries.filter { now - $0.value.lastUsed < idle }
            if var entry = entries[name] {
                entry.lastUsed = now
                entries[name] = entry
                return entry.context
            }
            while entries.count >= maxContexts, let oldest = entries.min(by: { $0.value.lastUsed < $1.value.lastUsed })
            {
                entries.removeValue(forKey: oldest.key)
            }
            let context = AnalysisContext(name: name)
            entries[name] = Entry(context: context, lastUsed: now)
            return context
        }
    }

    func remove(_ name: String) -> Bool { entries.withLock { $0.removeValue(forKey: name) != nil } }

    var names: [String] {
        let now = ContinuousClock.now
        return entries.withLock { entries in entries.filter { now - $0.value.lastUsed < idle }.keys.sorted() }
    }
}

/// Answers to identical request bodies under the same model version, least recently used
/// dropped first once `maxBytes` is reached.
final class ResultCache: Sendable {
    private struct State {
        var answers: [SHA256Digest: (answer: AnalysisAnswer, tick: UInt64)] = [:]
        var bytes = 0
        var tick: UInt64 = 0
    }
    private let state = Mutex(State())
    let maxBytes: Int

    init(maxBytes: Int) { self.maxBytes = max(0, maxBytes) }

    var isEnabled: Bool { maxBytes > 0 }

    static func key(body: [UInt8], contentType: String?, model: String) -> SHA256Digest {
        var hash = SHA256()
        hash.update(data: Array(model.utf8) + [0] + Array((contentType ?? "").utf8) + [0])
        hash.update(data: body)
        return hash.finalize()
    }

    func get(_ key: SHA256Digest) -> AnalysisAnswer? {
        state.withLock { s in
            guard let found = s.answers[key] else { return nil }
            s.tick += 1
            s.answers[key] = (found.answer, s.tick)
            return found.answer
        }
    }

    func put(_ key: SHA256Digest, _ answer: AnalysisAnswer) {
        let size = answer.body.count + 128
        guard size <= maxBytes else { return }
        state.withLock { s in
            s.tick += 1
            if let old = s.answers.updateValue((answer, s.tick), forKey: key) { s.bytes -= old.answer.body.count + 128 }
            s.bytes += size
            while s.bytes > maxBytes, let oldest = s.answers.min(by: { $0.value.tick < $1.value.tick }) {
                s.answers.removeValue(forKey: oldest.key)
                s.bytes -= oldest.value.answer.body.count + 128
            }
        }
    }

    var count: Int { state.withLock { $0.answers.count } }
    var bytes: Int { state.withLock { $0.bytes } }
}

/// What `GET /stats` reports, and the analysis counters of `/metrics`.
public final class APIStatistics: Sendable {
    private struct State {
        var events = 0
        var records = 0
        var recordErrors = 0
        var anomaliesByDetector: [String: Int] = [:]
        var anomaliesBySeverity: [String: Int] = [:]
        var requests: [String: Int] = [:]
        var cacheHits = 0
        var cacheMisses = 0
    }
    private let state = Mutex(State())
    private let eventsCounter = Counter(label: "vigil_api_events_analyzed_total")
    private let cacheHits = Counter(label: "vigil_api_cache_total", dimensions: [("result", "hit")])
    private let cacheMisses = Counter(label: "vigil_api_cache_total", dimensions: [("result", "miss")])
    let started = ContinuousClock.now

    func analysed(events: Int, records: Int, errors: Int) {
        state.withLock {
            $0.events += events
            $0.records += records
            $0.recordErrors += errors
        }
        eventsCounter.increment(by: events)
    }

    func anomaly(_ anomaly: Anomaly) {
        state.withLock {
            $0.anomaliesByDetector[anomaly.detector.rawValue, default: 0] += 1
            $0.anomaliesBySeverity[anomaly.severity.rawValue, default: 0] += 1
        }
        Counter(
            label: "vigil_api_anomalies_total",
            dimensions: [("detector", anomaly.detector.rawValue), ("severity", anomaly.severity.rawValue)]
        ).increment()
    }

    func request(route: String) { state.withLock { $0.requests[route, default: 0] += 1 } }

    func cache(hit: Bool) {
        state.withLock { if hit { $0.cacheHits += 1 } else { $0.cacheMisses += 1 } }
        (hit ? cacheHits : cacheMisses).increment()
    }

    public func write(to w: inout JSONWriter) {
        let s = state.withLock { $0 }
        w.field("events_analyzed", s.events)
        w.field("records", s.records)
        w.field("record_errors", s.recordErrors)
        w.field("anomalies_detected", s.anomaliesByDetector.values.reduce(0, +))
        w.key("anomalies_by_detector")
        w.objectValue { w in for (k, v) in s.anomaliesByDetector.sorted(by: { $0.key < $1.key }) { w.field(k, v) } }
        w.key("anomalies_by_severity")
        w.objectValue { w in for (k, v) in s.anomaliesBySeverity.sorted(by: { $0.key < $1.key }) { w.field(k, v) } }
        w.key("requests")
        w.objectValue { w in for (k, v) in s.requests.sorted(by: { $0.key < $1.key }) { w.field(k, v) } }
        w.key("cache")
        w.objectValue { w in
            w.field("hits", s.cacheHits)
            w.field("misses", s.cacheMisses)
        }
    }
}

/// At most `count` analyses at once (`workers`); the others wait, first come first served.
final class AnalysisSlots: Sendable {
    private let state: Mutex<(free: Int, waiting: [CheckedContinuation<Void, Never>])>

    init(_ count: Int) { state = Mutex((max(1, count), [])) }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { s -> Bool in
                guard s.free > 0 else {
                    s.waiting.append(continuation)
                    return false
                }
                s.free -= 1
                return true
            }
            if admitted { continuation.resume() }
        }
    }

    func release() {
        // A freed slot goes straight to the first waiter.
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty {
                s.free += 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        next?.resume()
    }
}
