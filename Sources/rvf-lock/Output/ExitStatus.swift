import ArgumentParser

/// Every exit status of `rvf-lock`, after `sysexits.h` where one fits.
///
/// Documented for users in `Documentation/rvf-lock.md`; keep the two in step.
enum ExitStatus {
    /// The command did what was asked; `status`: every lock is free.
    static let success: Int32 = 0
    /// `status`: some lock is held; `break`: a live lock was not broken.
    static let lockHeld: Int32 = 1
    /// `selftest`: a check failed that no known file system limit explains.
    static let checkFailed: Int32 = 1
    /// `status`: some lock is stale or invalid.
    static let lockStaleOrInvalid: Int32 = 2
    /// EX_USAGE: bad command line (ArgumentParser uses it for every usage error too).
    static let usage: Int32 = 64
    /// EX_NOINPUT: FILE is a directory, its directory is missing, or the lock path is not a regular file.
    static let noInput: Int32 = 66
    /// EX_UNAVAILABLE: the system cannot provide what the lock needs (no child
    /// subreaper, no hard links or no file locks on this file system).
    static let unavailable: Int32 = 69
    /// EX_SOFTWARE: the lock was lost while COMMAND ran, or rvf-lock itself failed.
    static let software: Int32 = 70
    /// EX_CANTCREAT: the lock file cannot be created (read-only file system, disk full).
    static let cannotCreate: Int32 = 73
    /// EX_TEMPFAIL: the lock is taken (`exec -n`), or the wait timed out.
    static let temporaryFailure: Int32 = 75
    /// EX_NOPERM: the directory does not let this user create or remove the lock file.
    static let noPermission: Int32 = 77
    /// COMMAND was found but could not be executed (as in shells).
    static let cannotExecute: Int32 = 126
    /// COMMAND was not found (as in shells).
    static let commandNotFound: Int32 = 127
    /// Added to the signal number when COMMAND died of a signal (as in shells).
    static let signalBase: Int32 = 128
}

/// A failure the user must hear about: one line for standard error, and the exit status.
struct CommandFailure: Error {
    let exitStatus: Int32
    let message: String

    init(_ exitStatus: Int32, _ message: String) {
        self.exitStatus = exitStatus
        self.message = message
    }

    /// Prints the message and returns the error that makes ArgumentParser exit with the status.
    func reported() -> ExitCode {
        ExitCode(report())
    }

    /// Prints the message and returns the exit status.
    func report() -> Int32 {
        StandardError.line(message)
        return exitStatus
    }
}
