import Foundation

/// Number formatting for the markdown report.
enum Format {
    static func duration(_ nanoseconds: Double) -> String {
        guard nanoseconds.isFinite else { return "n/a" }
        if nanoseconds >= 1e9 { return String(format: "%.2f s", nanoseconds / 1e9) }
        if nanoseconds >= 1e6 { return String(format: "%.2f ms", nanoseconds / 1e6) }
        if nanoseconds >= 1e3 { return String(format: "%.1f µs", nanoseconds / 1e3) }
        return String(format: "%.0f ns", nanoseconds)
    }

    /// A configured length of time: "0.5 s", "10 s".
    static func seconds(_ value: Double) -> String {
        String(format: "%g s", value)
    }

    static func ratio(_ value: Double) -> String {
        value.isFinite ? String(format: "%.2f×", value) : "n/a"
    }

    static func percent(_ fraction: Double) -> String {
        String(format: "%.3f %%", fraction * 100)
    }

    static func count(_ value: Double) -> String {
        let rounded = Int(value.rounded())
        let digits = String(abs(rounded))
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(digit)
        }
        return (rounded < 0 ? "-" : "") + grouped
    }

    static func bytes(_ value: Double) -> String {
        if abs(value) >= 1024 * 1024 { return String(format: "%.1f MiB", value / 1024 / 1024) }
        if abs(value) >= 1024 { return String(format: "%.1f KiB", value / 1024) }
        return String(format: "%.0f B", value)
    }

    static func met(_ value: Bool?) -> String {
        switch value {
        case true?: "yes"
        case false?: "**no**"
        case nil: "n/a"
        }
    }
}
