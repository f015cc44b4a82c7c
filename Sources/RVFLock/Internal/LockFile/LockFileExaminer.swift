import Glibc
import SystemPackage

/// Looks at a lock without taking it: what an observer (`status`, `wait`, a
/// message about a lost lock) sees.
///
/// An observer opens the lock file for reading and takes only a shared
/// `flock()`, for microseconds: a shared lock proves nothing about a holder, so
/// no judge mistakes an observer for one, and observers never block each other.
struct LockFileExaminer: Sendable {
    let location: LockLocation
    let judge: StalenessJudge

    /// The lock's state, or nil when the file changed under the look (look again).
    func inspect() throws(LockError) -> LockStatus? {
        guard let file = try OpenLockFile.open(location, forWriting: false, action: "reading the lock file") else { return .free }
        if try file.isUnlinked() { return nil }
        var shared = try file.tryShared()
        // A judge or breaker holds the exclusive lock for microseconds: unless the
        // record's own process is there to hold it, look again before calling the
        // holder alive on its account.
        if shared == false, !holderProcessExists(file) {
            for _ in 0..<3 where shared == false {
                Syscalls.sleep(nanoseconds: 200_000)
                shared = try file.tryShared()
            }
        }
        let kernelLock: StalenessJudge.KernelLock =
            switch shared {
            case true?: .notHeld
            case false?: .heldExclusively
            case nil: .unknown
            }
        defer { file.letGo() }
        return try file.judge(with: judge, kernelLock: kernelLock, namingProgram: true).status
    }

    /// Whether the file's record names a process of this machine that exists.
    private func holderProcessExists(_ file: OpenLockFile) -> Bool {
        guard let bytes = try? file.currentBytes(), let record = try? LockRecord(decoding: bytes),
            judge.identity.match(record.hostnameBytes) != .otherHost,
            record.pid > 0, Int64(record.pid) < judge.identity.pidLimit
        else { return false }
        return (try? Syscalls.probeProcess(Int32(record.pid))) == .exists
    }

    /// The lock's state, looking again while it keeps changing; a non-regular file
    /// at the lock path is reported as invalid.
    func currentStatus() throws(LockError) -> LockStatus {
        for _ in 0..<16 {
            do {
                if let status = try inspect() { return status }
            } catch  where error.errno == .staleNFSFileHandle {
                // NFS: the file opened was removed on the server meanwhile; look again.
                continue
            } catch  where error.code == .notARegularFile {
                if let status = error.status { return status }
                throw error
            }
        }
        throw LockError(.busy, lockFile: location.lockFile, message: "\(location.lockFile) kept changing while it was read; try again")
    }
}
