import Glibc
import Dispatch
import Synchronization

/// The thread of one held lock that does its file system work: setting up the
/// watch, checking the lock path when the watch reports a change, and the
/// heartbeat's write and sync.
///
/// One thread per lock, because that work may block on a slow or hung file
/// system (a sync on NFS under writeback pressure): on a thread of its own it
/// stalls only this lock's heartbeat, never another lock, the monitor thread,
/// `isHeld` or the caller. The thread is reserved from ``WorkerThreads`` when the
/// lock is taken, and put to work once the lock has been held for a moment.
/// Between heartbeats it sleeps on a semaphore: a heartbeat costs a wake-up and
/// its system calls, nothing else.
final class HeartbeatThread: Sendable {
    /// What the thread does, supplied by the held lock (held weakly: the thread
    /// ends when the lock goes).
    protocol Work: AnyObject, Sendable {
        func startWatching()
        func verify()
        func beat()
    }

    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)
    private let verifyRequested = Atomic<Bool>(false)
    private let interval: Duration
    private weak let work: (any Work)?

    private init(interval: Duration, work: any Work) {
        self.interval = interval
        self.work = work
    }

    /// Starts the heartbeat on `worker`, a thread reserved for it when the lock was taken.
    static func start(on worker: Worker, interval: Duration, work: any Work) -> HeartbeatThread {
        let thread = HeartbeatThread(interval: interval, work: work)
        worker.run { thread.run() }
        return thread
    }

    /// Asks the thread to check the lock path now (the watch reported a change).
    func requestVerify() {
        verifyRequested.store(true, ordering: .releasing)
        wake.signal()
    }

    /// Ends the thread; it may still be finishing a write (the held lock's I/O mutex orders that).
    func stop() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
    }

    private func run() {
        work?.startWatching()
        var next = DispatchTime.now() + .nanoseconds(Int(interval.nanoseconds))
        while !stopped.load(ordering: .acquiring) {
            let timedOut = wake.wait(timeout: next) == .timedOut
            if stopped.load(ordering: .acquiring) { break }
            guard let work else { break }
            if verifyRequested.exchange(false, ordering: .acquiringAndReleasing) { work.verify() }
            if timedOut {
                work.beat()
                next = DispatchTime.now() + .nanoseconds(Int(interval.nanoseconds))
            }
        }
    }
}
