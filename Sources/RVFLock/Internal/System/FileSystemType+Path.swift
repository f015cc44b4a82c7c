import Glibc
import CRVFLockShims
import SystemPackage

extension FileSystemType {
    /// The file system holding `path` (`statfs(2)`; symbolic links are followed),
    /// for callers that have a path and no descriptor yet.
    static func containing(_ path: FilePath) throws(SystemCallError) -> FileSystemType {
        var type: UInt64 = 0
        let result = path.withPlatformString { rvf_statfs_type($0, &type) }
        guard result == 0 else { throw SystemCallError(name: "statfs", errno: Errno(rawValue: errno)) }
        return FileSystemType(magic: type)
    }
}
