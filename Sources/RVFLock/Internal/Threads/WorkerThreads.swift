import Glibc
import CRVFLockShims
import Dispatch
import Synchronization

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
    /// A parked thread that gets no job for this long ends.
    fileprivate static let parkedLifetime = DispatchTimeInterval.seconds(30)
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

    /// A thread kept for the caller alone until it is given a job (``Worker/run(_:)``)
    /// or handed back (``Worker/giveBack()``).
    func reserve() throws(SystemCallError) -> Worker {
        if let worker = parked.withLock({ $0.popLast() }) { return worker }
        let worker = Worker(pool: self)
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
final class Worker: Sendable {
    private enum Order { case run(@Sendable () -> Void), park }

    private let pool: WorkerThreads
    private let wake = DispatchSemaphore(value: 0)
    private let order = Mutex<Order?>(nil)

    fileprivate init(pool: WorkerThreads) { self.pool = pool }

    /// Runs `job` on this thread; the thread returns to the pool when it ends.
    func run(_ job: @escaping @Sendable () -> Void) {
        order.withLock { $0 = .run(job) }
        wake.signal()
    }

    /// Returns an unused reservation to the pool.
    ///
    /// The thread is not woken: it sleeps on as a parked one (a lock taken and
    /// released in a loop would otherwise wake it each time, a wake-up of another
    /// CPU that cost an uncontended acquire and release 30 µs on a VM). Only when
    /// enough are parked is it woken, to end.
    func giveBack() {
        if pool.park(self) { return }
        order.withLock { $0 = .park }
        wake.signal()
    }

    /// The thread's life: jobs, parked in between, until parked too long. It
    /// sleeps with the parked lifetime as its limit even while reserved (a
    /// reservation may be given back without waking it): waking while reserved, it
    /// finds itself not parked and sleeps again.
    fileprivate func serve() {
        while true {
            if wake.wait(timeout: .now() + WorkerThreads.parkedLifetime) == .timedOut {
                if pool.unpark(self) { return }
                // Reserved: its order is on the way, or not yet given.
                continue
            }
            switch order.withLock({ order in
                defer { order = nil }; return order
            }) {
            case .run(let job)?:
                job()
            case .park?:
                // Given back while enough threads were parked.
                return
            case nil:
                continue
            }
            if !pool.park(self) { return }
        }
    }
}
