/// Counters a front end can report (metrics, summaries).
public struct EngineStatistics: Sendable, Hashable {
    public var events = 0
    /// Events further behind the latest event time than the allowed lateness: checked by the
    /// stateless detectors, not counted in windows.
    public var lateEvents = 0
    public var anomalies: [DetectorKind: Int] = [:]
    /// Alerts held back because the same detector had just reported the same entity.
    public var suppressed = 0
    /// Entities dropped from bounded state to keep memory flat.
    public var evictions = 0
    /// Events a repartitioned stream delivered again (an upstream replay), skipped.
    public var duplicates = 0
    /// Events a repartitioned stream delivered that did not decode when their turn came
    /// (skipped; their arrival check passed).
    public var malformed = 0
}

/// What the engine measured for one event; the trainer calibrates thresholds from these.
struct Observation {
    var pairFailures = 0
    var sourceDistinctUsers = 0
    var userDistinctSources = 0
    var sourceUnknownUsers = 0
    var privilegedFailures = 0
    var failuresBeforeSuccess = 0
    /// Share of the user's activity near this hour, when the profile has enough history.
    var hourShare: Double? = nil
    var features: FeatureVector? = nil
    var volumeZ: [Double] = []
}
