import RVFLock

/// Takes the lock, runs COMMAND under it, releases it: what `exec` does once
/// its command line is understood.
struct ExecRunner {
    let options: ExecOptions

    init(_ options: ExecOptions) { self.options = options }

    /// Runs everything and returns rvf-lock's exit status; every message is
    /// already on standard error.
    func run() -> Int32 {
        let target: LockTarget
        do throws(CommandFailure) {
            target = try LockTarget(options.file, command: "exec", allowsLockSuffix: options.allowsLockSuffix)
        } catch {
            return error.report()
        }
        let handle: LockHandle
        switch acquire(target.lock) {
        case .success(let acquired): handle = acquired
        case .failure(let status): return status
        }

        let outcome: LockedCommand.Outcome
        do throws(CommandFailure) {
            outcome = try LockedCommand(options: options).run(holding: handle.scope)
        } catch {
            // COMMAND never started: release quietly, the failure is the message.
            try? handle.release()
            return error.report()
        }

        var releaseFailure: CommandFailure?
        do throws(LockError) { try handle.release() } catch { releaseFailure = CommandFailure(error) }
        switch outcome {
        case .finished(let status):
            // COMMAND and its processes ended on their own, so its status is the answer;
            // a takeover found at release is still reported, for the user to check the data file.
            if let releaseFailure { StandardError.line(releaseFailure.message) }
            return status
        case .lockLost(let status?):
            StandardError.line("the command ended (status \(status)) after losing the lock; exiting \(ExitStatus.software)")
            return ExitStatus.software
        case .lockLost(nil):
            StandardError.line("the lock was lost and the command could not be stopped; exiting \(ExitStatus.software)")
            return ExitStatus.software
        }
    }

    private enum Acquisition: ~Copyable {
        case success(LockHandle)
        case failure(Int32)
    }

    private func acquire(_ lock: WriterLock) -> Acquisition {
        // validated() keeps -w within what a Duration holds.
        let timeout: Duration? = options.waitSeconds.map { .seconds($0) }
        let reporter = WaitReporter(lockFile: lock.lockFile, quiet: options.quiet, verbose: options.verbose, timeout: timeout)
        do throws(LockError) {
            let handle = options.noWait
                ? try lock.tryAcquire()
                : try lock.acquire(timeout: timeout, onProgress: reporter.callback)
            reporter.finish()
            return .success(handle)
        } catch {
            reporter.finish()
            if options.quiet && (error.code == .busy || error.code == .timedOut) { return .failure(options.conflictExitCode) }
            var message: String?
            if error.code == .timedOut, let timeout {
                message = LockAdvice.timedOut(error, current: try? lock.status(), waited: timeout)
            }
            return .failure(CommandFailure(error, conflictStatus: options.conflictExitCode, message: message).report())
        }
    }
}
