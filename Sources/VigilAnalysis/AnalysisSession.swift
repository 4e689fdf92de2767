import VigilDetection

/// One engine's worth of analysis: inputs are fed in order and the engine's event-time state
/// carries over from one to the next (a log sent in chunks gives the anomalies of the whole).
///
/// Synchronous and single-threaded, like the engine; ``Analyzer`` runs one as an
/// `AsyncSequence`. Memory stays bounded: the engine's state is bounded, inputs are read in
/// steps, and only the first ``maxErrors`` unreadable records are kept (the rest are counted).
public struct AnalysisSession: Sendable {
    public private(set) var engine: DetectionEngine
    public private(set) var summary: AnalysisSummary
    /// Unreadable records kept across all inputs (the rest are only counted).
    public let maxErrors: Int
    public let limits: ReadLimits
    private var keptErrors = 0

    /// `modelName` names the model in summaries (its directory).
    public init(
        model: DetectionModel?, modelName: String? = nil, detection: DetectionConfig = .default,
        maxErrors: Int = 1_000, limits: ReadLimits = ReadLimits()
    ) {
        engine = DetectionEngine(config: detection, model: model)
        summary = AnalysisSummary(model: model == nil ? nil : modelName ?? "trained model")
        self.maxErrors = max(0, maxErrors)
        self.limits = limits
    }

    /// Reads and analyses a whole input, calling `emit` with each anomaly as it is found.
    /// An input that cannot be read, or not to its end, is recorded in its summary (and what
    /// was read is analysed); it never stops the session.
    @discardableResult
    public mutating func analyze(_ input: LogInput, emit: (Anomaly) -> Void) -> InputSummary {
        analyze(input, until: { false }, emit: emit)
    }

    /// Like ``analyze(_:emit:)``, asking `stop` between steps (a chunk of about
    /// ``ReadLimits/chunkBytes``): once it says true the input is left there, its summary's
    /// failure saying so (a server's request deadline).
    @discardableResult
    public mutating func analyze(_ input: LogInput, until stop: () -> Bool, emit: (Anomaly) -> Void) -> InputSummary {
        var reading = InputAnalysis(input, limits: limits)
        while reading.step(&self, emit: emit) {
            if stop() {
                reading.stopped()
                break
            }
        }
        finish(reading.summary, since: reading.started)
        return reading.summary
    }

    /// Analyses events already parsed (a caller that reads its input itself), counting them
    /// under `summary`. The events are left as detection saw them (see
    /// ``DetectionEngine/process(_:)-(inout LogEvent)``): processed in place, not copied.
    public mutating func analyze(
        _ parsed: inout ParsedInput, into inputSummary: inout InputSummary,
        emit: (Anomaly) -> Void
    ) {
        inputSummary.records += parsed.records
        inputSummary.events += parsed.events.count
        inputSummary.errorCount += parsed.errors.count
        for error in parsed.errors where keptErrors < maxErrors {
            inputSummary.errors.append(error)
            keptErrors += 1
        }
        let lateBefore = engine.statistics.lateEvents
        // In place: iterating the array, or passing an element on from a buffer pointer, would
        // copy (retain and release) each event.
        parsed.events.withUnsafeMutableBufferPointer { events in
            for index in events.indices {
                for anomaly in engine.process(&events[index]) {
                    inputSummary.anomalies += 1
                    summary.anomaliesByDetector[anomaly.detector, default: 0] += 1
                    summary.anomaliesBySeverity[anomaly.severity, default: 0] += 1
                    emit(anomaly)
                }
            }
        }
        summary.lateEvents += engine.statistics.lateEvents - lateBefore
    }

    /// Adds a finished input to the summary.
    public mutating func finish(_ inputSummary: InputSummary, since started: ContinuousClock.Instant) {
        summary.inputs.append(inputSummary)
        summary.duration += ContinuousClock.now - started
    }

    /// Swaps the model, keeping the windows in progress (see ``DetectionEngine/replaceModel(_:config:)``).
    public mutating func replaceModel(_ model: DetectionModel?, name: String?, detection: DetectionConfig = .default) {
        engine.replaceModel(model, config: detection)
        summary.model = model == nil ? nil : name ?? "trained model"
    }

    /// The engine's state as bytes, to continue later (see ``DetectionEngine/snapshot()``).
    public func snapshot() -> [UInt8] { engine.snapshot() }

    /// Continues from a snapshot; on error the session is unchanged.
    public mutating func restore(_ bytes: [UInt8]) throws(ModelError) { try engine.restore(bytes) }
}

/// One input being analysed, a step (a chunk of the input) at a time: what both the whole-input
/// call and the asynchronous run iterate.
struct InputAnalysis {
    private(set) var summary: InputSummary
    let started = ContinuousClock.now
    private var reader: InputReader?
    private var parsed = ParsedInput()

    /// Opens the input; one that cannot be opened is finished at once, its summary saying why.
    init(_ input: LogInput, limits: ReadLimits) {
        summary = InputSummary(name: input.name)
        do {
            let reader = try InputReader(input, limits: limits)
            summary.compressed = reader.isCompressed
            self.reader = reader
        } catch {
            summary.failure = error.reason
        }
    }

    /// Leaves the input unfinished, saying so.
    mutating func stopped() {
        reader = nil
        summary.failure = "stopped before the end (deadline)"
    }

    /// Reads and analyses the next step; false once the input is done (read to its end, or
    /// failed — what was read before a failure is analysed).
    mutating func step(_ session: inout AnalysisSession, emit: (Anomaly) -> Void) -> Bool {
        guard var reader else { return false }
        var more = false
        do {
            more = try reader.next(into: &parsed)
        } catch {
            summary.failure = error.reason
        }
        session.analyze(&parsed, into: &summary, emit: emit)
        summary.bytes = reader.bytesRead
        self.reader = more && summary.failure == nil ? reader : nil
        return self.reader != nil
    }
}
