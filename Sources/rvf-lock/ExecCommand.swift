import ArgumentParser
import RVFLock

/// `rvf-lock exec`: run a command while holding the lock.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run COMMAND while holding the writer lock of FILE.",
        discussion: """
            Takes FILE.lock (waiting for it as long as needed, unless -w or -n says \
            otherwise), runs COMMAND with the lock held and kept fresh, releases it \
            when COMMAND ends, and exits with COMMAND's status (128 + the signal \
            number if COMMAND died of a signal). SIGINT, SIGTERM and SIGHUP sent to \
            rvf-lock are forwarded to COMMAND. COMMAND inherits no descriptor of the \
            lock, and is killed by the kernel if rvf-lock dies, so it never runs \
            without the lock. If the lock file is removed or replaced while COMMAND \
            runs, rvf-lock says so, sends COMMAND SIGTERM, and exits 70.

            Exit status: COMMAND's (128 + N if it died of signal N); 75 (or -E CODE) \
            when the lock cannot be had; 64 usage; 66 bad FILE or lock path; 69 the \
            file system or system cannot support the lock; 70 lock lost, or an \
            unexpected system error; 73 the lock file cannot be created (read-only \
            file system, disk full); 77 no permission; 126/127 COMMAND not \
            executable / not found.

            Examples:
              rvf-lock exec data.rvf -- ./append-records data.rvf
              rvf-lock exec -w 2.5 -E 0 -q data.rvf -- sh -c 'compact data.rvf'
            """
    )

    // .unconditional: "-w -1" reads -1 as the value, so that validate() can say what is
    // wrong with it, instead of ArgumentParser taking it for an option and reporting the value missing.
    @Option(name: [.customShort("w"), .customLong("wait")], parsing: .unconditional,
            help: ArgumentHelp("Wait at most SECONDS for the lock (fractions allowed); default: forever.", valueName: "SECONDS"))
    var waitSeconds: Double?

    @Flag(name: [.customShort("n"), .customLong("no-wait")], help: "Do not wait: fail at once if the lock is taken.")
    var noWait = false

    @Option(name: [.customShort("E"), .customLong("conflict-exit-code")], parsing: .unconditional,
            help: ArgumentHelp("Exit with CODE instead of 75 when the lock cannot be had.", valueName: "CODE"))
    var conflictExitCode: Int32 = ExitStatus.temporaryFailure

    @Flag(name: [.customShort("q"), .customLong("quiet")],
          help: "Print nothing while waiting, and nothing when the lock cannot be had.")
    var quiet = false

    @Argument(help: ArgumentHelp("The data file (data.rvf); its lock is FILE.lock.", valueName: "FILE"))
    var file: String

    @Argument(parsing: .postTerminator,
              help: ArgumentHelp("The command to run with the lock held, after --.", valueName: "COMMAND"))
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else {
            throw ValidationError("missing COMMAND: put it after --, e.g. rvf-lock exec \(file) -- ./append-records")
        }
        if let waitSeconds {
            guard !noWait else { throw ValidationError("-w and -n contradict each other; give one of them") }
            guard waitSeconds.isFinite, waitSeconds >= 0 else {
                throw ValidationError("-w takes a number of seconds, 0 or more (e.g. -w 2.5), not \(waitSeconds)")
            }
        }
        guard (0...255).contains(conflictExitCode) else {
            throw ValidationError("-E takes an exit code from 0 to 255, not \(conflictExitCode)")
        }
    }

    func run() throws {
        let target: LockTarget
        do throws(CommandFailure) { target = try LockTarget(file) } catch { throw error.reported() }
        let handle = try acquire(target.lock)

        let outcome: LockedCommand.Outcome
        do throws(CommandFailure) {
            outcome = try LockedCommand(command: command).run(holding: handle.scope)
        } catch {
            throw error.reported()
        }

        var releaseFailure: CommandFailure?
        do throws(LockError) { try handle.release() } catch { releaseFailure = CommandFailure(error) }
        switch outcome {
        case .finished(let status):
            // COMMAND ended on its own, so its status is the answer; a takeover found
            // at release is still reported, for the user to check the data file.
            if let releaseFailure { StandardError.line(releaseFailure.message) }
            throw ExitCode(status)
        case .lockLost(let status):
            StandardError.line("the command ended (status \(status)) after losing the lock; exiting \(ExitStatus.software)")
            throw ExitCode(ExitStatus.software)
        }
    }

    private func acquire(_ lock: WriterLock) throws -> LockHandle {
        let timeout: Duration? = waitSeconds.map { .seconds($0) }
        let reporter = WaitReporter(lockFile: lock.lockFile, quiet: quiet, timeout: timeout)
        defer { reporter.finish() }
        do throws(LockError) {
            if noWait { return try lock.tryAcquire() }
            return try lock.acquire(timeout: timeout, onProgress: reporter.report)
        } catch {
            reporter.finish()
            let failure = CommandFailure(error, conflictStatus: conflictExitCode)
            if quiet && (error.code == .busy || error.code == .timedOut) { throw ExitCode(failure.exitStatus) }
            throw failure.reported()
        }
    }
}
