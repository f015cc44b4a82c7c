/// Order statistics of a set of samples (nanoseconds, or any unit).
///
/// Percentiles are nearest-rank, so every reported value is a real sample.
struct Summary: Codable {
    var count: Int
    var median: Double
    var p99: Double
    var minimum: Double
    var maximum: Double

    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        func rank(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let index = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(index, 0), sorted.count - 1)]
        }
        median = rank(0.5)
        p99 = rank(0.99)
        minimum = sorted.first ?? .nan
        maximum = sorted.last ?? .nan
    }
}
