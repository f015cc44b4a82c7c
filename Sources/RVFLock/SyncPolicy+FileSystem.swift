extension SyncPolicy {
    /// Whether a lock file on `fileSystem` is synced under this policy.
    ///
    /// The one place that decides it, so that the lock and what
    /// ``LockFileSystem/syncsLockFiles(under:)`` reports cannot disagree.
    func syncs(on fileSystem: FileSystemType) -> Bool {
        switch kind {
        case .always: true
        case .never: false
        case .automatic: !fileSystem.isLocal
        }
    }
}
