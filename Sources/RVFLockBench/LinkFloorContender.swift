#if canImport(Glibc)
import Glibc
import RVFLock
#endif

/// The floor of a handoff through the lock path: RVFLock's protocol as bare
/// system calls, without the library (no judging, no timeout, no set-up of the
/// holding, no process queue).
///
/// Acquire: an unnamed file (`O_TMPFILE`) with its `flock()` taken and a record
/// written, linked to the lock path. When the path is taken: open the file there,
/// give the prepared file a private name, block in `flock(LOCK_EX)` on the holder's
/// file, and, once granted, link the private name to the lock path and remove the
/// private name, keeping the old file's kernel lock (the predecessor) while
/// holding. Release: look at the lock path, unlink it, let go of the predecessor,
/// close. Waiters that find the path taken by the new holder let go of the old
/// file and queue on the new one, as RVFLock's do.
///
/// It shows what issue 17's handoff goal measures against: the directory work
/// that makes a handoff visible at the lock path (an unlink, a link, a second
/// name's removal) and the wake-ups of the line moving over to the new file, on
/// this machine's file system; and, in the contention loop, the throughput and
/// the fairness that this protocol reaches with no library code. It never meets
/// a crash, so it judges nothing.
final class LinkFloorContender: Contender {
    private let directory: CInt
    private let lockName: String
    private let privateName: String
    private var held: CInt = -1
    /// The old file whose kernel lock this holder was granted, kept until its release.
    private var predecessor: CInt = -1
    private static let record = [UInt8](repeating: 0x5A, count: 104)

    init(dataFile: String) throws(BenchFailure) {
        let slash = dataFile.lastIndex(of: "/")
        let directoryPath = slash.map { String(dataFile[..<$0]) } ?? "."
        let name = slash.map { String(dataFile[dataFile.index(after: $0)...]) } ?? dataFile
        lockName = name + ".lock"
        privateName = ".\(name).lock.\(getpid()).floor"
        directory = open(directoryPath, BareSystemCalls.openPath | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw BenchFailure("link floor worker could not open \(directoryPath): errno \(errno)") }
    }

    deinit { close(directory) }

    func acquire(before end: UInt64) throws -> Bool {
        guard Syscalls.monotonicNanoseconds() < end else { return false }
        let file = try BareSystemCalls.check(
            openat(directory, ".", BareSystemCalls.openTemporaryFile | O_RDWR | O_CLOEXEC, 0o644), "open O_TMPFILE")
        try BareSystemCalls.check(flock(file, LOCK_EX | LOCK_NB), "flock(LOCK_EX|LOCK_NB)")
        try BareSystemCalls.check(CInt(Self.record.withUnsafeBytes { pwrite(file, $0.baseAddress, $0.count, 0) }), "pwrite")
        var info = stat()
        try BareSystemCalls.check(fstat(file, &info), "fstat")
        var named = false
        while true {
            if linkat(file, "", directory, lockName, BareSystemCalls.emptyPath) == 0 {
                // Found the path free after a lost race: the private name goes, as the library's would.
                if named { unlinkat(directory, privateName, 0) }
                break
            }
            guard errno == EEXIST else { throw BenchFailure("link floor: linkat failed: errno \(errno)") }
            let current = openat(directory, lockName, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
            guard current >= 0 else {
                guard errno == ENOENT else { throw BenchFailure("link floor: open of the lock failed: errno \(errno)") }
                continue
            }
            if !named {
                try BareSystemCalls.check(linkat(file, "", directory, privateName, BareSystemCalls.emptyPath), "linkat to the private name")
                named = true
            }
            while flock(current, LOCK_EX) != 0 {
                guard errno == EINTR else { throw BenchFailure("link floor: flock(LOCK_EX) failed: errno \(errno)") }
            }
            let linked = linkat(directory, privateName, directory, lockName, 0) == 0
            guard linked || errno == EEXIST else { throw BenchFailure("link floor: linkat failed: errno \(errno)") }
            if linked {
                unlinkat(directory, privateName, 0)
                named = false
                predecessor = current
                break
            }
            flock(current, LOCK_UN)
            close(current)
        }
        held = file
        // As kernel flock's worker does: a lock obtained after the end is given back uncounted.
        guard Syscalls.monotonicNanoseconds() < end else {
            try release()
            return false
        }
        return true
    }

    func release() throws {
        guard held >= 0 else { throw BenchFailure("link floor: release without a held lock") }
        var info = stat()
        try BareSystemCalls.check(fstatat(directory, lockName, &info, AT_SYMLINK_NOFOLLOW), "fstatat of the lock")
        try BareSystemCalls.check(unlinkat(directory, lockName, 0), "unlinkat of the lock")
        if predecessor >= 0 {
            flock(predecessor, LOCK_UN)
            close(predecessor)
            predecessor = -1
        }
        close(held)
        held = -1
    }
}
