import Glibc
import RVFLock
import CRVFLockCommandShims

/// The processes of this PID namespace as /proc shows them: who is whose
/// child, to find every process that COMMAND started, however deep.
///
/// rvf-lock is a child subreaper, so a process it started never stops being
/// its descendant while rvf-lock lives: orphans are reparented to it (or to a
/// subreaper below it), never above it. Read only when rvf-lock must name,
/// signal or wait for such processes, never on the common path.
struct ProcessTable {
    /// One process, as its /proc/PID/stat says.
    struct Entry: Equatable {
        let pid: pid_t
        let parent: pid_t
        let processGroup: pid_t
        /// Clock ticks after boot: with the pid, names the process uniquely.
        let startTime: UInt64
        /// The command name (at most 15 bytes, as the kernel keeps it).
        let name: String

        /// "4242 (python3)".
        var description: String { "\(pid) (\(name))" }
    }

    let entries: [Entry]

    /// Reads every process's /proc/PID/stat.
    static func snapshot() -> ProcessTable {
        var entries: [Entry] = []
        for name in Syscalls.directoryNames(atPath: "/proc") ?? [] {
            guard let pid = pid_t(name), let entry = entry(pid) else { continue }
            entries.append(entry)
        }
        return ProcessTable(entries: entries)
    }

    /// Every descendant of `root` (not `root` itself), parents before children.
    func descendants(of root: pid_t) -> [Entry] {
        var children: [pid_t: [Entry]] = [:]
        for entry in entries { children[entry.parent, default: []].append(entry) }
        var found: [Entry] = []
        var queue = children[root] ?? []
        while !queue.isEmpty {
            let entry = queue.removeFirst()
            found.append(entry)
            queue += children[entry.pid] ?? []
        }
        return found
    }

    /// Whether `pid` is `ancestor` or one of its descendants, following parents
    /// in /proc now (false if `pid` is gone and already reaped).
    static func isDescendant(_ pid: pid_t, of ancestor: pid_t) -> Bool {
        var current = pid
        for _ in 0..<256 {
            if current == ancestor { return true }
            guard current > 1, let entry = entry(current) else { return false }
            current = entry.parent
        }
        return false
    }

    /// The entry of `pid`, or nil if it is gone.
    static func entry(_ pid: pid_t) -> Entry? {
        guard let stat = ProcessStat.read(pid) else { return nil }
        return Entry(pid: pid, parent: stat.parent, processGroup: stat.processGroup, startTime: stat.startTicks, name: stat.name)
    }

    /// Sends `signal` to the process `entry` names, and to no other: through a
    /// pidfd opened after checking the start time, so a pid reused meanwhile is
    /// never hit. Returns 0, ESRCH if the process is gone, or kill's errno (EPERM).
    static func send(_ signal: CInt, to entry: Entry) -> CInt {
        let pidfd = rvf_pidfd_open(entry.pid)
        guard pidfd >= 0 else {
            if errno == ESRCH { return ESRCH }
            // No pidfds (before Linux 5.3): a plain kill, after the same check.
            guard Self.entry(entry.pid)?.startTime == entry.startTime else { return ESRCH }
            return kill(entry.pid, signal) == 0 ? 0 : errno
        }
        defer { close(pidfd) }
        guard Self.entry(entry.pid)?.startTime == entry.startTime else { return ESRCH }
        return rvf_pidfd_send_signal(pidfd, signal) == 0 ? 0 : errno
    }
}
