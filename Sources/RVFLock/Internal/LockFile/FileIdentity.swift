package import Glibc

/// Which file a path named at some moment: device and inode.
///
/// Comparing identities before removing a lock file is what makes "remove exactly
/// the lock that was judged" possible: the judge keeps the file open meanwhile,
/// so its inode number cannot be reused by a newer lock.
package struct FileIdentity: Hashable, Sendable {
    let device: UInt64
    let inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    /// What a file is, in the words every message of the package uses ("named pipe",
    /// "character device", ...); nil for a regular file.
    package static func kind(of info: stat) -> String? {
        switch info.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "directory"
        case S_IFLNK: "symbolic link"
        case S_IFIFO: "named pipe"
        case S_IFSOCK: "socket"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        default: "special file"
        }
    }

    static func modificationAge(of info: stat, nowNanoseconds: UInt64) -> Duration {
        let seconds = max(0, Int64(info.st_mtim.tv_sec))
        let modified = UInt64(seconds) * 1_000_000_000 + UInt64(max(0, info.st_mtim.tv_nsec))
        return .nanoseconds(Int64(clamping: nowNanoseconds &- min(nowNanoseconds, modified)))
    }
}
