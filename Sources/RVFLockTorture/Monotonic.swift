#if canImport(Glibc)
import Glibc
#endif
import RVFLock

/// The clocks the workers stamp their events with: the library's own (CLOCK_MONOTONIC,
/// one clock for every process on the machine, also across PID and UTS namespaces,
/// so timestamps from different workers can be compared; and the wall clock, as
/// lock records store it).
enum Monotonic {
    /// Nanoseconds since an arbitrary point fixed at boot.
    static func now() -> UInt64 { Syscalls.monotonicNanoseconds() }

    /// Wall-clock nanoseconds since the UNIX epoch, as lock records store them.
    static func wallClock() -> UInt64 { Syscalls.wallClockNanoseconds() }

    /// Sleeps for `nanoseconds`, resuming after signals.
    static func sleep(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    static func milliseconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1_000_000 }
}
