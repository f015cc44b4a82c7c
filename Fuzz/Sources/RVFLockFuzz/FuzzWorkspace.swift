#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage

/// A directory (on a RAM disk when there is one) with one data file whose lock file
/// the fuzzer writes inputs to, and a lock to judge them with.
final class FuzzWorkspace {
    // libFuzzer runs the target on one thread, one input at a time (no -fork/-jobs
    // sharing a process), so nothing else touches this while an input runs.
    nonisolated(unsafe) static let shared = FuzzWorkspace()

    let directory: String
    let lock: WriterLock
    /// A writer id made by the library on this boot, so that repaired records can carry
    /// one and go down the "written by RVFLock on this machine" path.
    let bootTaggedWriterID: WriterID
    let hostname: String
    var inputs = 0
    private let options: LockOptions

    /// The directory to remove when the process exits (see ``init()``).
    // Written once, by the workspace's init on libFuzzer's one thread, and read by
    // the exit handler, which runs on the thread that called exit() after the last input.
    nonisolated(unsafe) private static var createdDirectory: String?

    private init() {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(base)/rvflock-fuzz-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { fatalError("mkdtemp failed: errno \(errno)") }
        directory = String(cString: created)
        // libFuzzer ends the process with exit() once its time is up: the directory goes
        // then, rather than one per run staying behind on the RAM disk.
        Self.createdDirectory = directory
        atexit { FuzzWorkspace.removeCreatedDirectory() }
        options = LockOptions()
        lock = WriterLock(dataFile: FilePath(directory + "/data.rvf"), options: options)
        do {
            let handle = try lock.tryAcquire()
            bootTaggedWriterID = handle.writerID
            hostname = handle.record.hostname
            try handle.release()
        } catch {
            fatalError("cannot take the lock in \(directory): \(error)")
        }
    }

    /// Removes the workspace and what the last input left in it (a lock file, a
    /// prepared temporary one): nothing below it is a directory.
    private static func removeCreatedDirectory() {
        guard let path = createdDirectory, let listing = opendir(path) else { return }
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlinkat(dirfd(listing), name, 0) }
        }
        closedir(listing)
        rmdir(path)
    }

    /// A valid record carrying the input's fields, with some fields steered by the
    /// input's first byte toward the cases the judge distinguishes.
    func repairedRecord(from input: [UInt8]) -> [UInt8]? {
        guard input.count >= 8 else { return nil }
        var bytes = input + [UInt8](repeating: 0, count: max(0, LockRecord.size - input.count))
        func uint32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
        func uint64(_ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
        let steering = bytes[0]
        var hostnameBytes = Array(bytes[8..<72].prefix { $0 != 0 }.prefix(LockRecord.maximumHostnameLength))
        if steering & 0x01 != 0 { hostnameBytes = Array(hostname.utf8) }
        var pid = uint32(4)
        switch steering >> 1 & 0x03 {
        case 1: pid = UInt32(getpid())
        case 2: pid = pid % 64
        default: break
        }
        var timestamp = uint64(0x48)
        if steering & 0x08 != 0 {
            // Within about ±70 minutes of now, where the thresholds are.
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let wall = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
            timestamp = wall &- UInt64(uint32(0x48) % 4_200) * 1_000_000_000 &+ 600_000_000_000
        }
        var writerID = WriterID(bytes: bytes[0x50..<0x60])
        if steering & 0x10 != 0 { writerID = bootTaggedWriterID }
        var record = LockRecord(
            pid: pid, hostname: "", timestampNanoseconds: timestamp, writerID: writerID,
            checksum: steering & 0x20 != 0 ? .crc32 : .crc32c)
        record.hostnameBytes = hostnameBytes
        bytes = record.encoded()
        return bytes
    }

    /// Writes `bytes` as the lock file and checks what `status()` and `breakLock()` make of it.
    func judge(_ bytes: [UInt8], decodesAsValid: Bool, holdKernelLock: Bool) {
        let path = lock.lockFile.string
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(descriptor >= 0, "cannot write \(path): errno \(errno)")
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        // flock() conflicts between two open file descriptions even in one process, so
        // this stands for a live holder in another process.
        if holdKernelLock { precondition(flock(descriptor, LOCK_EX | LOCK_NB) == 0, "flock failed: errno \(errno)") }
        defer {
            close(descriptor)
            unlink(path)
        }

        let status: LockStatus
        do {
            status = try lock.status()
        } catch {
            preconditionFailure("status() threw for a regular file: \(error)")
        }
        switch status {
        case .held(let holder), .stale(let holder, _):
            precondition(decodesAsValid, "status() read a record the decoder rejects: \(status)")
            precondition(holder.record.encoded() == bytes, "status() reports a record other than the file's")
        case .invalid(let invalid):
            precondition(!decodesAsValid || bytes.count != LockRecord.size, "status() rejects a valid record: \(invalid)")
        case .free:
            preconditionFailure("status() says free while a lock file exists")
        }
        if holdKernelLock {
            precondition(!status.isBreakable, "a lock file whose kernel lock is held was judged breakable: \(status)")
        }

        do {
            let removed = try lock.breakLock()
            precondition(!holdKernelLock, "breakLock() removed a lock file whose kernel lock is held: \(status)")
            guard let removed else { preconditionFailure("breakLock() found no lock file") }
            precondition(removed.isBreakable, "breakLock() removed a lock it does not judge breakable: \(removed)")
            precondition(
                status.isBreakable || verdictMayHaveChanged(status),
                "breakLock() removed a lock that status() had just judged held: \(status)")
        } catch {
            precondition(error.code == .notStale, "breakLock() failed unexpectedly: \(error)")
            _ = error.description
        }
    }

    /// Whether a "held" verdict could honestly have become "stale" a moment later: the
    /// probed process exited, or the age was within a second of its threshold.
    private func verdictMayHaveChanged(_ status: LockStatus) -> Bool {
        func near(_ age: Duration, _ threshold: Duration) -> Bool { age > threshold - .seconds(1) && age <= threshold }
        switch status {
        case .held(let holder):
            let threshold = holder.isSameHost ? options.sameHostStaleAfter : options.otherHostStaleAfter
            return holder.liveness == .processExists || near(holder.age, threshold)
        case .invalid(let invalid):
            return near(invalid.fileAge, options.sameHostStaleAfter)
        case .free, .stale:
            return true
        }
    }
}
