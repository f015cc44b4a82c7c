import Glibc
import Synchronization

/// The threads and tasks of this process that want the same lock: they take
/// turns, in arrival order, in memory, before any of them touches the lock file.
///
/// A turn is held from the start of an acquisition until the lock it took is
/// released (or the acquisition fails); then the next in line starts its own
/// acquisition, which competes with other processes' waiters as any newcomer
/// does. Waiting here costs no file I/O, and ends by the same timeout and
/// cancellation as the wait for the file that follows.
///
/// Only a real re-entry fails at once, since it would wait for itself: the task
/// already inside its own `withLock` body for this lock (``insideWithLock``), a
/// task that already holds it through a handle it took, or, for blocking calls,
/// the thread that took it.
final class ProcessQueue: Sendable {
    /// Which lock: its directory's identity and its name.
    struct Key: Equatable, Sendable {
        let directory: FileIdentity
        let name: [CChar]
    }

    /// Who asks: the task, for async code (tasks move between threads); the thread, for
    /// blocking calls outside a task; and the locks whose `withLock` body it runs in.
    struct Owner: Sendable {
        let task: Int?
        let thread: UInt?
        /// ``insideWithLock`` where the caller asked: the wait itself may run on another thread.
        let insideWithLock: [Key]

        /// The calling task, or the calling thread outside a task.
        static var current: Owner {
            let task = withUnsafeCurrentTask { $0?.hashValue }
            return Owner(
                task: task, thread: task == nil ? UInt(bitPattern: Int(bitPattern: pthread_self())) : nil,
                insideWithLock: ProcessQueue.insideWithLock)
        }

        /// The calling task: for async acquisitions, whose waiting runs on another thread.
        static var currentTask: Owner {
            Owner(task: withUnsafeCurrentTask { $0?.hashValue }, thread: nil, insideWithLock: ProcessQueue.insideWithLock)
        }
    }

    /// Why a turn was not had.
    enum Refusal: Error {
        /// The caller already holds this lock; the text says how.
        case reentered(String)
        /// Another thread or task of this process has the turn, and the caller does not wait.
        case busy
        case timedOut
        case cancelled
    }

    /// The locks whose `withLock` body the current task (or thread) is running.
    @TaskLocal static var insideWithLock: [Key] = []

    private final class Waiter: Sendable {
        let owner: Owner
        /// The wait's one waker: cancellation signals it too.
        let wake: WakeSignal
        let granted = Atomic<Bool>(false)

        init(owner: Owner, wake: WakeSignal) {
            self.owner = owner
            self.wake = wake
        }
    }

    private struct Line {
        let key: Key
        var holder: Owner
        var waiters: [Waiter] = []
    }

    /// An array: a process wants a few locks at a time.
    private let lines = Mutex<[Line]>([])
    private let owner = Syscalls.processID

    private static let perProcess = Mutex<ProcessQueue?>(nil)

    /// This process's queue; a child forked without `exec` has none of its parent's
    /// turns (their holders are not in it), so it gets its own.
    static var shared: ProcessQueue {
        perProcess.withLock { queue in
            if let queue, queue.owner == Syscalls.processID { return queue }
            let made = ProcessQueue()
            queue = made
            return made
        }
    }

    /// Takes `key`'s turn for `owner`, waiting in line (`waits`) until `deadline`
    /// or `cancellation`; the caller must ``leave(_:)`` once done with the lock.
    ///
    /// - Parameter willWait: called once, before waiting, when the caller must wait.
    func enter(
        _ key: Key, owner: Owner, waits: Bool, deadline: ContinuousClock.Instant?, cancellation: WaitCancellation?,
        willWait: () -> Void = {}
    ) throws(Refusal) {
        if owner.insideWithLock.contains(key) {
            throw .reentered("this task is inside its own withLock body for this lock")
        }
        let entry: Result<Waiter?, Refusal> = lines.withLock { lines in
            guard let index = lines.firstIndex(where: { $0.key == key }) else {
                lines.append(Line(key: key, holder: owner))
                return .success(nil)
            }
            let holder = lines[index].holder
            if let task = owner.task, holder.task == task {
                return .failure(.reentered("this task already holds it, through a handle it took"))
            }
            if let thread = owner.thread, holder.thread == thread {
                return .failure(.reentered("this thread already holds it, through a handle it took"))
            }
            guard waits, let wake = cancellation?.waker() ?? (try? WakeSignal()) else { return .failure(.busy) }
            let waiter = Waiter(owner: owner, wake: wake)
            lines[index].waiters.append(waiter)
            return .success(waiter)
        }
        guard let waiter = try entry.get() else { return }
        willWait()
        try wait(waiter, key: key, deadline: deadline, cancellation: cancellation)
    }

    private func wait(
        _ waiter: Waiter, key: Key, deadline: ContinuousClock.Instant?, cancellation: WaitCancellation?
    ) throws(Refusal) {
        while !waiter.granted.load(ordering: .acquiring) {
            let refusal: Refusal?
            if cancellation?.isCancelled == true {
                refusal = .cancelled
            } else if let deadline, ContinuousClock.now >= deadline {
                refusal = .timedOut
            } else {
                refusal = nil
            }
            if let refusal {
                // Out of line; a turn granted in the meantime is passed on at once.
                let stillWaiting = lines.withLock { lines in
                    guard let index = lines.firstIndex(where: { $0.key == key }),
                        let position = lines[index].waiters.firstIndex(where: { $0 === waiter })
                    else { return false }
                    lines[index].waiters.remove(at: position)
                    return true
                }
                if !stillWaiting { leave(key) }
                throw refusal
            }
            let remaining = deadline.map { $0 - ContinuousClock.now } ?? .seconds(3600)
            _ = try? waiter.wake.sleep(timeout: max(.zero, remaining))
        }
    }

    /// Ends a turn: the next in line gets it.
    func leave(_ key: Key) {
        let next: Waiter? = lines.withLock { lines in
            guard let index = lines.firstIndex(where: { $0.key == key }) else { return nil }
            guard !lines[index].waiters.isEmpty else {
                lines.remove(at: index)
                return nil
            }
            let next = lines[index].waiters.removeFirst()
            lines[index].holder = next.owner
            next.granted.store(true, ordering: .releasing)
            return next
        }
        next?.wake.signal()
    }
}
