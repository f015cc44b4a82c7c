#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What this machine and this test process can do, for the tests that need more
/// than a user's rights: checked once, for `.enabled(if:)` (whose condition cannot
/// wait asynchronously, hence ``ChildProcess/runBlocking(_:_:)`` here).
public enum Capabilities {
    /// Whether this test process can run a program as a user who cannot write a
    /// directory: as root only through `setpriv` (root writes everywhere), otherwise directly.
    public static let canRunWithoutWritePermission =
        getuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// Whether a read-only file system can be mounted in a private mount namespace (root with `unshare`).
    public static let canMountReadOnlyFileSystem: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        return (try? ChildProcess.runBlocking("/usr/bin/unshare", ["-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"]))?.code == 0
    }()
}
