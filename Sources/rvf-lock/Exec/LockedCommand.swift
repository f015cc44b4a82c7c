import Glibc
import RVFLock
import CRVFLockCommandShims
import RVFLockCommandLine

/// COMMAND and every process it starts, run while this process holds the lock.
///
/// Four things keep them from writing without the lock:
/// - COMMAND inherits the descriptor that holds the lock file's `flock()`, so the
///   kernel lock (which RVFLock contenders judge by) stays held while any process
///   that has it lives, even after rvf-lock is killed;
/// - between rvf-lock and COMMAND runs the keeper (``CommandKeeper``), a child
///   subreaper that keeps the descriptor too and exits only when no descendant
///   is left; the lock record names it, so the reference implementation, which
///   judges by the record's pid, also sees the lock alive exactly as long;
/// - rvf-lock is a child subreaper as well, so that the orphans of a keeper
///   killed by someone come back to it: `waitpid(-1)` failing with ECHILD proves
///   that no descendant is left, and only then is the lock released;
/// - when the lock is lost, every descendant gets SIGTERM, then SIGKILL.
///
/// Nothing ties the keeper or COMMAND to rvf-lock's life: killed, rvf-lock leaves
/// them to finish what they write.
struct LockedCommand {
    let options: ExecOptions

    /// How COMMAND (and what it started) ended.
    enum Outcome {
        /// All ended on their own (or of a passed-on signal): COMMAND's exit status.
        case finished(Int32)
        /// The lock was lost meanwhile; they were stopped. COMMAND's status, nil if
        /// it could not be stopped (it runs as another user).
        case lockLost(commandStatus: Int32?)
    }

    /// Starts COMMAND and supervises it and its descendants until none is left.
    func run(holding scope: LockScope, coordinator: EtcdCoordinator? = nil) throws(CommandFailure) -> Outcome {
        guard rvf_set_child_subreaper() == 0 else {
            throw CommandFailure(
                ExitStatus.unavailable,
                "cannot make rvf-lock a child subreaper (prctl PR_SET_CHILD_SUBREAPER: "
                    + "\(String(cString: strerror(errno)))); not running \(options.command[0]), "
                    + "since processes it starts could outlive the lock")
        }
        // As a terminal's job, COMMAND shares rvf-lock's process group, so that job
        // control and the terminal's keys work as with flock(1). Elsewhere (scripts
        // without a terminal, services, timeout(1)) it gets a group of its own, so that
        // a signal sent to rvf-lock's group reaches COMMAND only once, through rvf-lock
        // (see Documentation/rvf-lock.md, "Signals").
        let ownGroup = rvf_is_terminal_job() == 0
        var relay = try SignalRelay(catchingStop: ownGroup)
        scope.onLoss(relay.lossNotifier)
        relay.coordinator = coordinator
        guard let descriptor = scope.kernelLockDescriptor?.rawValue else {
            throw CommandFailure(ExitStatus.software, "the lock \(scope.lockFile) was released before \(options.command[0]) could start")
        }
        var keeper = try CommandKeeper(
            options.command, lockDescriptor: descriptor, commandGroup: ownGroup ? 0 : getpgrp(),
            resetSignals: relay.signalsToReset, reportDescriptor: relay.reportDescriptor)
        // Before COMMAND exists: from its first moment on, the record names a process
        // that lives as long as anything it starts.
        do throws(LockError) {
            try scope.writeRecord(naming: keeper.pid)
        } catch {
            keeper.abandon()
            throw CommandFailure(error)
        }
        let (command, pending) = try keeper.startCommand(relay: relay, command: options.command, file: options.file)
        coordinator?.tellCommandStarted()
        var supervision = CommandSupervision(
            command: command, keeper: keeper.pid, ownGroup: ownGroup, relay: relay,
            scope: scope, options: options)
        return supervision.run(pending: pending)
    }
}
