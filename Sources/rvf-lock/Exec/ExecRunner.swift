import RVFLock
import RVFLockCommandLine

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
        let started = ContinuousClock.now
        let endpoints = EtcdCoordinator.endpoints(options.etcd)
        // A free lock is taken at once, as -n takes it, and the keeper forked after: a fork
        // before the acquisition would make it copy every page it writes.
        var takenAtOnce: LockHandle? = nil
        if endpoints == nil && !options.noWait {
            do throws(LockError) { takenAtOnce = try target.lock.tryAcquire() } catch {}
        }
        // Before a wait, the keeper is forked now, so that the handoff waits for no fork.
        var early: LockedCommand? = nil
        if endpoints == nil && !options.noWait && takenAtOnce == nil {
            do throws(CommandFailure) { early = try LockedCommand(options: options) } catch { return error.report() }
        }
        // --etcd: the lease first (rvf-lock-etcd holds it), then the lock file; released in reverse.
        var coordinator: EtcdCoordinator?
        if let endpoints {
            do throws(CommandFailure) {
                // The helper takes 10 ms or more to start and answer, so it is started first, and
                // meanwhile the keeper is forked and what the lock file's acquisition would otherwise
                // start between the lease and the link is started. The keeper inherits this process's
                // end of the helper's socket until it starts COMMAND (it closes every descriptor
                // then), or exits at once if this process goes away before: the helper's reading of
                // this process's end as the socket's end is unchanged.
                coordinator = try EtcdCoordinator.acquire(endpoints: endpoints, options: options) {
                    () throws(CommandFailure) in
                    early = try LockedCommand(options: options)
                    target.lock.prepareForAcquisition()
                }
            } catch {
                early.take()?.abandon()
                return error.message.isEmpty ? error.exitStatus : error.report()
            }
        }
        let handle: LockHandle
        if let taken = takenAtOnce.take() {
            handle = taken
        } else {
            // Only a wait for the etcd lease comes out of -w: without one, -w is the lock file's wait whole.
            switch acquire(target.lock, startedAt: coordinator == nil ? nil : started) {
            case .success(let acquired): handle = acquired
            case .failure(let status):
                early.take()?.abandon()
                coordinator?.release()
                return status
            }
        }

        let outcome: LockedCommand.Outcome
        do throws(CommandFailure) {
            if let command = early.take() {
                outcome = try command.run(holding: handle.scope, coordinator: coordinator)
            } else {
                outcome = try LockedCommand.run(options: options, holding: handle.scope)
            }
        } catch {
            // COMMAND never started: release quietly, the failure is the message.
            try? handle.release()
            coordinator?.release()
            return error.report()
        }

        var releaseFailure: CommandFailure?
        do throws(LockError) { try handle.release() } catch { releaseFailure = CommandFailure(error) }
        if let coordinator, !coordinator.release(), case .finished(let status) = outcome {
            // The command ended on its own, but the lease had been lost meanwhile (this
            // process was paused past its TTL, say): what it wrote may overlap another writer's.
            StandardError.line(
                "the etcd lease of \(options.file) was lost while the command ran (it ended with status "
                    + "\(status)); exiting \(ExitStatus.software)")
            return ExitStatus.software
        }
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

    private func acquire(_ lock: WriterLock, startedAt started: ContinuousClock.Instant?) -> Acquisition {
        // validated() keeps -w within what a Duration holds; what is left of it after the etcd lease's wait.
        let timeout: Duration? = options.waitSeconds.map { seconds in
            max(.seconds(seconds) - (started.map { ContinuousClock.now - $0 } ?? .zero), .zero)
        }
        let reporter = WaitReporter(lockFile: lock.lockFile, quiet: options.quiet, verbose: options.verbose, timeout: timeout)
        do throws(LockError) {
            let handle =
                options.noWait
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
