public import SystemPackage

/// The file system a lock lives on, as RVFLock sees it: its kind, whether
/// every process that can reach it shares this machine's page cache, and
/// whether lock files are synced there.
///
/// ```swift
/// let fileSystem = try LockFileSystem(containing: "/srv/data")
/// print(fileSystem.name, fileSystem.isLocal, fileSystem.syncsLockFiles(under: LockOptions()))
/// // ext4 true false
/// ```
///
/// The kind comes from `statfs(2)`; it says what RVFLock assumes about the file
/// system, not what works there. `rvf-lock selftest DIR` tests that.
public struct LockFileSystem: Hashable, Sendable, CustomStringConvertible {
    let type: FileSystemType

    init(type: FileSystemType) { self.type = type }

    /// The file system holding `path`: a directory, or a file that exists
    /// (symbolic links are followed).
    ///
    /// - Throws: ``LockError/Code/systemCallFailed`` (`statfs`) when `path`
    ///   cannot be reached.
    public init(containing path: FilePath) throws(LockError) {
        do throws(SystemCallError) {
            type = try .containing(path)
        } catch {
            throw LockError(
                .systemCallFailed, lockFile: path, systemCall: error.name, errno: error.errno,
                message: "cannot tell which file system holds \(path): \(error.name): \(error.errno)")
        }
    }

    /// A short name: "ext4", "tmpfs", "nfs", "fuse"; for kinds RVFLock does not
    /// know, the magic number in hex ("0x1234abcd").
    public var name: String { type.name }

    /// `statfs(2)`'s `f_type`, the kernel's magic number for the kind; nil where
    /// the platform gives none.
    public var magic: UInt64? { type.magic }

    /// True for file systems whose every reader shares this kernel's page cache
    /// (ext4, xfs, btrfs, tmpfs, overlayfs, ...). False for network, cluster and
    /// FUSE file systems, and for kinds RVFLock does not know, which count as network.
    public var isLocal: Bool { type.isLocal }

    /// Whether a lock with `options` syncs its lock file (`fsync`) here: always
    /// with ``SyncPolicy/always``, never with ``SyncPolicy/never``, and with
    /// ``SyncPolicy/automatic`` exactly when the file system is not local.
    public func syncsLockFiles(under options: LockOptions) -> Bool {
        options.syncPolicy.syncs(on: type)
    }

    public var description: String { name }
}

extension LockFileSystem {
    /// What the protocol needs from a file system and cannot do without.
    ///
    /// Its ``description`` says what is missing, in the words of
    /// ``LockError/Code/unsupportedFileSystem`` errors and of `rvf-lock selftest`.
    public enum Requirement: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// `link(2)`: a complete lock file gets its name atomically, or fails with
        /// `EEXIST` when the name is taken.
        case hardLinks
        /// `flock(2)` is accepted at all.
        case fileLocks
        /// A `flock(2)` lock held by one process refuses a conflicting lock to another.
        case fileLockExclusion
        /// The kernel releases a `flock(2)` lock when its holder dies.
        case fileLockReleaseAtExit

        public var description: String {
            switch self {
            case .hardLinks:
                "it has no hard links, so a lock file cannot get its name atomically"
            case .fileLocks:
                "it refuses file locks (flock)"
            case .fileLockExclusion:
                "its file locks (flock) do not exclude other processes"
            case .fileLockReleaseAtExit:
                "its file locks (flock) outlive the process that took them"
            }
        }
    }
}
