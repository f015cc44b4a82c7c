import CRVFLockShims
import SystemPackage
import Synchronization

/// The kind of file system a lock lives on, from `fstatfs(2)`'s `f_type`.
///
/// What the protocol needs differs by kind: on a local file system every
/// process reads the same page cache, so a lock file needs no `fsync` to be
/// seen; on a network or FUSE file system other machines read the server's
/// copy, and only a synced write reaches it. Unknown kinds count as network.
struct FileSystemType: Hashable, Sendable, CustomStringConvertible {
    /// The raw magic number (`f_type`), or nil where the platform gives none.
    let magic: UInt64?

    init(magic: UInt64?) { self.magic = magic }

    /// The file system holding the open descriptor, or an unknown kind if `fstatfs` fails.
    init(of descriptor: FileDescriptor) {
        var type: UInt64 = 0
        magic = rvf_fstatfs_type(descriptor.rawValue, &type) == 0 ? type : nil
    }

    /// Kinds already found, by unique mount id: a mount's kind never changes, and
    /// the kernel gives its id to no other mount until the next boot.
    private static let byMount = Mutex<[UInt64: FileSystemType]>([:])
    /// Enough for every mount one process locks on; beyond, kinds are asked again.
    private static let mountsRemembered = 64

    /// The file system holding `descriptor`, whose mount's unique id is `mount` (nil
    /// where the kernel gives none): one `fstatfs` per mount and process rather than
    /// one per acquisition, a system call of the dozen an acquisition and release make.
    static func of(_ descriptor: FileDescriptor, onMount mount: UInt64?) -> FileSystemType {
        guard let mount else { return FileSystemType(of: descriptor) }
        if let known = byMount.withLock({ $0[mount] }) { return known }
        let found = FileSystemType(of: descriptor)
        // A failed look is not remembered: the next acquisition asks again.
        if found.magic != nil {
            byMount.withLock { if $0.count < mountsRemembered { $0[mount] = found } }
        }
        return found
    }

    /// Name and locality of the kinds known here; a switch, not a dictionary,
    /// so that nothing is built at start-up.
    private static func known(_ magic: UInt64) -> (name: String, isLocal: Bool)? {
        switch magic {
        case 0xEF53: ("ext4", true)  // also ext2 and ext3
        case 0x5846_5342: ("xfs", true)
        case 0x9123_683E: ("btrfs", true)
        case 0x0102_1994: ("tmpfs", true)
        case 0x8584_58F6: ("ramfs", true)
        case 0x794C_7630: ("overlayfs", true)
        case 0xF2F5_2010: ("f2fs", true)
        case 0x2FC1_2FC1: ("zfs", true)
        case 0xCA45_1A4E: ("bcachefs", true)
        case 0x4D44: ("vfat", true)
        case 0x2011_BAB0: ("exfat", true)
        case 0x5346_544E: ("ntfs", true)
        case 0x6969: ("nfs", false)
        case 0x6573_5546: ("fuse", false)
        case 0xFF53_4D42: ("cifs", false)
        case 0xFE53_4D42: ("smb2", false)
        case 0x00C3_6400: ("ceph", false)
        case 0x0102_1997: ("9p", false)
        case 0x6A65_6A63: ("virtiofs", false)
        case 0x0BD0_0BD0: ("lustre", false)
        case 0x4750_4653: ("gpfs", false)
        case 0x0116_1970: ("gfs2", false)
        case 0x7461_636F: ("ocfs2", false)
        case 0x5346_414F: ("afs", false)
        default: nil
        }
    }

    /// A short name ("ext4", "nfs"), or the magic number in hex for kinds not known here.
    var name: String {
        guard let magic else { return "unknown" }
        return Self.known(magic)?.name ?? "0x" + String(magic, radix: 16)
    }

    /// True for file systems whose every reader shares this kernel's page cache.
    /// False for network, cluster and FUSE file systems, and for kinds not known here.
    var isLocal: Bool {
        guard let magic else { return false }
        return Self.known(magic)?.isLocal ?? false
    }

    var description: String { name }
}
