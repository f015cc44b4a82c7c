package import SystemPackage

/// For a coordinator that guards a lock file with a second lock (RVFLockEtcd's
/// lease on etcd), not for general use: its waits time out, are cancelled, and
/// its lock is lost for reasons the file lock does not know, and callers must
/// catch those failures as they catch the file lock's (`catch LockError.lockLost`),
/// so they are `LockError`s with the file lock's codes, in the coordinator's words.
extension LockError {
    /// An error of one of the lock's codes (``Code/busy``, ``Code/timedOut``,
    /// ``Code/cancelled``, ``Code/lockLost``), about `lockFile`, whose whole
    /// message is `message`: what happened, to which file, and what to do.
    package init(coordinated code: Code, lockFile: FilePath, message: String) {
        self.init(code, lockFile: lockFile, message: message)
    }
}
