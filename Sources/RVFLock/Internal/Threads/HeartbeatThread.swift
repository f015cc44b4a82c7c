import Glibc
import Synchronization

/// The thread of one held lock that does its file system work: setting up the
/// watch, checking the lock path when the watch reports a change, and the
/// heartbeat's write and sync.
///
/// One thread per lock, because that work may block on a slow or hung file
/// system (a sync on NFS under writeback pressure): on a thread of its own it
/// stalls only this lock's heartbeat, never another lock, the monitor thread,
/// `isHeld` or the caller. The thread is reserved from ``WorkerThreads`` when the
/// lock is taken, and its job is given at once, to start once the lock has been
/// held for a moment (its watch delay): a lock released before then costs the
/// thread no wake-up. Between heartbeats it sleeps on its timer
/// (``Worker/sleep(until:)``): a heartbeat costs a wake-up and its system calls,
/// nothing else.
final class HeartbeatThread: Sendable {
    /// What the thread does, supplied by the held lock (held weakly: the thread
    /// ends when the lock goes).
    protocol Work: AnyObject, Sendable {
        func startWatching()
        func verify()
        func beat()
    }

    private let worker: Worker
    private let stopped = Atomic<Bool>(false)
    private let verifyRequested = Atomic<Bool>(false)
    private let interval: UInt64

    /// The heartbeat of a lock, on `worker`, a thread reserved for it when the lock was taken.
    init(worker: Worker, interval: Duration) {
        self.worker = worker
        self.interval = interval.nanoseconds
    }

    /// Gives the heartbeat to its thread, to start after `delay`.
    func start(after delay: Duration, work: any Work) {
        worker.run(after: delay) { [weak work] in self.run { work } }
    }

    /// Asks the thread to check the lock path now (the watch reported a change).
    func requestVerify() {
        verifyRequested.store(true, ordering: .releasing)
        worker.wake()
    }

    /// Ends the heartbeat. Not started yet, it never starts, and its thread goes
    /// back to the pool without a wake-up; started, it may still be finishing a
    /// write (the held lock's I/O mutex orders that).
    func stop() {
        stopped.store(true, ordering: .releasing)
        if worker.withdraw() { return }
        worker.wake()
    }

    private func run(_ work: () -> (any Work)?) {
        guard !stopped.load(ordering: .acquiring) else { return }
        work()?.startWatching()
        var next = Syscalls.monotonicNanoseconds() &+ interval
        while !stopped.load(ordering: .acquiring) {
            worker.sleep(until: next)
            if stopped.load(ordering: .acquiring) { break }
            guard let work = work() else { break }
            if verifyRequested.exchange(false, ordering: .acquiringAndReleasing) { work.verify() }
            if Syscalls.monotonicNanoseconds() >= next {
                work.beat()
                next = Syscalls.monotonicNanoseconds() &+ interval
            }
        }
    }
}
