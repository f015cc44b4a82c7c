import Glibc
import RVFLock
import RVFLockCommandLine

/// The loop that waits for COMMAND and its descendants, passes signals on,
/// and stops them all when they must stop.
///
/// rvf-lock's child is the keeper (``CommandKeeper``), COMMAND the keeper's: the
/// keeper reports COMMAND's end, and its own end means that no descendant is
/// left. The keeper itself is never signalled, named or counted as a leftover.
struct CommandSupervision {
    let command: CommandProcess
    let keeper: pid_t
    let ownGroup: Bool
    let relay: SignalRelay
    let scope: LockScope
    let options: ExecOptions
    let me = getpid()
    let myGroup = getpgrp()

    init(command: CommandProcess, keeper: pid_t, ownGroup: Bool, relay: SignalRelay, scope: LockScope, options: ExecOptions) {
        self.command = command
        self.keeper = keeper
        self.ownGroup = ownGroup
        self.relay = relay
        self.scope = scope
        self.options = options
    }

    /// COMMAND's exit status once reaped, as a shell reports it (128 + signal).
    private var commandStatus: Int32?
    /// Until rvf-lock reaps it, the keeper's pid names the keeper.
    private var keeperRunning = true
    /// The keeper said that no descendant is left and that it no longer holds the
    /// lock's descriptor: the lock may go before the keeper's exit, which rvf-lock
    /// leaves to whoever reaps its orphans (its exit tears down a copy of rvf-lock's
    /// memory, about as long as the rest of `exec -n FILE true` after COMMAND's end).
    private var keeperDone = false
    private var sawLoss = false
    private var sawLeaseLoss = false
    private var lost = false
    private var stopping = false
    /// When SIGKILL goes out to whatever is left.
    private var killAt: ContinuousClock.Instant?
    private var killing = false
    /// When to say that rvf-lock waits for leftovers.
    private var leftoverNoticeAt: ContinuousClock.Instant?
    private var announcedLeftovers = false
    /// Processes rvf-lock may not signal (another user's), reported once each.
    private var unkillable: [pid_t: UInt64] = [:]
    /// Signals passed on lately, by sender: the same sender's same signal twice
    /// within ``duplicateWindow`` is one signal sent two ways (timeout(1) sends
    /// to its child, then to its process group).
    private var recentlyRelayed: [(signal: CInt, sender: pid_t, at: ContinuousClock.Instant)] = []
    static let duplicateWindow = Duration.milliseconds(250)
    /// How long leftovers may run before rvf-lock says it waits for them.
    static let leftoverNoticeDelay = Duration.seconds(1)

    /// Supervises until no descendant is left; `pending` are events that arrived
    /// while COMMAND was being started.
    mutating func run(pending: [SignalRelay.Event]) -> LockedCommand.Outcome {
        var events = pending
        while true {
            for event in events { handle(event) }
            if keeperDone { break }
            guard reapChildren() else {
                // The keeper reported COMMAND's end before it exited: the report may still be in the pipe.
                for event in relay.wait(milliseconds: 0) {
                    if case .commandExited = event { handle(event) }
                }
                break
            }

            if !lost && (sawLoss || sawLeaseLoss || !scope.isHeld) {
                lost = true
                stopAll(because: sawLoss || !scope.isHeld ? .lockLost : .leaseLost)
            }
            if let status = commandStatus, !stopping {
                if options.killLeftovers {
                    stopAll(because: .leftovers(commandStatus: status))
                } else if leftoverNoticeAt == nil {
                    leftoverNoticeAt = .now + Self.leftoverNoticeDelay
                }
            }
            if let killAt, .now >= killAt {
                killing = true
                self.killAt = nil
            }
            if killing {
                let killableLeft = killRound()
                if !killableLeft {
                    killing = false
                    // After a loss nothing is protected by waiting for what cannot be stopped.
                    if lost { break }
                }
            }
            if let noticeAt = leftoverNoticeAt, !announcedLeftovers, !stopping, .now >= noticeAt {
                announcedLeftovers = true
                announceLeftovers()
            }
            events = relay.wait(milliseconds: pollTimeout())
        }
        if announcedLeftovers && !lost && !options.quiet {
            StandardError.line("the processes the command left running have ended; releasing \(scope.lockFile)")
        }
        if lost { return .lockLost(commandStatus: commandStatus) }
        return .finished(commandStatus ?? ExitStatus.software)
    }

    // MARK: Waiting

    private mutating func handle(_ event: SignalRelay.Event) {
        switch event {
        case .lockLost: sawLoss = true
        case .leaseLost: sawLeaseLoss = true
        case .commandStarted(_, let pidfd):
            // Only one start is ever reported (before supervision begins).
            if pidfd >= 0 { close(pidfd) }
        case .childChanged, .commandFailed: break
        case .keeperDone: keeperDone = true
        case .commandExited(let status):
            if commandStatus == nil { commandStatus = Self.shellStatus(status) }
        case .signal(let signal, let sentByProcess, let sender):
            // Before reaping: a sender that is a child that just exited is still a zombie to recognise.
            if signal == SignalRelay.stopSignal {
                stopWithCommand(sentByProcess: sentByProcess, sender: sender)
            } else {
                pass(signal, sentByProcess: sentByProcess, sender: sender)
            }
        }
    }

    /// How long to sleep: until the next deadline, a short while between rounds
    /// of SIGKILL, or until something happens.
    private func pollTimeout() -> Int32 {
        if killing { return 100 }
        var deadline: ContinuousClock.Instant?
        if let killAt { deadline = killAt }
        if let noticeAt = leftoverNoticeAt, !announcedLeftovers, !stopping {
            deadline = deadline.map { min($0, noticeAt) } ?? noticeAt
        }
        guard let deadline else { return -1 }
        let remaining = deadline - .now
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        return Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 3_600_000))
    }

    /// Reaps every child that has ended; false once none is left (ECHILD).
    private mutating func reapChildren() -> Bool {
        while true {
            var status: CInt = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                if pid == keeper { keeperEnded(status) }
                // COMMAND, reparented to rvf-lock when the keeper was killed before it.
                if pid == command.pid && commandStatus == nil { commandStatus = Self.shellStatus(status) }
                continue
            }
            if pid == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }

    /// The keeper exits 0 once no descendant is left. Otherwise someone killed it:
    /// its orphans came to rvf-lock, and the record must name a process that lives.
    private mutating func keeperEnded(_ status: CInt) {
        keeperRunning = false
        guard status != 0 else { return }
        var rewritten = ""
        do throws(LockError) {
            try scope.writeRecord(naming: me)
            rewritten = "; the lock record names rvf-lock (pid \(me)) again"
        } catch {
            rewritten = "; the lock record still names it (\(error.situationWithoutAdvice))"
        }
        StandardError.line(
            "rvf-lock's keeper process \(keeper) ended (\(CommandKeeper.describe(waitStatus: status))) "
                + "before the command's processes; rvf-lock waits for them itself\(rewritten)")
    }

    /// The status as a shell reports it: the exit code, or 128 + the signal.
    private static func shellStatus(_ status: CInt) -> Int32 {
        let signal = status & 0x7F
        if signal == 0 { return (status >> 8) & 0xFF }
        return ExitStatus.signalBase + signal
    }

    // MARK: Passing signals on

    /// Passes `signal` on, unless the one who sent it has reached COMMAND already.
    private mutating func pass(_ signal: CInt, sentByProcess: Bool, sender: pid_t) {
        if sentByProcess {
            // COMMAND or one of its processes signalling rvf-lock: sending it back would
            // loop, and a `kill 0` from COMMAND's group reached that group already.
            if sender == me || ProcessTable.isDescendant(sender, of: me) { return }
            let now = ContinuousClock.now
            recentlyRelayed.removeAll { now - $0.at > Self.duplicateWindow }
            if recentlyRelayed.contains(where: { $0.signal == signal && $0.sender == sender }) { return }
            recentlyRelayed.append((signal, sender, now))
        } else if !ownGroup && commandStatus == nil {
            // Sent by the kernel to rvf-lock's whole process group (a terminal's keys or
            // hangup), which COMMAND shares: it has it already.
            return
        }
        if commandStatus == nil {
            // COMMAND's own group is COMMAND and its pipelines, as a terminal would signal them;
            // COMMAND itself if it left that group. The group's id stays COMMAND's while it
            // has members, so it names no other group.
            if !ownGroup || kill(-command.pid, signal) != 0 { command.send(signal) }
        } else {
            // COMMAND has ended; what it left running is what rvf-lock waits for.
            let skipOurGroup = !sentByProcess
            for entry in commandProcesses() where !(skipOurGroup && entry.processGroup == myGroup) {
                _ = ProcessTable.send(signal, to: entry)
            }
        }
    }

    /// Ctrl-Z for a job whose COMMAND runs in a group of its own: stop COMMAND's
    /// group and rvf-lock, so that the shell sees the job stop; continue both together.
    private func stopWithCommand(sentByProcess: Bool, sender: pid_t) {
        if sentByProcess && ProcessTable.isDescendant(sender, of: me) { return }
        if commandStatus == nil { _ = kill(-command.pid, SIGTSTP) }
        _ = kill(me, SIGSTOP)
        if commandStatus == nil { _ = kill(-command.pid, SIGCONT) }
    }

    // MARK: Stopping everything

    private enum StopReason {
        case lockLost
        /// The etcd lease, whose helper has said why on standard error already.
        case leaseLost
        case leftovers(commandStatus: Int32)
    }

    /// SIGTERM (and SIGCONT, so that stopped processes act on it) to every
    /// descendant; SIGKILL follows after --kill-after.
    private mutating func stopAll(because reason: StopReason) {
        let descendants = commandProcesses()
        let after = "SIGKILL after \(WaitReporter.seconds(.seconds(options.killAfterSeconds))) s"
        switch reason {
        case .lockLost:
            StandardError.line(
                "the lock \(scope.lockFile) was removed or replaced while the command ran; "
                    + "another writer may be writing to \(scope.dataFile) now: sending SIGTERM to "
                    + "\(Self.list(descendants)) (\(after))")
        case .leaseLost:
            StandardError.line("the etcd lease was lost (see above): sending SIGTERM to \(Self.list(descendants)) (\(after))")
        case .leftovers(let status):
            guard !descendants.isEmpty else { break }
            if !options.quiet {
                StandardError.line(
                    "the command has ended (status \(status)); stopping what it left running: "
                        + "\(Self.list(descendants)) (SIGTERM, \(after))")
            }
        }
        for entry in descendants {
            if ProcessTable.send(SIGTERM, to: entry) == EPERM { reportUnkillable(entry) }
            _ = ProcessTable.send(SIGCONT, to: entry)
        }
        signalCommandDirectly(SIGTERM)
        signalCommandDirectly(SIGCONT)
        stopping = true
        if killAt == nil && !killing { killAt = .now + .seconds(options.killAfterSeconds) }
    }

    /// COMMAND through its pidfd (see ``CommandProcess``): without /proc, which
    /// may be missing or hide other users' processes.
    private func signalCommandDirectly(_ signal: CInt) {
        guard commandStatus == nil else { return }
        command.send(signal)
    }

    /// Sends SIGKILL to every descendant; false when none that rvf-lock may kill is left.
    private mutating func killRound() -> Bool {
        // COMMAND's own pid first (see signalCommandDirectly); one it may not kill does not count.
        var killable = commandStatus == nil && command.send(SIGKILL)
        for entry in commandProcesses() {
            if let start = unkillable[entry.pid], start == entry.startTime { continue }
            switch ProcessTable.send(SIGKILL, to: entry) {
            case 0: killable = true
            case EPERM: reportUnkillable(entry)
            default: break
            }
        }
        return killable
    }

    private mutating func reportUnkillable(_ entry: ProcessTable.Entry) {
        guard unkillable[entry.pid] != entry.startTime else { return }
        unkillable[entry.pid] = entry.startTime
        let consequence =
            lost
            ? "it may go on writing to \(scope.dataFile) without the lock"
            : "\(scope.lockFile) stays held until it ends"
        StandardError.line(
            "cannot signal \(entry.description): \(String(cString: strerror(EPERM))) "
                + "(it runs as another user); \(consequence)")
    }

    private func announceLeftovers() {
        guard !options.quiet else { return }
        let descendants = commandProcesses()
        guard !descendants.isEmpty else { return }
        StandardError.line(
            "the command has ended (status \(commandStatus ?? 0)), but processes it started still run: "
                + "\(Self.list(descendants)); waiting for them before releasing \(scope.lockFile) "
                + "(--kill-leftovers stops them instead)")
    }

    /// COMMAND and every process it started that still runs: rvf-lock's descendants but the keeper.
    private func commandProcesses() -> [ProcessTable.Entry] {
        ProcessTable.snapshot().descendants(of: me).filter { !(keeperRunning && $0.pid == keeper) }
    }

    /// "4242 (python3), 4250 (sleep)", at most 10 named.
    private static func list(_ entries: [ProcessTable.Entry]) -> String {
        guard !entries.isEmpty else { return "no process" }
        let named = entries.prefix(10).map(\.description).joined(separator: ", ")
        return entries.count > 10 ? "\(named) and \(entries.count - 10) more" : named
    }
}
