/// The one rule for every option that takes a number of seconds (`-w`, `--kill-after`,
/// `selftest --seconds`): a decimal number, fractions allowed, within the option's
/// range; anything else is a usage error (64) that names the range.
///
/// `inf`, `nan` and numbers too large for a `Duration` (`1e30`) are refused like
/// any number out of range, rather than read as "forever": leaving `-w` out is
/// how to wait forever, and a typing slip should not be taken for that.
enum SecondsArgument {
    /// The longest `-w` accepted: 10^9 seconds, about 31 years.
    static let longestWait: Double = 1_000_000_000

    /// `value` when it lies in `range`, else the usage error for `option`.
    ///
    /// - Parameter example: a value to show in the message (`-w 2.5`).
    static func checked(
        _ value: Double, option: String, range: ClosedRange<Double>, example: String
    ) throws(UsageError) -> Double {
        guard value.isFinite, range.contains(value) else {
            throw UsageError(
                "\(option) takes a number of seconds from \(number(range.lowerBound)) to \(number(range.upperBound)) "
                    + "(e.g. \(example)), not \(text(value))")
        }
        return value
    }

    /// The `-w` rule of `exec` and `wait`.
    static func checkedWait(_ value: Double) throws(UsageError) -> Double {
        do throws(UsageError) {
            return try checked(value, option: "-w", range: 0...longestWait, example: "-w 2.5")
        } catch {
            throw UsageError(error.message + "; leave -w out to wait forever")
        }
    }

    /// A bound as people write it: `0`, `0.1`, `86400`, `1000000000`.
    private static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int64(value)) : String(value)
    }

    /// The value as given, as closely as a Double can say it: `-1`, `1e+30`, `inf`.
    private static func text(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
