import Glibc
import CRVFLockCommandShims
import RVFLockCommandLine

/// Catches the signals that rvf-lock passes on to COMMAND, and SIGCHLD, as
/// records on a channel that the main thread reads: who sent what, and how.
///
/// The handlers (in C) only `write(2)` a record, so they are safe whichever
/// thread the kernel delivers a signal to (the library's monitor runs on a
/// thread of its own). The same channel carries a record for "the lock was lost",
/// written by the library's loss handler, and the keeper's reports about
/// COMMAND (see ``CommandKeeper``), so the main thread sleeps in one `poll`. It is
/// a socket pair (`rvf_event_channel`), not a pipe, so that the keeper's report
/// of COMMAND's start can carry a pidfd on COMMAND.
struct SignalRelay {
    /// What arrived.
    enum Event: Equatable {
        /// A signal to pass on: its number, whether a process sent it (kill(2),
        /// sigqueue) rather than the kernel (a terminal's keys or hangup), and the sender.
        case signal(CInt, sentByProcess: Bool, sender: pid_t)
        /// A child changed state: time to reap.
        case childChanged
        /// The library found the lock removed or replaced.
        case lockLost
        /// rvf-lock-etcd reported the etcd lease lost (and said why).
        case leaseLost
        /// The keeper started COMMAND, whose pid this is, and handed over a pidfd
        /// on it (-1 where the kernel has none), which the receiver must close.
        case commandStarted(pid_t, pidfd: CInt)
        /// The keeper could not start COMMAND: where (an `rvf_spawn_step`) and the errno.
        case commandFailed(step: CInt, errno: CInt)
        /// The keeper reaped COMMAND, which ended with this wait status.
        case commandExited(waitStatus: CInt)
        /// No descendant of COMMAND is left, and the keeper, which no longer holds
        /// the lock's descriptor, is exiting.
        case keeperDone
    }

    /// Signals passed on to COMMAND. SIGTSTP is handled apart (``stopSignal``).
    static let relayedSignals: [CInt] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM]
    /// Ctrl-Z, caught only when COMMAND runs in a process group of its own,
    /// to stop COMMAND's group along with rvf-lock.
    static let stopSignal = SIGTSTP

    private let readEnd: CInt
    private let writeEnd: CInt
    /// The signals COMMAND must start with at their default action (besides
    /// the ones with handlers here, which the spawner resets anyway).
    static let signalsToReset: [CInt] = [SIGPIPE]
    /// `exec --etcd`: the lease's holder, whose socket says when the lease is lost.
    var coordinator: EtcdCoordinator?

    /// Creates the channel; nothing is caught before ``installHandlers(catchingStop:)``,
    /// so that a signal that comes while rvf-lock waits for the lock acts as it would
    /// on any waiting process.
    init() throws(CommandFailure) {
        var ends: [CInt] = [-1, -1]
        guard rvf_event_channel(&ends) == 0 else {
            throw CommandFailure(
                ExitStatus.software, "cannot create a socket pair for relaying signals: \(String(cString: strerror(errno)))")
        }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    /// Installs the handlers, once the lock is held and before COMMAND starts.
    ///
    /// A relayed signal that rvf-lock inherited ignored (`nohup`; SIGINT and
    /// SIGQUIT for a background job of a script) stays ignored, for rvf-lock and
    /// for COMMAND, as that convention wants. SIGPIPE is ignored by rvf-lock
    /// (a message to a closed standard error must not kill the lock's holder)
    /// and reset to its default for COMMAND.
    func installHandlers(catchingStop: Bool) {
        var handled = [SIGCHLD]
        for signal in Self.relayedSignals where rvf_signal_is_ignored(signal) == 0 { handled.append(signal) }
        if catchingStop && rvf_signal_is_ignored(Self.stopSignal) == 0 { handled.append(Self.stopSignal) }
        for signal in handled { rvf_install_relay_handler(signal, writeEnd) }
        rvf_set_signal_ignored(SIGPIPE, 1)

        // A parent may start rvf-lock with these signals blocked (test runners,
        // some daemons); the handlers must still run, on this thread at least.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for signal in handled { sigaddset(&unblocked, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
    }

    /// The channel's end for writing, which the keeper inherits for its reports.
    var reportDescriptor: CInt { writeEnd }

    /// A function for the library's loss handler (any thread): wakes the main thread with ``Event/lockLost``.
    var lossNotifier: @Sendable () -> Void {
        let writeEnd = self.writeEnd
        return {
            var record = rvf_signal_record(signal: 0, code: 0, sender: 0, reserved: 0)
            _ = write(writeEnd, &record, MemoryLayout<rvf_signal_record>.size)
        }
    }

    /// Sleeps until something arrives or `milliseconds` pass (-1: no limit), and
    /// returns everything that arrived meanwhile, in order.
    func wait(milliseconds: Int32) -> [Event] {
        var events: [Event] = []
        if let coordinator, !coordinator.lossReported {
            var descriptors = [
                pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: coordinator.descriptor, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&descriptors, 2, milliseconds)
            if descriptors[1].revents != 0 && coordinator.reportsLoss() {
                coordinator.lossReported = true
                events.append(.leaseLost)
            }
        } else {
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, milliseconds)
        }
        var record = rvf_signal_record()
        var passed: CInt = -1
        // One record per message.
        while rvf_receive_event(readEnd, &record, &passed) == MemoryLayout<rvf_signal_record>.size {
            if record.signal == RVF_KEEPER_STARTED {
                events.append(.commandStarted(record.sender, pidfd: passed))
                continue
            }
            if passed >= 0 { close(passed) }
            switch record.signal {
            case 0: events.append(.lockLost)
            case SIGCHLD: events.append(.childChanged)
            case RVF_KEEPER_FAILED: events.append(.commandFailed(step: record.code, errno: record.sender))
            case RVF_KEEPER_EXITED: events.append(.commandExited(waitStatus: record.code))
            case RVF_KEEPER_DONE: events.append(.keeperDone)
            default: events.append(.signal(record.signal, sentByProcess: record.code <= 0, sender: record.sender))
            }
        }
        return events
    }
}
