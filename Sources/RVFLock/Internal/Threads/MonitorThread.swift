import Glibc
import CRVFLockShims
import Synchronization
import SystemPackage

/// One thread for the whole process that watches lock files for waiters and
/// holders, and keeps time for waits.
///
/// It sleeps in `poll(2)` on one inotify instance and one timerfd, and wakes
/// only for a file event or a timer that is due. Closing an inotify instance
/// waits for a kernel RCU grace period (about 5 ms measured here), so one
/// instance serves every waiter and holder. The timerfd is armed to the earliest
/// due time by whoever adds a timer that is due sooner; removing a timer leaves it
/// armed, and the thread, woken then for nothing, re-arms it for the next timer.
///
/// The descriptors are made at the first acquisition, before its lock file is
/// opened (see ``lockDescriptorFloor``); the thread at its first need: a wait
/// (``startThread()``, which the wait's acquisition calls before it takes
/// anything, so that a process at its thread limit is refused the wait), or the
/// watch of a lock held past its watch delay. A process that only holds locks
/// briefly (`rvf-lock exec -n`) never starts it.
///
/// The thread itself never touches a lock file: timer actions and event
/// callbacks must return at once (holders hand their I/O to their own thread),
/// so that a slow or hung file system stalls no other lock.
///
/// One per process: a child forked without `exec` shares its parent's inotify
/// instance and timerfd (arming either would disturb the parent) and has none of
/// its threads, so it makes its own (``current()``).
final class MonitorThread: Sendable {
    private static let perProcess = Mutex<MonitorThread?>(nil)

    /// This process's monitor, its descriptors made on first use; its thread is
    /// started by ``startThread()``.
    ///
    /// - Throws: when its timerfd cannot be made (the process is out of descriptors).
    static func current() throws(SystemCallError) -> MonitorThread {
        try perProcess.withLock { (monitor) throws(SystemCallError) -> MonitorThread in
            let me = Syscalls.processID
            if let monitor, monitor.owner == me { return monitor }
            // Forked: the parent's descriptors are its own business; close this copy of them.
            if let inherited = monitor {
                if let notifier = inherited.notifier { Syscalls.close(notifier) }
                Syscalls.close(inherited.timer)
            }
            let made = try MonitorThread(owner: me)
            monitor = made
            return made
        }
    }

    /// Events that mean a watched lock file lost its name or was moved: a
    /// holder's loss. Not `IN_CLOSE_WRITE`: judges open lock files for writing,
    /// and their every close would wake the holder for nothing.
    static let holderEvents = UInt32(IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    /// Events that mean a name left a watched directory, or the directory itself went.
    static let directoryEvents = UInt32(IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    struct Subscription: Sendable {
        fileprivate let watch: CInt
        fileprivate let id: UInt64
    }

    struct TimerID: Sendable {
        fileprivate let id: UInt64
    }

    private struct Subscriber {
        let watch: CInt
        let id: UInt64
        let name: ArraySlice<UInt8>?
        let callback: @Sendable () -> Void
    }

    private struct Timer {
        let id: UInt64
        var due: UInt64
        let interval: UInt64
        let action: @Sendable () -> Void
    }

    // Arrays, not dictionaries: a process watches and times a few locks at most,
    // and each dictionary type costs a runtime conformance lookup at first use,
    // which a short-lived process (`rvf-lock exec`) pays on every run.
    private struct State: ~Copyable {
        var subscribers: [Subscriber] = []
        var timers: [Timer] = []
        var nextID: UInt64 = 0
        /// What the timerfd is armed to (monotonic ns), 0 when disarmed.
        var armedFor: UInt64 = 0
        /// Watches being removed outside the lock (``unsubscribe(_:)``).
        var removing: [CInt] = []
    }

    /// The inotify instance; nil where there is none (waiters then poll).
    private let notifier: FileDescriptor?
    private let timer: FileDescriptor
    private let owner: pid_t
    private let state = Mutex(State())
    private let threadStarted = Mutex(false)

    private init(owner: pid_t) throws(SystemCallError) {
        self.owner = owner
        Syscalls.prepareDescriptors()
        // Without inotify, waiters poll and holders rely on their heartbeats.
        notifier = Syscalls.adopting(inotify_init1(CInt(IN_NONBLOCK | IN_CLOEXEC)))
        guard let timer = Syscalls.adopting(rvf_timerfd_create()) else {
            let failure = SystemCallError(name: "timerfd_create", errno: .init(rawValue: errno))
            if let notifier { Syscalls.close(notifier) }
            throw failure
        }
        self.timer = timer
    }

    /// Starts the thread, for the life of the process, unless it runs already.
    ///
    /// - Throws: `pthread_create`'s error: `EAGAIN` at the process's or its cgroup's thread limit.
    func startThread() throws(SystemCallError) {
        try threadStarted.withLock { (started) throws(SystemCallError) in
            guard !started else { return }
            try WorkerThreads.startDetached(stackSize: 256 * 1024) { [self] in run() }
            started = true
        }
    }

    /// The lowest number a lock file's descriptor should have: above the inotify
    /// instance's.
    ///
    /// When a process dies, the kernel finishes closing its files in the reverse
    /// order of their descriptors, and closing an inotify instance waits for an RCU
    /// grace period (milliseconds). A lock file numbered below it would keep its
    /// `flock()` that much longer after its holder died; numbered above, it is
    /// released first.
    var lockDescriptorFloor: CInt { max(notifier?.rawValue ?? -1, timer.rawValue) + 1 }

    /// Whether file events arrive; without them waiters poll and holders rely on heartbeats.
    var deliversFileEvents: Bool { notifier != nil }

    /// Calls `callback` on the monitor thread for every event on `path` (for a
    /// directory: for `name` inside it). Nil when the path cannot be watched, or
    /// the thread cannot be started.
    func subscribe(
        _ path: UnsafePointer<CChar>, events: UInt32, name: ArraySlice<UInt8>? = nil,
        _ callback: @escaping @Sendable () -> Void
    ) -> Subscription? {
        guard let notifier, (try? startThread()) != nil else { return nil }
        while true {
            let made: Subscription?? = state.withLock { state in
                let watch = inotify_add_watch(notifier.rawValue, path, events)
                guard watch >= 0 else { return .some(nil) }
                // Another thread is removing this very watch (see unsubscribe): add it
                // again once that is done.
                if state.removing.contains(watch) { return nil }
                let id = state.nextID
                state.nextID += 1
                state.subscribers.append(Subscriber(watch: watch, id: id, name: name, callback: callback))
                return Subscription(watch: watch, id: id)
            }
            if let made { return made }
            sched_yield()
        }
    }

    func unsubscribe(_ subscription: Subscription?) {
        guard let subscription, let notifier else { return }
        let unwatched = state.withLock { state -> Bool in
            guard let index = state.subscribers.firstIndex(where: { $0.id == subscription.id }) else { return false }
            state.subscribers.remove(at: index)
            guard !state.subscribers.contains(where: { $0.watch == subscription.watch }) else { return false }
            state.removing.append(subscription.watch)
            return true
        }
        guard unwatched else { return }
        // Outside the lock: removing a watch queues an event that wakes this thread,
        // which then needs the lock. Removed under it, a releasing holder was
        // preempted by the woken monitor thread, which blocked on the lock
        // (a priority-inheriting futex), and the holder ran again only to hand the
        // lock over and be preempted once more before its unlink (traced).
        _ = inotify_rm_watch(notifier.rawValue, subscription.watch)
        state.withLock { $0.removing.removeAll { $0 == subscription.watch } }
    }

    /// Runs `action` on the monitor thread every `interval` (at least 1 ms) until
    /// cancelled; nil if the thread cannot be started.
    func every(_ interval: Duration, _ action: @escaping @Sendable () -> Void) -> TimerID? {
        guard (try? startThread()) != nil else { return nil }
        let interval = max(interval.nanoseconds, 1_000_000)
        return add(due: Syscalls.monotonicNanoseconds() &+ interval, interval: interval, action)
    }

    private func add(due: UInt64, interval: UInt64, _ action: @escaping @Sendable () -> Void) -> TimerID {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.timers.append(Timer(id: id, due: due, interval: interval, action: action))
            if state.armedFor == 0 || due < state.armedFor { arm(&state, for: due) }
            return TimerID(id: id)
        }
    }

    func cancel(_ timerID: TimerID) {
        state.withLock { state in
            guard let index = state.timers.firstIndex(where: { $0.id == timerID.id }) else { return }
            // The timerfd stays armed: when it fires, runDueTimers finds nothing due
            // and re-arms for the next timer (see the type's comment).
            state.timers.remove(at: index)
        }
    }

    private func earliestDue(_ state: borrowing State) -> UInt64 {
        var earliest: UInt64 = 0
        for timer in state.timers where earliest == 0 || timer.due < earliest { earliest = timer.due }
        return earliest
    }

    private func arm(_ state: inout State, for due: UInt64) {
        guard due != state.armedFor else { return }
        state.armedFor = due
        _ = rvf_timerfd_arm(timer.rawValue, due)
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var entries = [
            // poll(2) skips a negative descriptor: no inotify, timers only.
            pollfd(fd: notifier?.rawValue ?? -1, events: Int16(POLLIN), revents: 0),
            pollfd(fd: timer.rawValue, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            for index in entries.indices { entries[index].revents = 0 }
            guard poll(&entries, nfds_t(entries.count), -1) > 0 else { continue }
            if entries[0].revents != 0 { deliverFileEvents(buffer: &buffer) }
            if entries[1].revents != 0 {
                Syscalls.drain(timer)
                runDueTimers()
            }
        }
    }

    private func runDueTimers() {
        let now = Syscalls.monotonicNanoseconds()
        let actions = state.withLock { state in
            var due: [@Sendable () -> Void] = []
            for index in state.timers.indices where state.timers[index].due <= now {
                due.append(state.timers[index].action)
                state.timers[index].due = now &+ state.timers[index].interval
            }
            state.armedFor = 0
            arm(&state, for: earliestDue(state))
            return due
        }
        for action in actions { action() }
    }

    private func deliverFileEvents(buffer: inout [UInt8]) {
        guard let notifier else { return }
        var callbacks: [@Sendable () -> Void] = []
        var more = true
        while more {
            let count = buffer.withUnsafeMutableBytes { read(notifier.rawValue, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            // A read that left room for the largest event took every event pending then.
            more = count > buffer.count - 512
            state.withLock { state in
                var offset = 0
                while offset + 16 <= count {
                    let (watch, mask, nameLength) = buffer.withUnsafeBytes { raw in
                        (
                            raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                            raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                            Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                        )
                    }
                    let name = buffer[(offset + 16)..<(offset + 16 + nameLength)].prefix { $0 != 0 }
                    offset += 16 + nameLength
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        callbacks += state.subscribers.map(\.callback)
                        continue
                    }
                    for subscriber in state.subscribers
                    where subscriber.watch == watch
                        && (subscriber.name == nil || name.isEmpty || subscriber.name.map({ $0.elementsEqual(name) }) == true)
                    {
                        callbacks.append(subscriber.callback)
                    }
                    // The kernel dropped the watch (its inode is gone): forget it.
                    if mask & UInt32(IN_IGNORED) != 0 { state.subscribers.removeAll { $0.watch == watch } }
                }
            }
        }
        for callback in callbacks { callback() }
    }
}
