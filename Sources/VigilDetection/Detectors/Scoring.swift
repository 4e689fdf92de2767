#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Scores and the wording of numbers in summaries, shared by the detectors.

/// 0.5 at the threshold, rising towards 1 as the count grows past it.
func excess(_ count: Int, _ threshold: Int) -> Double {
    guard count > 0 else { return 0 }
    return min(1, 0.5 + 0.5 * (1 - Double(threshold) / Double(count)))
}

/// Three decimals: scores and evidence stay short and stable in JSON.
func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

/// "120 s".
func seconds(_ milliseconds: Int64) -> String { "\(milliseconds / 1000) s" }

/// "12%", "0.5%".
func percent(_ share: Double) -> String {
    let value = share * 100
    return value >= 10 ? "\(Int(value.rounded()))%" : "\((value * 10).rounded() / 10)%"
}

/// A count on a log scale, 1 at `ceiling` (an outlier feature).
func scaled(_ count: Int, _ ceiling: Int) -> Float {
    Float(min(1, log1p(Double(count)) / log1p(Double(ceiling))))
}

/// The first few names, then "…".
func sample(_ names: [String], limit: Int = 5) -> String {
    names.count <= limit ? names.joined(separator: ", ") : names.prefix(limit).joined(separator: ", ") + ", …"
}
