import Glibc
import SystemPackage

/// Wakes a waiter when a lock file without a kernel lock may have gone.
///
/// Locks held by RVFLock are waited for in the kernel's queue (their holder
/// keeps `flock()`); this is for the rest: the reference's lock files, and locks
/// from other machines. On Linux, inotify reports the lock file's name leaving
/// its directory (release, or a breaker's unlink or rename), and the monitor
/// thread signals the wait's waker; a bounded sleep with backoff covers what no
/// event reports: ages crossing a threshold, and changes made by other machines
/// on network file systems.
final class LockChangeWatcher {
    private let hub: MonitorThread?
    private let waker: WakeSignal?
    private var subscription: MonitorThread.Subscription?

    /// Signals `waker` on every change to the lock's name; nil: the wait only polls.
    init(location: LockLocation, waker: WakeSignal?) {
        self.waker = waker
        let monitor = try? MonitorThread.current()
        self.hub = waker == nil || monitor?.deliversFileEvents != true ? nil : monitor
        if let hub, let waker {
            subscription = ProcSelfFD.withPath(of: location.directory.descriptor) { directory in
                hub.subscribe(directory, events: MonitorThread.directoryEvents, name: location.nameBytes) {
                    waker.signal()
                }
            }
        }
    }

    deinit {
        hub?.unsubscribe(subscription)
    }

    /// Sleeps until the waker is signalled (a file event, cancellation) or `timeout`.
    func wait(timeout: Duration) throws(SystemCallError) {
        if let waker {
            _ = try waker.sleep(timeout: timeout)
            return
        }
        Syscalls.sleep(
            nanoseconds: UInt64(timeout.components.seconds) * 1_000_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000))
    }
}
