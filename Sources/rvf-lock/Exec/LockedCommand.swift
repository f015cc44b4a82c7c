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
///
/// Made in one of two orders. Where rvf-lock must wait for the lock, the event
/// channel and the keeper are made before the wait (``init(options:)``), so that
/// what a handoff waits for after the lock is COMMAND's start alone. Where the
/// lock was free, everything is made once it is held
/// (``run(options:holding:)``), with the keeper's fork as late as can be: after
/// a fork, every page this process writes is copied first.
struct LockedCommand: ~Copyable {
    let options: ExecOptions
    private let relay: SignalRelay
    private var keeper: CommandKeeper

    /// How COMMAND (and what it started) ended.
    enum Outcome {
        /// All ended on their own (or of a passed-on signal): COMMAND's exit status.
        case finished(Int32)
        /// The lock was lost meanwhile; they were stopped. COMMAND's status, nil if
        /// it could not be stopped (it runs as another user).
        case lockLost(commandStatus: Int32?)
    }

    /// Starts the keeper before the lock is held; it waits for
    /// ``run(holding:coordinator:)`` (or for ``abandon()``, or the end of this
    /// value, then exits without starting COMMAND).
    init(options: ExecOptions) throws(CommandFailure) {
        let relay = try SignalRelay()
        let keeper = try CommandKeeper(
            options.command, resetSignals: SignalRelay.signalsToReset, reportDescriptor: relay.reportDescriptor)
        self.options = options
        self.relay = relay
        self.keeper = keeper
    }

    /// Gives up without starting COMMAND (the lock was not taken): the keeper
    /// exits, and this waits until it has, so that nothing of this `exec` outlives it.
    consuming func abandon() {
        keeper.abandon()
    }

    /// Starts COMMAND through the keeper made before the wait, and supervises it
    /// and its descendants until none is left.
    consuming func run(holding scope: LockScope, coordinator: EtcdCoordinator? = nil) throws(CommandFailure) -> Outcome {
        let charge: Charge
        do throws(CommandFailure) {
            charge = try Self.takeCharge(of: scope, relay: relay, coordinator: coordinator, command: options.command[0])
        } catch {
            keeper.abandon()
            throw error
        }
        return try Self.start(&keeper, charge, scope: scope, coordinator: coordinator, options: options)
    }

    /// Starts COMMAND under a lock that was free (no keeper yet), and supervises it
    /// and its descendants until none is left.
    static func run(options: ExecOptions, holding scope: LockScope) throws(CommandFailure) -> Outcome {
        let relay = try SignalRelay()
        let charge = try takeCharge(of: scope, relay: relay, coordinator: nil, command: options.command[0])
        var keeper = try CommandKeeper(
            options.command, resetSignals: SignalRelay.signalsToReset, reportDescriptor: relay.reportDescriptor)
        return try start(&keeper, charge, scope: scope, coordinator: nil, options: options)
    }

    /// What rvf-lock has set up once it holds the lock, before COMMAND starts.
    private struct Charge {
        let relay: SignalRelay
        let ownGroup: Bool
        let lockDescriptor: CInt
    }

    /// Once the lock is held and before COMMAND starts: rvf-lock becomes a subreaper,
    /// passes signals on from then on, and hears of the lock's loss.
    private static func takeCharge(
        of scope: LockScope, relay: SignalRelay, coordinator: EtcdCoordinator?, command: String
    ) throws(CommandFailure) -> Charge {
        guard rvf_set_child_subreaper() == 0 else {
            throw CommandFailure(
                ExitStatus.unavailable,
                "cannot make rvf-lock a child subreaper (prctl PR_SET_CHILD_SUBREAPER: "
                    + "\(String(cString: strerror(errno)))); not running \(command), "
                    + "since processes it starts could outlive the lock")
        }
        // As a terminal's job, COMMAND shares rvf-lock's process group, so that job
        // control and the terminal's keys work as with flock(1). Elsewhere (scripts
        // without a terminal, services, timeout(1)) it gets a group of its own, so that
        // a signal sent to rvf-lock's group reaches COMMAND only once, through rvf-lock
        // (see Documentation/rvf-lock.md, "Signals").
        let ownGroup = rvf_is_terminal_job() == 0
        var relay = relay
        relay.installHandlers(catchingStop: ownGroup)
        scope.onLoss(relay.lossNotifier)
        relay.coordinator = coordinator
        guard let descriptor = scope.kernelLockDescriptor?.rawValue else {
            throw CommandFailure(ExitStatus.software, "the lock \(scope.lockFile) was released before \(command) could start")
        }
        return Charge(relay: relay, ownGroup: ownGroup, lockDescriptor: descriptor)
    }

    private static func start(
        _ keeper: inout CommandKeeper, _ charge: Charge, scope: LockScope, coordinator: EtcdCoordinator?, options: ExecOptions
    ) throws(CommandFailure) -> Outcome {
        // Before COMMAND exists: from its first moment on, the record names a process
        // that lives as long as anything it starts.
        do throws(LockError) {
            try scope.writeRecord(naming: keeper.pid)
        } catch {
            keeper.abandon()
            throw CommandFailure(error)
        }
        let (command, pending) = try keeper.startCommand(
            lockDescriptor: charge.lockDescriptor, commandGroup: charge.ownGroup ? 0 : getpgrp(),
            environment: coordinator?.environmentForCommand ?? [], relay: charge.relay,
            command: options.command, file: options.file)
        coordinator?.tellCommandStarted()
        var supervision = CommandSupervision(
            command: command, keeper: keeper.pid, ownGroup: charge.ownGroup, relay: charge.relay,
            scope: scope, options: options)
        return supervision.run(pending: pending)
    }
}
