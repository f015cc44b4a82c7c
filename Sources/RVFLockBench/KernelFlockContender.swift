#if canImport(Glibc)
import Glibc
import RVFLock
#endif

/// Kernel `flock(2)` in the worker loop: a plain file opened once, blocking
/// `flock(LOCK_EX)` to acquire, `flock(LOCK_UN)` to release.
///
/// This is the kernel's own queue of waiters, which issue 9 takes as the
/// yardstick for handoff latency, throughput and fairness.
final class KernelFlockContender: Contender {
    private let descriptor: CInt
    private let path: String

    init(path: String) throws(BenchFailure) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BenchFailure("kernel flock worker could not open \(path): errno \(errno)") }
    }

    deinit { close(descriptor) }

    func acquire(before end: UInt64) throws -> Bool {
        guard Syscalls.monotonicNanoseconds() < end else { return false }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw BenchFailure("flock(LOCK_EX) on \(path) failed: errno \(errno)") }
        }
        // A blocking flock has no deadline. A lock obtained after the end is given
        // back uncounted, just as RVFLock's acquire(timeout:) would have timed out;
        // the processes still inside are leaving, so this wait is short.
        guard Syscalls.monotonicNanoseconds() < end else {
            try release()
            return false
        }
        return true
    }

    func release() throws {
        guard flock(descriptor, LOCK_UN) == 0 else { throw BenchFailure("flock(LOCK_UN) on \(path) failed: errno \(errno)") }
    }
}
