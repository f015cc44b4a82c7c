#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// One thread for the whole process that watches lock files and runs heartbeats.
///
/// One inotify instance serves every waiter and holder: closing an inotify
/// instance waits for a kernel RCU grace period (about 5 ms measured here), which
/// would dominate acquire and release if each lock had its own, while adding and
/// removing a watch costs microseconds. Heartbeats run on the same thread from a
/// table of due times, so taking and releasing a lock creates no timer and wakes
/// no thread: a new heartbeat that is due later than the thread's next wake-up is
/// simply picked up then.
final class MonitorThread: Sendable {
    static let shared = MonitorThread()

    /// Events that mean a watched lock file's holder let go or the file changed identity.
    /// Paths are resolved with `IN_DONT_FOLLOW` by callers that must not follow a symlink.
    static let fileEvents = UInt32(IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
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
        let name: [UInt8]?
        let callback: @Sendable () -> Void
    }

    private struct Timer {
        let interval: Duration
        var due: ContinuousClock.Instant
        let action: @Sendable () -> Void
    }

    private struct State: ~Copyable {
        var subscribers: [CInt: [UInt64: Subscriber]] = [:]
        var timers: [UInt64: Timer] = [:]
        var nextID: UInt64 = 0
        var sleepingUntil: ContinuousClock.Instant? = nil
        /// How long the thread sleeps with no timer: the last interval seen, so that
        /// a lock taken right after another was released wakes nobody.
        var idleSleep = Duration.seconds(60)
    }

    private let notifier: CInt
    private let wake: WakeSignal?
    private let state = Mutex(State())

    private init() {
        #if os(Linux)
        notifier = inotify_init1(CInt(IN_NONBLOCK | IN_CLOEXEC))
        #else
        notifier = -1
        #endif
        wake = try? WakeSignal()
        // A queue of its own gets a thread of its own, kept for the life of the process.
        DispatchQueue(label: "RVFLock.monitor").async { [self] in run() }
    }

    /// Whether file events arrive; without them waiters poll and holders rely on heartbeats.
    var deliversFileEvents: Bool { notifier >= 0 && wake != nil }

    /// Calls `callback` on the monitor thread for every event on `path` (for a
    /// directory: for `name` inside it). Nil when the path cannot be watched.
    func subscribe(
        _ path: String, events: UInt32, name: [UInt8]? = nil,
        _ callback: @escaping @Sendable () -> Void
    ) -> Subscription? {
        guard deliversFileEvents else { return nil }
        return state.withLock { state in
            #if os(Linux)
            let watch = inotify_add_watch(notifier, path, events)
            guard watch >= 0 else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[watch, default: [:]][id] = Subscriber(name: name, callback: callback)
            return Subscription(watch: watch, id: id)
            #else
            return nil
            #endif
        }
    }

    func unsubscribe(_ subscription: Subscription?) {
        guard let subscription else { return }
        state.withLock { state in
            guard var watchers = state.subscribers[subscription.watch] else { return }
            watchers[subscription.id] = nil
            if watchers.isEmpty {
                state.subscribers[subscription.watch] = nil
                #if os(Linux)
                _ = inotify_rm_watch(notifier, subscription.watch)
                #endif
            } else {
                state.subscribers[subscription.watch] = watchers
            }
        }
    }

    /// Runs `action` on the monitor thread every `interval`, first after one interval.
    func repeating(every interval: Duration, _ action: @escaping @Sendable () -> Void) -> TimerID {
        let due = ContinuousClock.now + interval
        let (id, wakeNeeded) = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.timers[id] = Timer(interval: interval, due: due, action: action)
            state.idleSleep = interval
            return (id, state.sleepingUntil.map { due < $0 } ?? false)
        }
        if wakeNeeded { wake?.signal() }
        return TimerID(id: id)
    }

    func cancel(_ timer: TimerID) {
        _ = state.withLock { $0.timers.removeValue(forKey: timer.id) }
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        while true {
            let ready = waitForWork()
            if ready.contains(.wake) { wake?.reset() }
            if ready.contains(.fileEvents) { deliverFileEvents(buffer: &buffer) }
            runDueTimers()
        }
    }

    private struct Ready: OptionSet {
        let rawValue: Int
        static let fileEvents = Ready(rawValue: 1)
        static let wake = Ready(rawValue: 2)
    }

    /// Sleeps until a file event, a wake-up, or the next heartbeat due.
    private func waitForWork() -> Ready {
        let timeout = millisecondsUntilNextTimer()
        var entries: [pollfd] = []
        if notifier >= 0 { entries.append(pollfd(fd: notifier, events: Int16(POLLIN), revents: 0)) }
        if let wake { entries.append(pollfd(fd: wake.readable, events: Int16(POLLIN), revents: 0)) }
        if entries.isEmpty {
            usleep(UInt32(timeout) * 1000)
            return []
        }
        guard poll(&entries, nfds_t(entries.count), timeout) > 0 else { return [] }
        var ready: Ready = []
        for entry in entries where entry.revents != 0 {
            ready.insert(entry.fd == notifier ? .fileEvents : .wake)
        }
        return ready
    }

    /// Also records the deadline, so that a timer due earlier wakes the thread.
    private func millisecondsUntilNextTimer() -> CInt {
        let now = ContinuousClock.now
        // With no timer the thread still wakes now and then, which costs nothing worth measuring.
        let deadline = state.withLock { state in
            var next = now.advanced(by: state.idleSleep)
            for timer in state.timers.values where timer.due < next { next = timer.due }
            state.sleepingUntil = next
            return next
        }
        guard deadline > now else { return 0 }
        return now.duration(to: deadline).pollMilliseconds
    }

    private func runDueTimers() {
        let now = ContinuousClock.now
        let actions = state.withLock { state in
            let dueIDs = state.timers.filter { $0.value.due <= now }.map(\.key)
            var due: [@Sendable () -> Void] = []
            for id in dueIDs {
                guard var timer = state.timers[id] else { continue }
                due.append(timer.action)
                timer.due = now + timer.interval
                state.timers[id] = timer
            }
            return due
        }
        for action in actions { action() }
    }

    private func deliverFileEvents(buffer: inout [UInt8]) {
        #if os(Linux)
        guard notifier >= 0 else { return }
        var callbacks: [@Sendable () -> Void] = []
        var more = true
        while more {
            let count = buffer.withUnsafeMutableBytes { read(notifier, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            // A read that left room for the largest event took every event pending then.
            more = count > buffer.count - 512
            state.withLock { state in
                var offset = 0
                while offset + 16 <= count {
                    let (watch, mask, nameLength) = buffer.withUnsafeBytes { raw in
                        (raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                         raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                         Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                    }
                    let name = Array(buffer[(offset + 16)..<(offset + 16 + nameLength)].prefix { $0 != 0 })
                    offset += 16 + nameLength
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        callbacks += state.subscribers.values.flatMap { $0.values.map(\.callback) }
                        continue
                    }
                    guard let watchers = state.subscribers[watch] else { continue }
                    for subscriber in watchers.values
                    where subscriber.name == nil || name.isEmpty || subscriber.name == name {
                        callbacks.append(subscriber.callback)
                    }
                    // The kernel dropped the watch (its inode is gone): forget it.
                    if mask & UInt32(IN_IGNORED) != 0 { state.subscribers[watch] = nil }
                }
            }
        }
        for callback in callbacks { callback() }
        #endif
    }
}
