import SystemPackage

/// The clock and limits of one wait for a lock, and its sleep between looks when
/// no kernel queue can be used: shared by acquiring (``Acquisition``) and by
/// waiting until the lock is available.
///
/// The sleep lasts until the file system reports a change to the lock's name
/// (inotify), a poll interval passes (doubling from 20 ms to
/// ``LockOptions/maximumPollInterval``: network file systems deliver no events
/// for other machines' changes, and ages cross thresholds without any), the
/// timeout, or cancellation.
final class WaitSchedule {
    let location: LockLocation
    let waiting: WriterLock.Waiting
    let start: ContinuousClock.Instant
    private let maximumPoll: Duration
    private var poll = Duration.milliseconds(20)
    private var watcher: LockChangeWatcher?
    /// How many times the lock was found taken.
    private(set) var attempts = 0

    init(location: LockLocation, waiting: WriterLock.Waiting, start: ContinuousClock.Instant, maximumPoll: Duration) {
        self.location = location
        self.waiting = waiting
        self.start = start
        self.maximumPoll = maximumPoll
    }

    var waited: Duration { ContinuousClock.now - start }

    /// What is left of the timeout (nil: none).
    var remaining: Duration? { waiting.timeout.map { $0 - waited } }

    /// Counts one more look that found the lock taken, and tells the caller's
    /// `onProgress`, with the status `describe` gives (only read if someone listens).
    func foundTaken(_ describe: () -> LockStatus) {
        attempts += 1
        guard let onProgress = waiting.onProgress else { return }
        onProgress(WaitProgress(status: describe(), waited: waited, attempts: attempts))
    }

    /// Throws when the wait was cancelled or its timeout passed, naming what `status` gives.
    func stopIfDue(
        dataFile: FilePath, status: () -> LockStatus
    ) throws(LockError) {
        if waiting.cancellation.isCancelled { throw .cancelled(location.lockFile, status: status()) }
        if let timeout = waiting.timeout, waited >= timeout {
            throw .busy(location.lockFile, dataFile: dataFile, status: status(), waited: waited)
        }
    }

    /// Sleeps until the lock's name changes, a poll interval passes, the timeout, or cancellation.
    func sleepForFileEvents() throws(LockError) {
        let watcher =
            watcher
            ?? {
                let made = LockChangeWatcher(location: location, waker: waiting.cancellation.waker())
                self.watcher = made
                return made
            }()
        var sleep = min(poll, maximumPoll)
        if let remaining { sleep = max(.zero, min(sleep, remaining)) }
        try location.performing("waiting for") { () throws(SystemCallError) in
            try watcher.wait(timeout: sleep)
        }
        poll = min(poll * 2, maximumPoll)
    }
}
