import Glibc
import CRVFLockShims
import Synchronization
import SystemPackage

/// Which process a PID names now, as far as this process can tell: when it
/// started, and in which PID namespace the asking process lives.
///
/// A PID is reused once its process is gone, and after a reboot every PID names
/// a process of the new boot. A process that started after a lock record was
/// written cannot have written it. Start times come from `/proc/PID/stat`
/// (clock ticks since boot, suspend included) turned into wall-clock time with
/// the boot clock, which no wall-clock step disturbs; the record's timestamp is
/// wall-clock time as it was when written, so comparisons allow for a step.
///
/// `/proc` answers for the PID namespace it was mounted in, which need not be
/// this process's (a process in a new PID namespace without its own `/proc`):
/// then nothing is read from it, and nothing is known.
enum ProcessIdentity {
    /// When `pid`, in this process's PID namespace, started: clock ticks since boot;
    /// nil when it cannot be read (no such process, no `/proc`, or a `/proc` of another namespace).
    static func startTicks(of pid: pid_t) -> UInt64? {
        guard procShowsThisNamespace else { return nil }
        return ProcessStat.read(pid)?.startTicks
    }

    /// A start time in ticks since boot as wall-clock nanoseconds, by today's wall clock.
    static func wallClockNanoseconds(ofStartTicks ticks: UInt64) -> UInt64 {
        let perSecond = UInt64(max(1, rvf_clock_ticks_per_second()))
        let sinceBoot = ticks.multipliedReportingOverflow(by: 1_000_000_000 / perSecond).partialValue
        let bootedAgo = rvf_boot_clock_ns()
        let wallNow = Syscalls.wallClockNanoseconds()
        // Wall-clock time of the boot, by today's wall clock.
        let boot = wallNow &- min(wallNow, bootedAgo)
        return boot &+ sinceBoot
    }

    /// This process's own start, and its PID namespace, as written into its writer ids.
    struct Own: Sendable {
        let pid: pid_t
        let startTicks: UInt64?
        let pidNamespace: UInt64?
    }

    private static let own = Mutex<Own?>(nil)

    /// This process's start and PID namespace, read once per process (a forked child reads its own).
    static var current: Own {
        own.withLock { own in
            let pid = Syscalls.processID
            if let own, own.pid == pid { return own }
            let made = Own(pid: pid, startTicks: startTicks(of: pid), pidNamespace: pidNamespace)
            own = made
            return made
        }
    }

    /// The inode of this process's PID namespace (`/proc/self/ns/pid`), which names it on this boot.
    static var pidNamespace: UInt64? {
        guard let info = try? Syscalls.statFollowing(FilePath("/proc/self/ns/pid")) else { return nil }
        return UInt64(info.st_ino)
    }

    /// Whether `/proc` shows this process's PID namespace: its `self` is this process.
    /// Looked at once per process (a forked child looks again).
    static var procShowsThisNamespace: Bool {
        procCheck.withLock { known in
            let pid = Syscalls.processID
            if let known, known.pid == pid { return known.shows }
            let shows = (try? Syscalls.readLink(FilePath("/proc/self")))?.string == String(pid)
            known = (pid, shows)
            return shows
        }
    }

    private static let procCheck = Mutex<(pid: pid_t, shows: Bool)?>(nil)
}
