extension FixedWidthInteger {
    /// Adds without trapping: times and counts derived from input saturate at the ends of the
    /// range instead of overflowing (a record dated near `Int64.max` must not crash anything).
    public func addingSaturated(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }

    /// Subtracts without trapping (see ``addingSaturated(_:)``).
    public func subtractingSaturated(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        guard overflow else { return difference }
        return other < 0 ? .max : .min
    }
}
