#if canImport(Glibc)
import Glibc
#endif
import CRVFLockEtcdShims
import SystemPackage

/// The system calls of ``FencedDataFile``, each wrapped once, EINTR retried (never for close).
enum FencingSyscalls {
    static func open(_ path: FilePath, writable: Bool) throws(Errno) -> CInt {
        let flags = (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC
        while true {
            let descriptor = path.withPlatformString { Glibc.open($0, flags, 0o644) }
            if descriptor >= 0 { return descriptor }
            if errno != EINTR { throw Errno(rawValue: errno) }
        }
    }

    static func close(_ descriptor: CInt) {
        _ = Glibc.close(descriptor)
    }

    /// `flock(LOCK_EX)`, waiting: held only for one check and write.
    static func lockExclusively(_ descriptor: CInt) throws(Errno) {
        while flock(descriptor, LOCK_EX) != 0 {
            if errno != EINTR { throw Errno(rawValue: errno) }
        }
    }

    /// The attribute's value as text; nil if the file has none.
    static func attribute(_ descriptor: CInt, _ name: String) throws(Errno) -> String? {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { fgetxattr(descriptor, name, $0.baseAddress, $0.count) }
            if count >= 0 { return String(decoding: buffer.prefix(count), as: UTF8.self) }
            switch errno {
            case EINTR: continue
            case ENODATA: return nil
            default: throw Errno(rawValue: errno)
            }
        }
    }

    static func setAttribute(_ descriptor: CInt, _ name: String, _ value: String) throws(Errno) {
        let bytes = Array(value.utf8)
        while true {
            let result = bytes.withUnsafeBytes { fsetxattr(descriptor, name, $0.baseAddress, $0.count, 0) }
            if result == 0 { return }
            if errno != EINTR { throw Errno(rawValue: errno) }
        }
    }
}
