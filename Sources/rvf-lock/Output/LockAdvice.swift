import RVFLock

/// What a user of `rvf-lock` can do when the lock cannot be had or broken, in the
/// tool's words (`rvf-lock break --force FILE`), by what is known of the holder.
///
/// The library gives the same advice in its own words (`breakLock(force: true)`);
/// the tool keeps the library's account of what happened and replaces the advice.
/// Breaking is suggested only where the holder may be gone: another host, whose
/// liveness cannot be seen from here; a same-host holder whose process is gone
/// but whose lock is not yet old enough to count as stale; an invalid lock file.
/// A holder proven alive (its kernel lock is held, or its process exists) gets no
/// such suggestion: breaking it would let two writers in.
enum LockAdvice {
    /// The thresholds `rvf-lock` judges with: the library's defaults.
    static let options = LockOptions()

    /// The message for a library error, with the tool's advice where its words differ.
    static func message(for error: LockError) -> String {
        let file = dataFile(of: error)
        switch error.code {
        case .busy, .timedOut:
            guard let status = error.status else { return error.description }
            return "\(error.situationWithoutAdvice); \(busy(status, file: file))"
        case .notStale:
            guard let status = error.status else { return error.description }
            return "\(error.situationWithoutAdvice); \(refusedBreak(status, file: file))"
        default:
            return error.description
        }
    }

    /// The message when a wait of `waited` timed out, from the lock's state read
    /// afresh at the timeout (`current`): the library's error describes the holder as
    /// it was when the wait began, which would give its age from then.
    static func timedOut(_ error: LockError, current: LockStatus?, waited: Duration) -> String {
        // Released at the very moment of the timeout, or unreadable now: the library's account stands.
        guard let status = current, status != .free else { return message(for: error) }
        let file = dataFile(of: error)
        let what: String
        switch status {
        case .held(let holder), .stale(let holder, _): what = "\(file) is locked by \(holder)"
        case .invalid(let invalid): what = "\(file) has an unreadable lock file \(error.lockFile) (\(invalid))"
        case .free: what = "\(file) is locked"
        }
        return "\(what); gave up after waiting \(WaitReporter.seconds(waited)) s; \(busy(status, file: file))"
    }

    /// Advice when the lock is taken (`exec -n`) or the wait timed out (`exec -w`, `wait -w`).
    static func busy(_ status: LockStatus, file: String) -> String {
        switch status {
        case .held(let holder):
            switch holder.isAlive {
            case true?:
                return "that writer is alive; wait for it to finish"
            case nil:
                return "whether that writer is alive cannot be seen from here; its lock turns stale once not refreshed "
                    + "for \(seconds(options.otherHostStaleAfter)) s, or run `rvf-lock break --force \(file)` "
                    + "if you know that host is down"
            case false?:
                return "its process is gone, and the lock turns stale once \(seconds(options.sameHostStaleAfter)) s old; "
                    + "`rvf-lock break --force \(file)` removes it now"
            }
        case .stale:
            return "it is stale; the next attempt removes it"
        case .invalid(let invalid) where invalid.isBreakable:
            return "it is old enough to remove: `rvf-lock break \(file)` removes it, as the next attempt will"
        case .invalid(let invalid) where invalid.fileAge > options.sameHostStaleAfter:
            // Old enough, yet not breakable: the judge saw its kernel lock held (flock(1), or another program).
            return "a process holds its kernel lock (flock), so a program is using it as a lock; wait for that program to finish"
        case .invalid:
            return "it may be another program's lock being written; it counts as stale once unmodified for "
                + "\(seconds(options.sameHostStaleAfter)) s while no process holds its kernel lock (flock)"
        case .free:
            return "try again"
        }
    }

    /// Advice when `rvf-lock break` (without --force) refused.
    static func refusedBreak(_ status: LockStatus, file: String) -> String {
        switch status {
        case .held(let holder) where holder.isAlive == true:
            return "its writer is alive; wait for it to finish (`rvf-lock wait \(file)`)"
        case .held(let holder) where holder.isAlive == nil:
            return "wait for it (it turns stale once not refreshed for \(seconds(options.otherHostStaleAfter)) s), "
                + "or run `rvf-lock break --force \(file)` only if you are sure that host is down"
        case .held:
            return "its process is gone, and the lock turns stale once \(seconds(options.sameHostStaleAfter)) s old; "
                + "`rvf-lock break --force \(file)` removes it now"
        case .invalid(let invalid) where invalid.fileAge > options.sameHostStaleAfter:
            return "a process holds its kernel lock (flock), so a program is using it as a lock; wait for that program "
                + "to finish, or run `rvf-lock break --force \(file)` if you are sure it does not guard \(file)"
        case .invalid:
            return "it may be another program's lock being written; it can be broken once unmodified for "
                + "\(seconds(options.sameHostStaleAfter)) s while no process holds its kernel lock (flock), "
                + "or with `rvf-lock break --force \(file)` if you are sure no program is writing it"
        case .free, .stale:
            return "try again"
        }
    }

    /// The data file of the error's lock: the lock file is always the data file with `.lock` appended.
    private static func dataFile(of error: LockError) -> String {
        let lockFile = error.lockFile.string
        return lockFile.hasSuffix(".lock") ? String(lockFile.dropLast(".lock".count)) : lockFile
    }

    private static func seconds(_ duration: Duration) -> Int64 { duration.components.seconds }
}
