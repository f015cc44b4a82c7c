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
    private let hub: MonitorThread?
    private let wake: WakeSignal?
    private var directorySubscription: MonitorThread.Subscription?
    private var fileSubscription: MonitorThread.Subscription?
    private var watchedFile: FileIdentity?

    init(lockFile: FilePath) {
        self.lockFile = lockFile
        let wake = try? WakeSignal()
        self.wake = wake
        self.hub = wake == nil || !MonitorThread.shared.deliversFileEvents ? nil : MonitorThread.shared
        if let hub, let wake {
            let directory = lockFile.removingLastComponent().isEmpty ? FilePath(".") : lockFile.removingLastComponent()
            let name = Array((lockFile.lastComponent?.string ?? "").utf8)
            directorySubscription = hub.subscribe(directory.string, events: MonitorThread.directoryEvents, name: name) {
                wake.signal()
            }
        }
    }

    deinit {
        hub?.unsubscribe(directorySubscription)
        hub?.unsubscribe(fileSubscription)
    }

    /// Whether events arrive at all; without them the waiter polls.
    var deliversEvents: Bool { directorySubscription != nil }

    /// Starts watching the file now at the lock path; returns which file that is,
    /// or nil when the path names nothing or the file could not be pinned down.
    func watchCurrentLockFile() -> FileIdentity? {
        guard let before = try? Syscalls.lstat(lockFile) else { return nil }
        let identity = FileIdentity(before)
        guard let hub, let wake, deliversEvents else { return identity }
        if identity != watchedFile {
            hub.unsubscribe(fileSubscription)
            fileSubscription = hub.subscribe(lockFile.string, events: MonitorThread.fileEvents | UInt32(IN_DONT_FOLLOW)) {
                wake.signal()
            }
            watchedFile = fileSubscription == nil ? nil : identity
        }
        // The watch was added by path: make sure the path still named the same file after it.
        guard fileSubscription != nil, let after = try? Syscalls.lstat(lockFile), FileIdentity(after) == identity else {
            watchedFile = nil
            return nil
        }
        return identity
    }

    /// Sleeps until a relevant event, `cancellation` becoming readable, or `timeout`.
    ///
    /// - Returns: false when the timeout passed with no event.
    func wait(timeout: Duration, cancellation: CInt?) throws(SystemCallError) -> Bool {
        var descriptors: [CInt] = []
        if let wake, deliversEvents { descriptors.append(wake.readable) }
        if let cancellation { descriptors.append(cancellation) }
        guard !descriptors.isEmpty else {
            var request = timespec(tv_sec: Int(timeout.components.seconds),
                                   tv_nsec: Int(timeout.components.attoseconds / 1_000_000_000))
            var left = timespec()
            while nanosleep(&request, &left) == -1 && errno == EINTR { request = left }
            return false
        }
        let woken = try Syscalls.pollReadable(descriptors, timeoutMilliseconds: timeout.pollMilliseconds)
        wake?.reset()
        return woken
    }
}
