extension Int64 {
    /// Adds without trapping: times and counts derived from input saturate at the ends of the
    /// range instead of overflowing (a record dated near `Int64.max` must not crash anything).
    func addingSaturated(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// Subtracts without trapping (see ``addingSaturated(_:)``).
    func subtractingSaturated(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }
}
