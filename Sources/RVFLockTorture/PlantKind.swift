#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock

/// Something the parent puts at the lock path while the lock is free, and what
/// the library is expected to do about it.
enum PlantKind: String, CaseIterable, Codable, Sendable {
    case empty, truncated, garbage, badChecksum
    case pidZeroOld, pidAboveMaximumOld
    case pidZeroFuture, futureTimestamp
    /// A live process's pid, in a record written before that process started (the
    /// harness's own pid, an hour before the run): the pid was reused.
    case pidReused
    /// Pid 1 in a record written before this boot: every process of this boot started later.
    case pidBeforeBoot
    case directory, danglingSymlink

    /// What should happen to it.
    enum Expectation: String, Codable, Sendable {
        /// An invalid file: held while its mtime is fresh, broken by a worker once older than the stale threshold.
        case brokenAfterThreshold
        /// A record whose holder cannot exist and whose timestamp is old: broken by a worker at once.
        case brokenAtOnce
        /// A record from a dead or impossible pid whose timestamp lies in the future, so that its
        /// wall-clock age reads 0. The library also counts how long a waiter has watched the same
        /// record unchanged (monotonic clock), so a worker breaks it once that exceeds the threshold;
        /// without that, only an operator could remove it.
        case brokenOnceWatchedPastThreshold
        /// Not a regular file: workers fail with `.notARegularFile`, the library never removes it.
        case notARegularFile
    }

    var expectation: Expectation {
        switch self {
        case .empty, .truncated, .garbage, .badChecksum: .brokenAfterThreshold
        case .pidZeroOld, .pidAboveMaximumOld, .pidReused, .pidBeforeBoot: .brokenAtOnce
        case .pidZeroFuture, .futureTimestamp: .brokenOnceWatchedPastThreshold
        case .directory, .danglingSymlink: .notARegularFile
        }
    }

    /// Puts the thing at `lockPath` only if nothing is there (link, mkdir and symlink all fail
    /// with EEXIST atomically), so the parent never replaces a lock someone holds.
    /// Returns the planted inode's identity, or nil when the lock path was taken.
    func plant(at lockPath: String, scratch: String, random: inout SeededGenerator) -> PlantedIdentity? {
        switch self {
        case .directory:
            guard mkdir(lockPath, 0o755) == 0 else { return nil }
        case .danglingSymlink:
            guard symlink("missing-target-\(random.next() % 1000)", lockPath) == 0 else { return nil }
        default:
            let bytes = contents(random: &random)
            unlink(scratch)
            let descriptor = open(scratch, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            precondition(descriptor >= 0, "cannot create \(scratch): errno \(errno)")
            _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            close(descriptor)
            defer { unlink(scratch) }
            guard link(scratch, lockPath) == 0 else { return nil }
        }
        return PlantedIdentity(path: lockPath)
    }

    private func contents(random: inout SeededGenerator) -> [UInt8] {
        let hour: UInt64 = 3_600_000_000_000
        let now = Syscalls.wallClockNanoseconds()
        func record(pid: UInt32, timestamp: UInt64) -> [UInt8] {
            LockRecord(
                pid: pid, hostname: Self.hostname, timestampNanoseconds: timestamp,
                writerID: WriterID(high: random.next(), low: random.next())
            ).encoded()
        }
        switch self {
        case .empty:
            return []
        case .truncated:
            return Array(record(pid: UInt32(getpid()), timestamp: now).prefix(50))
        case .garbage:
            return (0..<LockRecord.size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        case .badChecksum:
            var bytes = record(pid: UInt32(getpid()), timestamp: now)
            bytes[LockRecord.size - 1] ^= 0x5A
            return bytes
        case .pidZeroOld:
            return record(pid: 0, timestamp: now - hour)
        case .pidAboveMaximumOld:
            return record(pid: UInt32(Self.pidMaximum + 1), timestamp: now - hour)
        case .pidZeroFuture:
            return record(pid: 0, timestamp: now + 24 * hour)
        case .futureTimestamp:
            return record(pid: Self.deadPID(), timestamp: now + 24 * hour)
        case .pidReused:
            return record(pid: UInt32(getpid()), timestamp: now - hour)
        case .pidBeforeBoot:
            var sinceBoot = timespec()
            clock_gettime(CLOCK_BOOTTIME, &sinceBoot)
            let boot = now - UInt64(sinceBoot.tv_sec) * 1_000_000_000
            return record(pid: 1, timestamp: boot - hour)
        case .directory, .danglingSymlink:
            return []
        }
    }

    static let hostname: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    static let pidMaximum: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)) ?? ""
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4_194_304
    }()

    /// A pid no process has right now, so that only the timestamp keeps the lock alive.
    static func deadPID() -> UInt32 {
        var candidate = Int32(pidMaximum - 1)
        while candidate > 2 && (kill(candidate, 0) == 0 || errno != ESRCH) { candidate -= 1 }
        return UInt32(candidate)
    }
}

/// Which inode was planted, so that the parent can tell a worker's removal from a new lock.
struct PlantedIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
