import Glibc
import CRVFLockShims
import Synchronization
import SystemPackage

/// Every thread RVFLock runs work on: the monitor thread, each held lock's
/// heartbeat, and each async wait for a lock.
///
/// A thread is started once (``startDetached(stackSize:_:)``, the library's only
/// way to start one) and kept parked when its job ends, for the next: a process
/// that takes and releases locks in a loop starts no thread after the first.
///
/// Work that must not fail later for want of a thread *reserves* one first
/// (``reserve()``): taking a lock reserves its heartbeat's thread before the lock
/// file is linked, so that a process at its thread limit (`RLIMIT_NPROC`, a
/// cgroup's `pids.max`) is refused the lock instead of holding it with no
/// heartbeat and no loss detection.
///
/// Not Dispatch: its pool is capped (about 255 threads on Linux), and each async
/// wait blocks its thread in the kernel for as long as the lock is held; past the
/// cap, further waits, and everything else the process runs on Dispatch, would
/// wait for a thread.
final class WorkerThreads: Sendable {
    /// Parked threads beyond this many end when their job does.
    private static let maximumParked = 4
    /// A parked thread that gets no job for this long ends (monotonic nanoseconds).
    fileprivate static let parkedLifetime: UInt64 = 30_000_000_000
    /// Enough for the library's work: a few system calls deep, or one acquisition.
    static let stackSize = 512 * 1024

    private let parked = Mutex<[Worker]>([])
    private let owner: pid_t

    private init() { owner = Syscalls.processID }

    private static let perProcess = Mutex<WorkerThreads?>(nil)

    /// This process's pool. A child forked without `exec` has none of its parent's
    /// threads: it gets a pool of its own.
    static var shared: WorkerThreads {
        perProcess.withLock { pool in
            if let pool, pool.owner == Syscalls.processID { return pool }
            let made = WorkerThreads()
            pool = made
            return made
        }
    }

    /// A thread kept for the caller alone until it is given a job (``Worker/run(after:_:)``)
    /// or handed back (``Worker/giveBack()``).
    ///
    /// - Throws: `timerfd_create`'s error (out of descriptors), or `pthread_create`'s.
    func reserve() throws(SystemCallError) -> Worker {
        if let worker = parked.withLock({ $0.popLast() }) { return worker }
        guard let timer = Syscalls.adopting(rvf_timerfd_create()) else {
            throw SystemCallError(name: "timerfd_create", errno: .init(rawValue: errno))
        }
        let worker = Worker(pool: self, timer: timer)
        try Self.startDetached(stackSize: Self.stackSize) { worker.serve() }
        return worker
    }

    /// Runs `job` on a thread of the pool.
    func run(_ job: @escaping @Sendable () -> Void) throws(SystemCallError) {
        try reserve().run(job)
    }

    /// Parks `worker` for a later job; false if enough are parked (it ends).
    fileprivate func park(_ worker: Worker) -> Bool {
        parked.withLock { parked in
            guard parked.count < Self.maximumParked else { return false }
            parked.append(worker)
            return true
        }
    }

    /// Takes `worker` out of the parked ones so that it can end; false if a caller
    /// reserved it meanwhile (a job is on its way).
    fileprivate func unpark(_ worker: Worker) -> Bool {
        parked.withLock { parked in
            guard let index = parked.firstIndex(where: { $0 === worker }) else { return false }
            parked.remove(at: index)
            return true
        }
    }

    /// Starts a detached thread running `body`.
    ///
    /// - Throws: `pthread_create`'s error: `EAGAIN` at the process's or its cgroup's thread limit.
    static func startDetached(stackSize: Int, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) {
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let result = rvf_start_detached_thread(
            { context in
                Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, context, UInt(stackSize))
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            throw SystemCallError(name: "pthread_create", errno: .init(rawValue: result))
        }
    }

    private final class ThreadBody: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}

/// One thread of ``WorkerThreads``, reserved by one caller at a time.
///
/// It sleeps in `poll(2)` on a timerfd of its own, armed to the moment it next
/// has something to do. So a job given for later (``run(after:_:)``, a held lock's
/// heartbeat that starts once the lock has been held for its watch delay) is a
/// timer armed, not a wake-up: a lock taken and released before then costs this
/// thread nothing, and no other thread has to keep time for it. A job for now,
/// and ``wake()``, arm the timer to a moment already past.
final class Worker: Sendable {
    private struct Slot {
        var job: (@Sendable () -> Void)?
        /// When ``job`` is to run, monotonic nanoseconds.
        var due: UInt64 = 0
        /// Set by ``wake()`` for the job running on this thread, taken by ``sleep(until:)``.
        var woken = false
        /// Given back while enough threads were parked: the thread ends.
        var ends = false
        /// What the timer is armed to, monotonic nanoseconds; 0 once the thread has
        /// seen it expire. Not 0: the thread will wake by then and look at the slot.
        var armedFor: UInt64 = 0
    }

    private let pool: WorkerThreads
    private let timer: FileDescriptor
    private let slot = Mutex(Slot())

    fileprivate init(pool: WorkerThreads, timer: FileDescriptor) {
        self.pool = pool
        self.timer = timer
    }

    deinit { Syscalls.close(timer) }

    /// Runs `job` on this thread after `delay`; the thread returns to the pool when it ends.
    func run(after delay: Duration = .zero, _ job: @escaping @Sendable () -> Void) {
        let due = delay == .zero ? 0 : Syscalls.monotonicNanoseconds() &+ delay.nanoseconds
        slot.withLock { slot in
            slot.job = job
            slot.due = due
            // Armed for sooner (a holding released just before this one was taken):
            // the thread wakes then for nothing, and arms for this job itself.
            if slot.armedFor == 0 || due < slot.armedFor { arm(&slot, for: due) }
        }
    }

    /// Takes back the job given with ``run(after:_:)`` if it has not started, and
    /// returns the thread to the pool; false if it has started (it then returns to
    /// the pool when the job ends).
    ///
    /// The timer is left armed: woken for nothing at the job's due time, the thread
    /// sleeps again, and a lock taken and released in a loop (the same thread
    /// reserved each time) makes no timer call at its releases.
    func withdraw() -> Bool {
        let withdrawn = slot.withLock { slot -> Bool in
            guard slot.job != nil else { return false }
            slot.job = nil
            return true
        }
        if withdrawn { giveBack() }
        return withdrawn
    }

    /// Returns an unused reservation to the pool.
    ///
    /// The thread is not woken: it sleeps on as a parked one (a lock taken and
    /// released in a loop would otherwise wake it each time, a wake-up of another
    /// CPU that cost an uncontended acquire and release 30 µs on a VM). Only when
    /// enough are parked is it woken, to end.
    func giveBack() {
        if pool.park(self) { return }
        slot.withLock { slot in
            slot.ends = true
            arm(&slot, for: 0)
        }
    }

    /// For the job running on this thread: sleeps until `deadline` (monotonic
    /// nanoseconds) or until ``wake()``.
    func sleep(until deadline: UInt64) {
        let wokenBefore = slot.withLock { slot -> Bool in
            if slot.woken { return true }
            arm(&slot, for: deadline)
            return false
        }
        if !wokenBefore { waitForTimer() }
        slot.withLock { slot in
            slot.armedFor = 0
            slot.woken = false
        }
    }

    /// Ends the current or next ``sleep(until:)`` of the job running on this thread.
    func wake() {
        slot.withLock { slot in
            slot.woken = true
            arm(&slot, for: 0)
        }
    }

    /// Arms the timer for `due` (monotonic nanoseconds; 0: at once). Called under
    /// ``slot``'s lock, by the thread before it sleeps and by whoever gives it
    /// something to do, so that no change of plan is lost between the thread's look
    /// at the slot and its sleep: arming clears an expiry not yet read, and only an
    /// arming under the lock after the thread's own can wake it.
    private func arm(_ slot: inout Slot, for due: UInt64) {
        // An absolute time already past expires at once; 0 would disarm.
        slot.armedFor = max(due, 1)
        _ = rvf_timerfd_arm(timer.rawValue, slot.armedFor)
    }

    private func waitForTimer() {
        _ = try? Syscalls.pollReadable([timer], timeoutMilliseconds: -1)
        Syscalls.drain(timer)
    }

    /// The thread's life: jobs, parked in between, until parked too long. It
    /// sleeps with the parked lifetime as its limit even while reserved (a
    /// reservation may be given back without waking it): waking while reserved, it
    /// finds itself not parked and sleeps again.
    fileprivate func serve() {
        enum Next { case run(@Sendable () -> Void), end, sleep }
        var idleSince = Syscalls.monotonicNanoseconds()
        while true {
            let next = slot.withLock { slot -> Next in
                if slot.ends { return .end }
                if let job = slot.job {
                    guard slot.due > Syscalls.monotonicNanoseconds() else {
                        slot.job = nil
                        return .run(job)
                    }
                    arm(&slot, for: slot.due)
                } else {
                    arm(&slot, for: idleSince &+ WorkerThreads.parkedLifetime)
                }
                return .sleep
            }
            switch next {
            case .end:
                return
            case .run(let job):
                job()
                // A wake-up meant for the job that has ended.
                slot.withLock { $0.woken = false }
                if !pool.park(self) { return }
                idleSince = Syscalls.monotonicNanoseconds()
            case .sleep:
                waitForTimer()
                let idle = slot.withLock { slot in
                    slot.armedFor = 0
                    return slot.job == nil && !slot.ends
                        && Syscalls.monotonicNanoseconds() >= idleSince &+ WorkerThreads.parkedLifetime
                }
                guard idle else { continue }
                if pool.unpark(self) { return }
                // Reserved: its job is on the way, or not yet given.
                idleSince = Syscalls.monotonicNanoseconds()
            }
        }
    }
}
