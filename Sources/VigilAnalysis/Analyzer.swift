import VigilDetection

/// What an analysis run yields, in order: anomalies as they are found, each input's summary
/// when it is done, and the whole run's summary last.
public enum AnalysisItem: Sendable {
    case anomaly(Anomaly)
    case inputFinished(InputSummary)
    case finished(AnalysisSummary)
}

/// The analysis library's entry point: a model (or none: rules and online baselines) and a
/// configuration; ``run(_:)`` analyses inputs with one engine, state carrying across them.
///
/// `vigil analyze`, the batch processor, the REST API and the MCP server all analyse through
/// this type (or the ``AnalysisSession`` under it), so they find the same anomalies.
public struct Analyzer: Sendable {
    public var model: DetectionModel?
    /// How summaries name the model (its directory).
    public var modelName: String?
    public var detection: DetectionConfig
    public var limits: ReadLimits
    /// Unreadable records kept per run (the rest are counted).
    public var maxErrors: Int

    public init(
        model: DetectionModel? = nil, modelName: String? = nil, detection: DetectionConfig = .default,
        limits: ReadLimits = ReadLimits(), maxErrors: Int = 1_000
    ) {
        self.model = model
        self.modelName = modelName
        self.detection = detection
        self.limits = limits
        self.maxErrors = maxErrors
    }

    /// A fresh session with this analyzer's model and settings.
    public func session() -> AnalysisSession {
        AnalysisSession(model: model, modelName: modelName, detection: detection, maxErrors: maxErrors, limits: limits)
    }

    /// Analyses `inputs` in order. The sequence reads its inputs as it is iterated: nothing is
    /// read ahead, so a slow consumer holds back reading instead of buffering anomalies.
    public func run(_ inputs: [LogInput]) -> AnalysisRun { AnalysisRun(session: session(), inputs: inputs) }

    /// Analyses `inputs` and returns every anomaly with the summary (for small inputs: a
    /// request body, a test).
    public func analyze(_ inputs: [LogInput]) -> (anomalies: [Anomaly], summary: AnalysisSummary) {
        var session = session()
        var anomalies: [Anomaly] = []
        for input in inputs { session.analyze(input) { anomalies.append($0) } }
        return (anomalies, session.summary)
    }
}

/// The anomalies and summaries of an analysis, as an `AsyncSequence` (see ``Analyzer/run(_:)``).
public struct AnalysisRun: AsyncSequence, Sendable {
    public typealias Element = AnalysisItem

    let session: AnalysisSession
    let inputs: [LogInput]

    public func makeAsyncIterator() -> Iterator { Iterator(session: session, inputs: inputs) }

    /// Reads one step of an input per call when it has nothing pending.
    public struct Iterator: AsyncIteratorProtocol {
        private var session: AnalysisSession
        private var inputs: [LogInput]
        private var position = 0
        private var current: InputAnalysis? = nil
        private var pending: [AnalysisItem] = []
        private var pendingIndex = 0
        private var done = false

        init(session: AnalysisSession, inputs: [LogInput]) {
            self.session = session
            self.inputs = inputs
        }

        public mutating func next() async -> AnalysisItem? {
            while true {
                if pendingIndex < pending.count {
                    defer { pendingIndex += 1 }
                    return pending[pendingIndex]
                }
                pending.removeAll(keepingCapacity: true)
                pendingIndex = 0
                if done { return nil }
                step()
            }
        }

        /// Fills `pending` with what the next step of reading gives.
        private mutating func step() {
            guard var reading = current else {
                guard position < inputs.count else {
                    done = true
                    pending.append(.finished(session.summary))
                    return
                }
                current = InputAnalysis(inputs[position], limits: session.limits)
                position += 1
                return
            }
            let more = reading.step(&session) { pending.append(.anomaly($0)) }
            if more {
                current = reading
            } else {
                current = nil
                session.finish(reading.summary, since: reading.started)
                pending.append(.inputFinished(reading.summary))
            }
        }
    }
}
