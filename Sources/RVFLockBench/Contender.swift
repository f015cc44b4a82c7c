#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage

/// A lock as a worker process loops on it: acquire, hold, release.
///
/// One protocol for RVFLock and kernel `flock(2)`, so that both run through
/// exactly the same worker loop and are timed at the same points.
protocol Contender: AnyObject {
    /// Acquires the lock, waiting as long as needed but not past `end`
    /// (monotonic ns); false when `end` came first.
    func acquire(before end: UInt64) throws -> Bool
    func release() throws
}

extension Implementation {
    /// The contender for this implementation, working on `file` (the data file for
    /// RVFLock, the locked file itself for kernel flock).
    func contender(file: String, heartbeatMilliseconds: Int?) throws -> any Contender {
        switch self {
        case .rvflock:
            var options = LockOptions()
            if let heartbeatMilliseconds { options.heartbeatInterval = .milliseconds(heartbeatMilliseconds) }
            return RVFLockContender(WriterLock(dataFile: FilePath(file), options: options))
        case .kernelFlock:
            return try KernelFlockContender(path: file)
        case .linkFloor:
            return try LinkFloorContender(dataFile: file)
        case .reference:
            throw BenchFailure("the reference has no worker mode here: it runs in Sources/RVFLockReference/Rust/bench.rs")
        }
    }
}
