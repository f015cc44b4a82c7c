#if canImport(Glibc)
import Glibc
#endif

/// How hard the stress tests push: a short form by default, so that `swift test`
/// stays quick, and the full counts with `RVFLOCK_STRESS=1`, as CI's stress step
/// runs them (`.ci/run`). The short form checks the same behaviours, fewer times.
public enum Stress {
    /// Whether `RVFLOCK_STRESS=1` asked for the full counts.
    public static let isFull: Bool = getenv("RVFLOCK_STRESS").map { String(cString: $0) == "1" } ?? false

    /// `short` by default, `full` under `RVFLOCK_STRESS=1`.
    public static func count(short: Int, full: Int) -> Int { isFull ? full : short }
}
