import Glibc
import CRVFLockCommandShims
import RVFLockCommandLine

/// The keeper: a process between rvf-lock and COMMAND that holds the lock's
/// descriptor and lives exactly as long as anything COMMAND started, so that the
/// lock record can name a process that does (see Documentation/rvf-lock.md,
/// "The guarantee").
///
/// rvf-lock forks it (in C, `rvf_start_keeper`; it runs no Swift) before it takes
/// the lock, so that the fork is not part of a handoff; once the lock is held it
/// writes the keeper's pid into the lock record, and only then sends it the go
/// message with the lock's descriptor. The keeper is a child subreaper: it reaps
/// every descendant, reports COMMAND's start and end on the supervision's event
/// channel, and exits when none is left. Nothing ties either of them to
/// rvf-lock's life: if rvf-lock is killed, COMMAND and what it started run to
/// completion, holding the lock, and the record's pid stays alive until the last
/// of them ends; killed before the go message, it leaves a keeper that exits at once.
struct CommandKeeper: ~Copyable {
    let pid: pid_t
    /// rvf-lock's end of the go channel: the go message lets the keeper start
    /// COMMAND; closed without one, it makes the keeper exit.
    private var goDescriptor: CInt

    /// Forks the keeper, which waits for ``startCommand(lockDescriptor:commandGroup:environment:relay:command:file:)``.
    ///
    /// - Parameters:
    ///   - resetSignals: signals COMMAND starts with at their default action even
    ///     if rvf-lock ignores them.
    ///   - reportDescriptor: where the keeper writes its reports (``SignalRelay/reportDescriptor``).
    init(_ command: [String], resetSignals: [CInt], reportDescriptor: CInt) throws(CommandFailure) {
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var go: CInt = -1
        var failure: CInt = 0
        let keeper = argv.withUnsafeBufferPointer { arguments in
            arguments.withMemoryRebound(to: UnsafePointer<CChar>?.self) { arguments in
                resetSignals.withUnsafeBufferPointer { signals in
                    rvf_start_keeper(
                        arguments.baseAddress, ExecOptions.descriptorVariable, signals.baseAddress, CInt(signals.count),
                        reportDescriptor, &go, &failure)
                }
            }
        }
        guard keeper > 0 else {
            let reason = String(cString: strerror(failure))
            if failure == ENOSYS {
                throw CommandFailure(
                    ExitStatus.unavailable,
                    "cannot contain \(command[0]) here (\(reason)): rvf-lock exec needs Linux's child subreapers; "
                        + "not running it, since processes it starts could outlive the lock")
            }
            throw CommandFailure(
                ExitStatus.software,
                "cannot start \(command[0]) (fork: \(reason)); the system may be out of processes or memory")
        }
        pid = keeper
        goDescriptor = go
    }

    deinit {
        if goDescriptor >= 0 { close(goDescriptor) }
    }

    /// Lets the keeper start COMMAND, and waits for its report.
    ///
    /// Call it once the record names the keeper and the relay's handlers are
    /// installed. Returns COMMAND, and the events that arrived meanwhile (signals
    /// to pass on), in order.
    ///
    /// - Parameters:
    ///   - lockDescriptor: the lock's descriptor, which the keeper keeps and COMMAND
    ///     inherits (finding it in `RVF_LOCK_FD`).
    ///   - commandGroup: 0 for COMMAND to lead a process group of its own, or the
    ///     group it joins (rvf-lock's, for a terminal's job).
    ///   - environment: `NAME=value` entries COMMAND gets besides rvf-lock's environment.
    mutating func startCommand(
        lockDescriptor: CInt, commandGroup: pid_t, environment: [String],
        relay: SignalRelay, command: [String], file: String
    ) throws(CommandFailure) -> (CommandProcess, [SignalRelay.Event]) {
        var entries: [UInt8] = []
        for entry in environment {
            entries += entry.utf8
            entries.append(0)
        }
        let sent = entries.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) {
                rvf_keeper_go(goDescriptor, lockDescriptor, commandGroup, $0.baseAddress, $0.count)
            }
        }
        // Fails with EPIPE or ECONNRESET only if the keeper is gone: its report or its exit says why.
        if sent != 0 && errno == E2BIG {
            abandon()
            let names = environment.map { $0.prefix { $0 != "=" } }.joined(separator: ", ")
            throw CommandFailure(
                ExitStatus.software,
                "the variables rvf-lock sets for \(command[0]) (\(names)) take \(entries.count) bytes, more than the 4096 "
                    + "its keeper can pass on; not running it (a shorter RVF_LOCK_ETCD_PREFIX shortens the key)")
        }
        close(goDescriptor)
        goDescriptor = -1
        var pending: [SignalRelay.Event] = []
        // Its end before the handlers existed left no SIGCHLD record.
        var keeperEnded = hasEnded()
        while true {
            let arrived = relay.wait(milliseconds: keeperEnded ? 0 : -1)
            if keeperEnded && arrived.isEmpty {
                var status: CInt = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw CommandFailure(
                    ExitStatus.software,
                    "the keeper process \(pid) ended before it could start \(command[0]) "
                        + "(\(Self.describe(waitStatus: status))); not running it")
            }
            var events = arrived[...]
            while let event = events.popFirst() {
                switch event {
                case .commandStarted(let commandPID, let pidfd):
                    return (CommandProcess(pid: commandPID, pidfd: pidfd), pending + events)
                case .commandFailed(let step, let error):
                    abandon()
                    throw Self.failure(command, file: file, step: step, errno: error)
                case .childChanged:
                    // Any child's end (an earlier helper's too) comes here, possibly ahead
                    // of the keeper's reports: a keeper that ran a quick COMMAND to its end
                    // has exited with its reports still in the channel. Look without reaping
                    // (supervision reaps it), and read what is left before concluding.
                    keeperEnded = keeperEnded || hasEnded()
                default:
                    pending.append(event)
                }
            }
        }
    }

    /// Whether the keeper has ended, leaving it to be reaped.
    private func hasEnded() -> Bool {
        var information = siginfo_t()
        while waitid(P_PID, id_t(pid), &information, WEXITED | WNOHANG | WNOWAIT) < 0 {
            guard errno == EINTR else { return true }
        }
        // WNOHANG with nothing to report leaves the pid field zero.
        return information._sifields._sigchld.si_pid == pid
    }

    /// Makes the keeper exit without starting COMMAND (if it has not yet been
    /// told to), and waits until it has: nothing of this `exec` outlives its failure.
    mutating func abandon() {
        if goDescriptor >= 0 { close(goDescriptor) }
        goDescriptor = -1
        var status: CInt = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// "exit 3", "signal 9".
    static func describe(waitStatus status: CInt) -> String {
        let signal = status & 0x7F
        return signal == 0 ? "exit \((status >> 8) & 0xFF)" : "signal \(signal)"
    }

    private static func failure(_ command: [String], file: String, step: CInt, errno error: CInt) -> CommandFailure {
        let name = command[0]
        let reason = String(cString: strerror(error))
        switch UInt32(bitPattern: step) {
        case RVF_SPAWN_EXEC.rawValue where error == ENOENT:
            let what = name.contains("/") ? "no such file" : "command not found in PATH"
            return CommandFailure(ExitStatus.commandNotFound, "\(name): \(what)\(shellHint(command, file: file))")
        case RVF_SPAWN_EXEC.rawValue:
            return CommandFailure(
                ExitStatus.cannotExecute,
                "\(name): cannot execute (\(reason)); check that it is an executable file")
        case RVF_SPAWN_SUBREAPER.rawValue:
            return CommandFailure(
                ExitStatus.unavailable,
                "cannot make rvf-lock's keeper process a child subreaper (prctl PR_SET_CHILD_SUBREAPER: \(reason)); "
                    + "not running \(name), since processes it starts could outlive the lock")
        case RVF_SPAWN_PROCESS_GROUP.rawValue:
            return CommandFailure(ExitStatus.software, "cannot start \(name) in its process group (setpgid: \(reason))")
        case RVF_SPAWN_INHERIT.rawValue:
            return CommandFailure(ExitStatus.software, "cannot pass the lock's descriptor to \(name) (fcntl: \(reason))")
        default:
            return CommandFailure(
                ExitStatus.software,
                "cannot start \(name) (clone: \(reason)); the system may be out of processes or memory")
        }
    }

    /// For a COMMAND that is a whole shell command line in one word (`"echo hi >> d.rvf"`,
    /// as `flock FILE -c` takes it), how to run it: rvf-lock runs a program, not a shell.
    static func shellHint(_ command: [String], file: String) -> String {
        guard command.count == 1, command[0].contains(where: { " \t;|&<>$`'\"*?(){}".contains($0) }) else { return "" }
        let quoted = "'" + command[0].replacing("'", with: "'\\''") + "'"
        return "; COMMAND is a program and its arguments, not a shell command line: "
            + "to run shell syntax, use sh -c (rvf-lock exec \(file) sh -c \(quoted))"
    }
}
