import Glibc
import Logging
import SystemPackage

/// One acquisition of a writer lock, in the steps that the protocol article
/// (<doc:Protocol>, "Acquire") and the model (`Verification/models/rvflock.pml`)
/// name alike:
///
/// 1. ``prepare()``: the complete lock file, not yet at the lock path (A1-A3);
/// 2. ``link()``: give it the lock path, which fails when the path is taken (A4);
/// 3. ``open()`` and ``judge(_:)`` the file at the lock path (A5a-A5d);
/// 4. ``takeOver(_:)``: holding the kernel lock of a file judged stale (left by
///    a dead holder), swap this acquisition's file in for it, so that the path never names nothing
///    (A5e'); where the file system cannot swap names, ``breakJudged(_:bytes:)``
///    moves the judged file aside and removes it, and the next ``link()`` follows
///    (A5e-A5f);
/// 5. ``queue(on:)`` in the kernel for a live RVFLock holder's `flock()` (A5b);
/// 6. wait for file events, for holders without a kernel lock
///    (``WaitSchedule/sleepForFileEvents()``).
///
/// Waiting hands the lock over in the kernel's order: waiters queue for the
/// holder's file's `flock()`, and the kernel grants it to the first to run when
/// the holder lets go (or dies). The one granted keeps that file's kernel lock
/// (its *predecessor*) while it holds the lock, and lets go of it at its release,
/// after its own file has left the lock path and before its own kernel lock
/// (see ``HeldLock``): so the waiters left on the older file stay in their line
/// while the lock is held, and wake at the release just ahead of those who
/// queued on the newer file since. (Let go at the link instead, they moved over
/// one at a time behind whoever reached the newer file first, usually the last
/// releaser coming back: two processes could pass the lock between them while
/// the rest waited tens of milliseconds.)
final class Acquisition {
    let lock: WriterLock
    let location: LockLocation
    let judge: StalenessJudge
    /// How this acquisition waits; nil for a try, which gives up instead.
    let schedule: WaitSchedule?
    private let monitor: MonitorThread
    private var prepared: PreparedLockFile
    /// The file whose exclusive kernel lock this acquisition holds: granted in the
    /// kernel's queue, or taken at once. Once this acquisition's own file is at the
    /// lock path, the holder keeps it until its release (``takePredecessor()``).
    private var predecessor: OpenLockFile?
    /// The holder last seen; nil while only known to be alive (not read, to spare a
    /// waiter's every turn in the queue the reads of a record nobody will see).
    private var lastStatus: LockStatus? = .free
    private var turns = 0

    init(lock: WriterLock, location: LockLocation, schedule: WaitSchedule?, monitor: MonitorThread) throws(LockError) {
        self.lock = lock
        self.location = location
        self.judge = StalenessJudge(identity: lock.identity, options: lock.options)
        self.schedule = schedule
        self.monitor = monitor
        self.prepared = try Self.prepare(lock: lock, location: location, judge: judge, monitor: monitor)
    }

    /// Runs the steps until the lock is taken; returns this acquisition's file, now
    /// at the lock path, with its kernel lock held.
    func run() throws(LockError) -> PreparedLockFile {
        while true {
            turns += 1
            try refreshIfOld()
            do throws(LockError) {
                // Linked first: after a handoff the holder's file is gone, and the
                // look at the path below is needed only when the link fails.
                if try link() { return prepared }
                if let held = predecessor, try held.isAtLockPath() {
                    if try takeOver(held) { return prepared }
                    continue
                }
                // Someone else's file is at the path: the next in line behind this
                // acquisition on the old file may move up now, and queue on the new one.
                letGoOfPredecessor()
                if schedule == nil && turns > 32 { throw giveUp() }
                guard let file = try open() else { continue }
                try contend(for: file)
            } catch  where error.errno == .staleNFSFileHandle {
                // NFS: the file this process had open was removed on the server (its
                // holder's release, or a breaker): it was replaced; look at the path again.
                letGoOfPredecessor()
            }
        }
    }

    // MARK: The steps

    /// A1-A3: this acquisition's complete file, kernel lock taken, not yet at the lock path.
    ///
    /// Where the directory does not let this user create the file, the lock is
    /// looked at first: a user who cannot take a held lock learns who holds it.
    private static func prepare(
        lock: WriterLock, location: LockLocation, judge: StalenessJudge, monitor: MonitorThread
    ) throws(LockError) -> PreparedLockFile {
        var record = LockRecord(
            pid: UInt32(clamping: Syscalls.processID),
            hostname: "",
            timestampNanoseconds: Syscalls.wallClockNanoseconds(),
            writerID: lock.identity.makeWriterID(fileSystem: location.fileSystem))
        // Cut to the record's length once, when the identity was made.
        record.hostnameBytes = lock.identity.hostnameBytes
        do {
            return try PreparedLockFile(
                location: location, record: record, options: lock.options,
                descriptorFloor: monitor.lockDescriptorFloor)
        } catch  where [.permissionDenied, .notPermitted, .readOnlyFileSystem].contains(error.errno) {
            let examiner = LockFileExaminer(location: location, judge: judge)
            if let status = try? examiner.currentStatus(), status != .free {
                try lock.refuseWaitingForItself(status, location)
                throw .busy(location.lockFile, dataFile: lock.dataFile, status: status, waited: nil, cannotCreate: error)
            }
            throw error
        }
    }

    /// The record must say when the lock was taken, and the file's birth time too
    /// (what `status` reports as "held for"): a file prepared more than a second ago
    /// is made anew. Within the second, nothing judges a record by less.
    private func refreshIfOld() throws(LockError) {
        guard turns > 1, Syscalls.monotonicNanoseconds() &- prepared.createdAt > 1_000_000_000 else { return }
        prepared.discard()
        prepared = try Self.prepare(lock: lock, location: location, judge: judge, monitor: monitor)
    }

    /// A4: gives this acquisition's file the lock path; false when the path is taken.
    /// Linked, the predecessor is kept for the holder (``takePredecessor()``).
    private func link() throws(LockError) -> Bool {
        do throws(SystemCallError) { return try prepared.link(to: location) } catch {
            throw linkFailure(error)
        }
    }

    /// The descriptor of a lock just taken's predecessor, with its kernel lock, for
    /// the holder to let go of at its release; this acquisition no longer closes it.
    func takePredecessor() -> FileDescriptor? {
        defer { predecessor = nil }
        return predecessor?.takeDescriptor()
    }

    /// A5a: opens the file at the lock path; nil when the path names nothing (or the
    /// file just lost its name): link again.
    private func open() throws(LockError) -> OpenLockFile? {
        guard let opened = try OpenLockFile.open(location, forWriting: true, action: "judging") else { return nil }
        return try opened.isUnlinked() ? nil : opened
    }

    /// A5d: reads and judges the file whose kernel lock this acquisition holds.
    private func judge(_ file: OpenLockFile) throws(LockError) -> (status: LockStatus, bytes: [UInt8]) {
        let judged = try file.judge(with: judge, kernelLock: .notHeld)
        lastStatus = judged.status
        return judged
    }

    /// A5e': the file at the lock path, under this acquisition's exclusive kernel
    /// lock: its holder died, or it never held the kernel
    /// lock (the reference, another machine, an invalid file). Takes its place if
    /// it is stale; otherwise waits for it to go, or to age.
    ///
    /// - Returns: true when this acquisition's file is at the lock path.
    private func takeOver(_ file: OpenLockFile) throws(LockError) -> Bool {
        let (status, bytes) = try judge(file)
        guard status.isBreakable else {
            letGoOfPredecessor()
            try waitForFileEvents(status)
            return false
        }
        switch try prepared.replace(file, judged: bytes, location: location) {
        case .replaced:
            logTakeOver(status)
            letGoOfPredecessor()
            return true
        case .unsupported:
            try breakJudged(file, bytes: bytes)
            return false
        case .changed:
            letGoOfPredecessor()
            return false
        case .startAnew:
            letGoOfPredecessor()
            prepared.discard()
            prepared = try Self.prepare(lock: lock, location: location, judge: judge, monitor: monitor)
            return false
        }
    }

    /// A5e-A5f, where names cannot be swapped (NFS): moves the judged file aside,
    /// checks it, removes it; the next ``link()`` takes the path. The judged file's
    /// kernel lock is kept until then.
    private func breakJudged(_ file: OpenLockFile, bytes: [UInt8]) throws(LockError) {
        let removal = try file.remove(judged: bytes)
        if removal == .removed {
            lastStatus.map(logTakeOver)
            return
        }
        if case .replacedAndLeftAside(let name, let record) = removal {
            lock.options.logger?.critical("\(LockError.displaced(location.lockFile, privateName: name, record: record))")
        }
        letGoOfPredecessor()
    }

    /// A5b: tries the file's kernel lock; when a live holder has it, gives up (a try)
    /// or queues for it in the kernel, in arrival order.
    private func contend(for file: OpenLockFile) throws(LockError) {
        let probe = try file.tryExclusive()
        switch probe {
        case .acquired:
            // Judged at the next turn.
            predecessor = file
        case .refused(let errno):
            throw .unsupportedFileSystem(
                location.lockFile, fileSystem: Syscalls.fileSystemType(file.descriptor).name,
                missing: file.isWritable
                    ? LockFileSystem.Requirement.fileLocks.description
                    : "its file locks (flock) need the lock file open for writing (NFS), and this user may not write it; "
                        + "make lock files writable for every user that locks (a shared group and umask 002)",
                systemCall: "flock", errno: errno)
        case .heldExclusively, .sharedOnly:
            let holderAlive: Bool = if case .heldExclusively = probe { true } else { false }
            // Read the record only where something needs it: a try's "busy", a
            // judgement of observers only, or this process holding locks (it may be
            // waiting for itself). A progress report reads it itself.
            if schedule == nil || !holderAlive || !HeldLockRegistry.shared.isEmpty {
                let status = try file.judge(with: judge, kernelLock: holderAlive ? .heldExclusively : .notHeld).status
                lastStatus = status
                try lock.refuseWaitingForItself(status, location)
            } else {
                lastStatus = nil
            }
            guard let schedule else {
                // Observers let go within microseconds: worth a short wait, not a "busy".
                guard !holderAlive, try waitBriefly(for: file) else { throw giveUp() }
                predecessor = file
                return
            }
            try queue(on: file, schedule: schedule)
        }
    }

    /// A5b, blocking: waits in the kernel's queue for the holder's `flock()`.
    private func queue(on file: OpenLockFile, schedule: WaitSchedule) throws(LockError) {
        schedule.foundTaken { lock.named(seen(), location) }
        try stopIfDue(schedule)
        // Named now, so that taking over from the holder, when it lets go, is one swap.
        try prepared.name(in: location)
        switch try file.waitForExclusive(timeout: schedule.remaining, cancellation: schedule.waiting.cancellation) {
        case .granted:
            predecessor = file
        case .timedOut, .cancelled:
            try stopIfDue(schedule)
        case .unavailable:
            // Nothing can end a blocking wait here (no signal, no timer): poll instead.
            letGoOfPredecessor()
            try schedule.sleepForFileEvents()
        }
    }

    /// 6: a holder without a kernel lock, or an invalid file too young to judge:
    /// gives up (a try), or sleeps until the lock's name changes or a poll interval passes.
    private func waitForFileEvents(_ status: LockStatus) throws(LockError) {
        try lock.refuseWaitingForItself(status, location)
        guard let schedule else { throw giveUp() }
        schedule.foundTaken { lock.named(status, location) }
        try stopIfDue(schedule)
        try schedule.sleepForFileEvents()
    }

    // MARK: Helpers

    private func letGoOfPredecessor() {
        predecessor?.letGo()
        predecessor = nil
    }

    private func seen() -> LockStatus {
        lastStatus ?? (try? LockFileExaminer(location: location, judge: judge).currentStatus()) ?? .free
    }

    private func stopIfDue(_ schedule: WaitSchedule) throws(LockError) {
        try schedule.stopIfDue(dataFile: lock.dataFile) { lock.named(seen(), location) }
    }

    private func giveUp() -> LockError {
        .busy(location.lockFile, dataFile: lock.dataFile, status: lock.named(seen(), location), waited: nil)
    }

    /// A stale lock left by a process that died is worth a line in the log.
    private func logTakeOver(_ status: LockStatus) {
        guard let logger = lock.options.logger else { return }
        logger.notice("removed stale lock \(location.lockFile): \(status)")
    }

    /// Waits up to 100 ms for observers (shared kernel locks) to let go.
    private func waitBriefly(for file: OpenLockFile) throws(LockError) -> Bool {
        let cancellation: WaitCancellation
        do throws(SystemCallError) { cancellation = try WaitCancellation() } catch {
            throw .system(error, lockFile: location.lockFile, doing: "judging")
        }
        return try file.waitForExclusive(timeout: .milliseconds(100), cancellation: cancellation) == .granted
    }

    private func linkFailure(_ error: SystemCallError) -> LockError {
        if error.errno.meansNoHardLinks {
            // The protocol needs hard links (the atomic creation is a link).
            return .unsupportedFileSystem(
                location.lockFile, fileSystem: Syscalls.fileSystemType(location.directory.descriptor).name,
                missing: LockFileSystem.Requirement.hardLinks.description,
                systemCall: error.name, errno: error.errno)
        }
        return .system(error, lockFile: location.lockFile, doing: "creating")
    }
}
