/// Every exit status of `rvf-lock` and of `rvf-lock-etcd` (whose codes are rvf-lock's),
/// after `sysexits.h` where one fits.
///
/// Documented for users in `Documentation/rvf-lock.md`; keep the two in step.
package enum ExitStatus {
    /// The command did what was asked; `status`: every lock is free.
    package static let success: Int32 = 0
    /// `status`: some lock is held; `break`: a live lock was not broken.
    package static let lockHeld: Int32 = 1
    /// `selftest`: a check failed that no known file system limit explains.
    package static let checkFailed: Int32 = 1
    /// `status`: some lock is stale or invalid.
    package static let lockStaleOrInvalid: Int32 = 2
    /// EX_USAGE: bad command line (ArgumentParser uses it for every usage error too).
    package static let usage: Int32 = 64
    /// EX_NOINPUT: FILE is a directory, its directory is missing, or the lock path is not a regular file.
    package static let noInput: Int32 = 66
    /// EX_UNAVAILABLE: the system cannot provide what the lock needs (no child
    /// subreaper, no hard links or no file locks on this file system).
    package static let unavailable: Int32 = 69
    /// EX_SOFTWARE: the lock was lost while COMMAND ran, or rvf-lock itself failed.
    package static let software: Int32 = 70
    /// EX_CANTCREAT: the lock file cannot be created (read-only file system, disk full).
    package static let cannotCreate: Int32 = 73
    /// EX_TEMPFAIL: the lock is taken (`exec -n`), or the wait timed out.
    package static let temporaryFailure: Int32 = 75
    /// EX_NOPERM: the directory does not let this user create or remove the lock file.
    package static let noPermission: Int32 = 77
    /// COMMAND was found but could not be executed (as in shells).
    package static let cannotExecute: Int32 = 126
    /// COMMAND was not found (as in shells).
    package static let commandNotFound: Int32 = 127
    /// Added to the signal number when COMMAND died of a signal (as in shells).
    package static let signalBase: Int32 = 128
}
