#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// Reads a lock file, judges it, and, when asked, removes exactly that file.
///
/// Breaking follows one discipline so that racing breakers remove one stale lock
/// and never a newer one: open the lock file (never through a symlink), take its
/// `flock()` exclusively, judge it, then check that the path still names the
/// inode that was judged and that its bytes are unchanged, and only then unlink.
/// Every live RVFLock holder keeps `flock()` on its own lock file, so a breaker
/// never gets that far with a live lock; and a second breaker holding an older
/// descriptor finds the path naming another inode and backs off.
struct LockFileExaminer: Sendable {
    let lockFile: FilePath
    let judge: StalenessJudge

    enum Mode: Sendable {
        /// Look only; share the kernel lock so that concurrent lookers do not see each other as holders.
        case inspect
        /// Remove the lock if the protocol says it is stale.
        case breakIfStale
        /// Remove the lock even if its holder is alive (`rvf-lock break --force`).
        case breakEvenIfHeld
    }

    enum Outcome: Sendable {
        /// Nothing is at the lock path.
        case absent
        /// The lock file is there and stays: its state and which file it was.
        case present(LockStatus, FileIdentity)
        /// The lock file that was judged has been removed.
        case removed(LockStatus)
        /// The lock file changed while it was judged; look again.
        case changed
    }

    func examine(_ mode: Mode) throws(LockError) -> Outcome {
        let descriptor: CInt
        do {
            // O_NONBLOCK: a FIFO planted at the lock path must not hang the opener.
            descriptor = try Syscalls.open(lockFile, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        } catch {
            switch error.errno {
            case .noSuchFileOrDirectory:
                return .absent
            case .tooManySymbolicLinkLevels:
                throw .notARegularFile(lockFile, kind: "symbolic link")
            case .noSuchAddressOrDevice:
                throw .notARegularFile(lockFile, kind: "socket")
            default:
                throw .system(error, lockFile: lockFile, doing: "reading the lock file")
            }
        }
        defer { Syscalls.close(descriptor) }
        let info: stat
        do throws(SystemCallError) {
            info = try Syscalls.fstat(descriptor)
        } catch {
            throw .system(error, lockFile: lockFile, doing: "reading the lock file")
        }
        if let kind = FileIdentity.kind(of: info) { throw .notARegularFile(lockFile, kind: kind) }
        do throws(SystemCallError) {
            return try examine(descriptor, info, mode)
        } catch {
            throw .system(error, lockFile: lockFile, doing: "judging the lock file")
        }
    }

    private func examine(_ descriptor: CInt, _ info: stat, _ mode: Mode) throws(SystemCallError) -> Outcome {
        if info.st_nlink == 0 { return .changed }
        let operation = mode == .inspect ? LOCK_SH : LOCK_EX
        let kernelLockTaken = try Syscalls.flockNonBlocking(descriptor, operation)
        let bytes = try Syscalls.preadPrefix(descriptor, count: LockRecord.size + 1)
        let now = Syscalls.wallClockNanoseconds()
        let identity = FileIdentity(info)
        let status: LockStatus
        do {
            let record = try LockRecord(decoding: bytes)
            let unchanged = UnchangedSince.shared.duration(
                of: .init(file: identity, contentStamp: record.timestampNanoseconds, writer: record.writerID))
            status = judge.judge(record, kernelLockHeld: !kernelLockTaken, nowNanoseconds: now, unchangedFor: unchanged)
        } catch {
            // Read again, after the bytes: a file being written must look as young as it is.
            let current = try Syscalls.fstat(descriptor)
            let fileAge = FileIdentity.modificationAge(of: current, nowNanoseconds: now)
            let stamp = UInt64(bitPattern: Int64(current.st_mtim.tv_sec)) &* 1_000_000_007
                &+ UInt64(bitPattern: Int64(current.st_mtim.tv_nsec)) &+ UInt64(bitPattern: Int64(current.st_size))
            let unchanged = UnchangedSince.shared.duration(of: .init(file: identity, contentStamp: stamp, writer: nil))
            status = judge.judgeInvalid(
                .record(error), fileAge: fileAge, unchangedFor: unchanged, kernelLockHeld: !kernelLockTaken)
        }
        switch mode {
        case .inspect:
            return .present(status, identity)
        case .breakIfStale where !status.isBreakable:
            return .present(status, identity)
        case .breakIfStale, .breakEvenIfHeld:
            guard let current = try Syscalls.lstat(lockFile), FileIdentity(current) == identity else { return .changed }
            guard try Syscalls.preadPrefix(descriptor, count: LockRecord.size + 1) == bytes else { return .changed }
            do {
                try Syscalls.unlink(lockFile)
            } catch where error.errno == .noSuchFileOrDirectory {
                return .changed
            }
            return .removed(status)
        }
    }
}
