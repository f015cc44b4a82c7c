#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// Wakes a waiter when the lock it waits for may have become free.
///
/// On Linux, inotify reports the two events that matter: the lock file's name
/// disappearing from its directory (release, or a breaker's unlink), and the
/// holder's writable descriptor on the lock file closing (`IN_CLOSE_WRITE`: the
/// holder released or died, so its kernel lock is free). Waiters therefore sleep
/// until something happens instead of polling. File systems that deliver no
/// events for other machines' changes are covered by a bounded sleep with backoff.
final class LockChangeWatcher {
    private let lockFile: FilePath
    private let lockName: [UInt8]
    private var notifier: CInt = -1
    private var directoryWatch: CInt = -1
    private var fileWatch: CInt = -1

    init(lockFile: FilePath) {
        self.lockFile = lockFile
        self.lockName = Array((lockFile.lastComponent?.string ?? "").utf8)
        #if os(Linux)
        notifier = inotify_init1(CInt(IN_NONBLOCK | IN_CLOEXEC))
        if notifier >= 0 {
            let directory = lockFile.removingLastComponent().isEmpty ? FilePath(".") : lockFile.removingLastComponent()
            let mask = UInt32(IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
            directoryWatch = directory.withPlatformString { inotify_add_watch(notifier, $0, mask) }
        }
        #endif
    }

    deinit {
        if notifier >= 0 { Syscalls.close(notifier) }
    }

    /// Whether events arrive at all; without them the waiter polls.
    var deliversEvents: Bool { notifier >= 0 && directoryWatch >= 0 }

    /// Starts watching the file now at the lock path; returns which file that is,
    /// or nil when the path names nothing or the file could not be pinned down.
    func watchCurrentLockFile() -> FileIdentity? {
        guard let before = try? Syscalls.lstat(lockFile) else { return nil }
        #if os(Linux)
        guard deliversEvents else { return FileIdentity(before) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)
        let watch = lockFile.withPlatformString { inotify_add_watch(notifier, $0, mask) }
        if watch >= 0 && watch != fileWatch {
            if fileWatch >= 0 && fileWatch != directoryWatch { _ = inotify_rm_watch(notifier, fileWatch) }
            fileWatch = watch
        }
        guard watch >= 0, let after = try? Syscalls.lstat(lockFile), FileIdentity(after) == FileIdentity(before) else {
            return nil
        }
        #endif
        return FileIdentity(before)
    }

    /// Sleeps until a relevant event, `cancellation` becoming readable, or `timeout`.
    ///
    /// - Returns: false when the timeout passed with no relevant event.
    func wait(timeout: Duration, cancellation: CInt?) throws(SystemCallError) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let remaining = deadline - clock.now
            guard remaining > .zero else { return false }
            var descriptors: [CInt] = []
            if deliversEvents { descriptors.append(notifier) }
            if let cancellation { descriptors.append(cancellation) }
            if descriptors.isEmpty {
                var request = timespec(tv_sec: Int(remaining.components.seconds),
                                       tv_nsec: Int(remaining.components.attoseconds / 1_000_000_000))
                var left = timespec()
                while nanosleep(&request, &left) == -1 && errno == EINTR { request = left }
                return false
            }
            guard try Syscalls.pollReadable(descriptors, timeoutMilliseconds: remaining.pollMilliseconds) else {
                return false
            }
            if let cancellation, try Syscalls.pollReadable([cancellation], timeoutMilliseconds: 0) { return true }
            if drainRelevantEvents() { return true }
        }
    }

    /// Reads pending events; true if any concerns the lock file.
    private func drainRelevantEvents() -> Bool {
        #if os(Linux)
        var relevant = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(notifier, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            var offset = 0
            while offset + 16 <= count {
                let watch = LittleEndianHost.int32(buffer, at: offset)
                let mask = LittleEndianHost.uint32(buffer, at: offset + 4)
                let nameLength = Int(LittleEndianHost.uint32(buffer, at: offset + 12))
                let nameBytes = buffer[(offset + 16)..<(offset + 16 + nameLength)].prefix { $0 != 0 }
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    relevant = true
                } else if watch == directoryWatch {
                    let selfGone = mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0
                    if selfGone || Array(nameBytes) == lockName { relevant = true }
                } else if watch == fileWatch, mask & UInt32(IN_IGNORED) == 0 {
                    relevant = true
                }
                offset += 16 + nameLength
            }
        }
        return relevant
        #else
        return true
        #endif
    }
}

/// Native-endian reads of `struct inotify_event` fields from a byte buffer.
private enum LittleEndianHost {
    static func uint32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    static func int32(_ bytes: [UInt8], at offset: Int) -> Int32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
    }
}
