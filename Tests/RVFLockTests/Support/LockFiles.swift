#if canImport(Glibc)
import Glibc
#endif
import RVFLock

/// Plain file operations the tests use to plant, inspect and doctor lock files
/// behind the library's back.
enum LockFiles {
    static func write(_ bytes: [UInt8], to path: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(descriptor >= 0, "open \(path) failed: errno \(errno)")
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        precondition(written == bytes.count, "write \(path) failed: errno \(errno)")
    }

    /// Overwrites the start of an existing file without replacing it: the same inode,
    /// as a holder's own heartbeat would.
    static func overwriteInPlace(_ bytes: [UInt8], at path: String) {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        precondition(descriptor >= 0, "open \(path) failed: errno \(errno)")
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        precondition(written == bytes.count, "pwrite \(path) failed: errno \(errno)")
    }

    static func read(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return bytes
    }

    static func record(at path: String) -> LockRecord? {
        guard let bytes = read(path) else { return nil }
        return try? LockRecord(decoding: bytes)
    }

    /// Whether anything (a file, a directory, a dangling symlink) is at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func inode(_ path: String) -> ino_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_ino : nil
    }

    /// Whether some process holds an exclusive `flock()` on the file at `path`.
    static func isKernelLocked(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return flock(descriptor, LOCK_SH | LOCK_NB) != 0
    }

    static func owner(_ path: String) -> uid_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_uid : nil
    }

    /// Sets a file's modification time `seconds` into the past (negative: the future).
    static func setModificationTime(_ path: String, secondsAgo seconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var times = [now, now]
        times[1].tv_sec -= seconds
        let result = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
        precondition(result == 0, "utimensat \(path) failed: errno \(errno)")
    }

    /// Rewrites the record's timestamp in place, keeping its checksum algorithm and
    /// making the checksum correct again.
    static func setTimestamp(_ path: String, to nanoseconds: UInt64) {
        guard var record = record(at: path) else { preconditionFailure("no valid record at \(path)") }
        record.timestampNanoseconds = nanoseconds
        overwriteInPlace(record.encoded(), at: path)
    }

    static func nowNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func nanoseconds(secondsAgo seconds: UInt64) -> UInt64 {
        nowNanoseconds() - seconds * 1_000_000_000
    }

    static func randomWriterID() -> WriterID {
        WriterID(high: .random(in: 0...UInt64.max), low: .random(in: 0...UInt64.max))
    }

    /// Names in `directory` that look like RVFLock's named temporaries of `data.rvf.lock`.
    static func temporaries(in directory: TemporaryDirectory, lockName: String = "data.rvf.lock") -> [String] {
        directory.entries.filter { $0.hasPrefix(".\(lockName).") && $0.hasSuffix(".tmp") }
    }
}
