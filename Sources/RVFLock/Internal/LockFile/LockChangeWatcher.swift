#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemPackage

/// Wakes a waiter when a lock file without a kernel lock may have gone.
///
/// Locks held by RVFLock are waited for in the kernel's queue (their holder
/// keeps `flock()`); this is for the rest: the reference's lock files, and locks
/// from other machines. On Linux, inotify reports the lock file's name leaving
/// its directory (release, or a breaker's unlink or rename); a bounded sleep
/// with backoff covers what no event reports: ages crossing a threshold, and
/// changes made by other machines on network file systems.
final class LockChangeWatcher {
    private let hub: MonitorThread?
    private let wake: WakeSignal?
    private var subscription: MonitorThread.Subscription?

    init(location: LockLocation) {
        let wake = try? WakeSignal()
        self.wake = wake
        let monitor = try? MonitorThread.current()
        self.hub = wake == nil || monitor?.deliversFileEvents != true ? nil : monitor
        if let hub, let wake {
            subscription = ProcSelfFD.withPath(of: location.directory.descriptor) { directory in
                hub.subscribe(directory, events: MonitorThread.directoryEvents, name: location.nameBytes) {
                    wake.signal()
                }
            }
        }
    }

    deinit {
        hub?.unsubscribe(subscription)
    }

    /// Whether events arrive at all; without them the waiter only polls.
    var deliversEvents: Bool { subscription != nil }

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
