import Glibc
import CRVFLockCommandShims

/// COMMAND, as rvf-lock signals it: its pid, and a pidfd that the keeper opened
/// before it could reap COMMAND and handed over with its report.
///
/// COMMAND is the keeper's child, not rvf-lock's: once the keeper reaps it, its
/// pid is free for another process. The pidfd keeps naming COMMAND (a signal
/// through it after COMMAND ended fails with ESRCH), without /proc, which may
/// be missing or hide other users' processes.
final class CommandProcess {
    let pid: pid_t
    /// -1 where the kernel has no pidfds (before Linux 5.3): then a plain kill,
    /// which can miss only in the moment between the keeper's reap and its report.
    private let pidfd: CInt

    /// Takes over `pidfd`.
    init(pid: pid_t, pidfd: CInt) {
        self.pid = pid
        self.pidfd = pidfd
    }

    deinit {
        if pidfd >= 0 { close(pidfd) }
    }

    /// Sends `signal` to COMMAND; whether it was sent (false once COMMAND has ended
    /// and been reaped, or when rvf-lock may not signal it).
    @discardableResult
    func send(_ signal: CInt) -> Bool {
        pidfd >= 0 ? rvf_pidfd_send_signal(pidfd, signal) == 0 : kill(pid, signal) == 0
    }
}
