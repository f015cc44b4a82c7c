#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock
import SystemPackage

/// One worker process (hidden subcommand): until the deadline, take the lock with
/// `tryAcquire` or `acquire(timeout:)`, append a few records to the data file,
/// checking before each write that the lock is still held, and release. Every
/// acquisition and release goes into the shared event log.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", shouldDisplay: false)

    @Option var index: Int
    @Option var incarnation: Int
    @Option var dir: String
    @Option(help: "CLOCK_MONOTONIC nanoseconds at which to stop") var until: UInt64
    @Option var seed: UInt64
    @Option var staleMs: Int
    @Option var otherMs: Int
    @Option var heartbeatMs: Int
    @Flag var namedTemp = false
    @Flag(help: "Write without taking the lock: the harness's self-check, which must report overlaps") var unlocked = false
    @Option(help: "Set this hostname first (the worker runs in its own UTS namespace)") var hostname: String?
    @Flag(help: "Take the lock by a relative path from the data file's directory, and change directory while holding")
    var chdir = false
    @Flag(help: "Print progress lines to descriptor 1 while holding (started with it closed), then check the lock file")
    var carelessStdout = false
    @Flag(help: "Self-check: put the lock file on descriptor 1 after acquiring, so that the lock file check must fail")
    var lockFileOnStdout = false
    @Option(help: "The alias the reference holders write: log refusals while it names the lock") var referenceAlias: String?

    func run() throws {
        if let hostname {
            // Before the library reads the hostname, which it does once per process.
            guard sethostname(hostname, hostname.utf8.count) == 0 else {
                throw ValidationError("sethostname failed: errno \(errno)")
            }
        }
        let files = TortureFiles(directory: dir)
        // Opened before any chdir, by absolute path: the worker writes through these descriptors.
        let log = AppendLog(path: files.eventLog)
        let data = AppendLog(path: files.dataFile)
        if chdir {
            guard Glibc.chdir(files.directory) == 0 else { throw ValidationError("chdir \(files.directory) failed: errno \(errno)") }
        }
        var options = LockOptions()
        options.sameHostStaleAfter = .milliseconds(staleMs)
        options.otherHostStaleAfter = .milliseconds(otherMs)
        options.heartbeatInterval = .milliseconds(heartbeatMs)
        options.maximumPollInterval = .milliseconds(100)
        options.usesNamedTemporaryFiles = namedTemp
        var edges = WorkerEdges(files: files)
        edges.changesDirectory = chdir
        edges.printsCarelessly = carelessStdout || lockFileOnStdout
        edges.putsLockFileOnStandardOutput = lockFileOnStdout
        edges.referenceAlias = referenceAlias.map { Array($0.utf8) }
        var worker = Worker(
            index: index, incarnation: incarnation, deadline: until,
            // A chdir worker names the data file relatively, from its directory (its working directory now).
            lock: WriterLock(dataFile: chdir ? FilePath("data.rvf") : FilePath(files.dataFile), options: options),
            log: log, data: data, edges: edges,
            random: SeededGenerator(seed: seed, stream: UInt64(index) << 20 | UInt64(incarnation)))
        if unlocked { worker.runWithoutLock() } else { worker.run() }
    }
}

/// The worker's loop and counters.
struct Worker: ~Copyable {
    let index: Int
    let incarnation: Int
    let deadline: UInt64
    let lock: WriterLock
    let log: AppendLog
    let data: AppendLog
    let edges: WorkerEdges
    var random: SeededGenerator
    let pid = getpid()

    var acquisitions = 0
    var tries = 0
    var waits = 0
    var busy = 0
    var timeouts = 0

    init(
        index: Int, incarnation: Int, deadline: UInt64, lock: WriterLock, log: consuming AppendLog, data: consuming AppendLog,
        edges: WorkerEdges, random: SeededGenerator
    ) {
        self.index = index
        self.incarnation = incarnation
        self.deadline = deadline
        self.lock = lock
        self.log = log
        self.data = data
        self.edges = edges
        self.random = random
    }

    mutating func run() {
        var wantedSince = Syscalls.monotonicNanoseconds()
        while Syscalls.monotonicNanoseconds() < deadline {
            guard let handle = acquireOnce() else { continue }
            let key = HoldingKey(writer: index, incarnation: incarnation, acquisition: acquisitions)
            acquisitions += 1
            log.append(
                TortureEvent.acquiredLine(
                    key, pid: pid, waited: lastAttemptWaited, waitedNanoseconds: Syscalls.monotonicNanoseconds() - wantedSince,
                    lockWriterID: handle.writerID.description))
            hold(handle, key)
            // A moment away from the lock, as a real writer has between appends.
            Syscalls.sleep(nanoseconds: random.next() % 3_000_000)
            wantedSince = Syscalls.monotonicNanoseconds()
        }
        log.append("S \(Syscalls.monotonicNanoseconds()) w\(index) \(pid) \(tries) \(waits) \(busy) \(timeouts)\n")
    }

    /// The same appends with no lock at all, so that the verifier's verdict can be seen to fail.
    mutating func runWithoutLock() {
        while Syscalls.monotonicNanoseconds() < deadline {
            let key = HoldingKey(writer: index, incarnation: incarnation, acquisition: acquisitions)
            acquisitions += 1
            log.append(TortureEvent.acquiredLine(key, pid: pid, waited: false, waitedNanoseconds: 0, lockWriterID: "none"))
            for sequence in 0..<4 {
                data.append(
                    DataRecord(
                        writer: key.writer, incarnation: key.incarnation, acquisition: key.acquisition,
                        sequence: sequence, monotonicNanoseconds: Syscalls.monotonicNanoseconds()
                    ).bytes)
                Syscalls.sleep(nanoseconds: random.next() % 2_000_000)
            }
            log.append("R \(Syscalls.monotonicNanoseconds()) \(key) \(pid)\n")
        }
    }

    private var lastAttemptWaited = false

    /// One attempt: half without waiting, half waiting a random while.
    private mutating func acquireOnce() -> LockHandle? {
        let remaining = deadline > Syscalls.monotonicNanoseconds() ? deadline - Syscalls.monotonicNanoseconds() : 0
        lastAttemptWaited = random.chance(1, in: 2)
        do throws(LockError) {
            if lastAttemptWaited {
                waits += 1
                let timeout = min(50_000_000 + random.next() % 1_450_000_000, remaining)
                return try lock.acquire(timeout: .nanoseconds(Int64(timeout)))
            } else {
                tries += 1
                return try lock.tryAcquire()
            }
        } catch {
            switch error.code {
            case .busy:
                busy += 1
                noteRefusalByAlias(timedOut: false)
                Syscalls.sleep(nanoseconds: 1_000_000 + random.next() % 20_000_000)
            case .timedOut:
                timeouts += 1
                noteRefusalByAlias(timedOut: true)
            default:
                // A directory or symlink planted at the lock path lands here: the library never removes those.
                log.append("E \(Syscalls.monotonicNanoseconds()) w\(index) \(pid) \(error.code)\n")
                Syscalls.sleep(nanoseconds: 50_000_000)
            }
            return nil
        }
    }

    /// Appends a few records, each after checking the lock is still held, then releases.
    /// A chdir worker leaves the lock's directory while holding; a closed-stdout worker
    /// prints before each record and checks the lock file before releasing.
    private mutating func hold(_ handle: consuming LockHandle, _ key: HoldingKey) {
        if edges.putsLockFileOnStandardOutput { putLockFileOnStandardOutput() }
        let writes = 2 + Int(random.next() % 5)
        // Now and then a long holding, so that heartbeats run and faults find a holder; more
        // often for chdir workers, so that heartbeats and loss checks run while they are away.
        let pause: UInt64 =
            random.chance(1, in: edges.changesDirectory ? 4 : 8) ? 50_000_000 + random.next() % 100_000_000 : random.next() % 2_000_000
        var lost = false
        for sequence in 0..<writes {
            if edges.changesDirectory && (sequence == 0 || random.chance(1, in: 3)) { changeDirectoryAway(key) }
            do throws(LockError) {
                try handle.checkHeld()
            } catch {
                log.append("L \(Syscalls.monotonicNanoseconds()) \(key) \(pid)\n")
                lost = true
                break
            }
            if edges.printsCarelessly { printProgress(key, sequence: sequence) }
            let record = DataRecord(
                writer: key.writer, incarnation: key.incarnation, acquisition: key.acquisition,
                sequence: sequence, monotonicNanoseconds: Syscalls.monotonicNanoseconds())
            data.append(record.bytes)
            if sequence < writes - 1 { Syscalls.sleep(nanoseconds: pause) }
        }
        if edges.printsCarelessly && !lost { checkLockFileAfterPrinting(key, writerID: handle.writerID.description) }
        // Sometimes back home before releasing; otherwise the release runs from elsewhere.
        if edges.changesDirectory && random.chance(1, in: 3) { changeDirectoryHome(key) }
        log.append("R \(Syscalls.monotonicNanoseconds()) \(key) \(pid)\n")
        do throws(LockError) {
            try handle.release()
        } catch {
            log.append("X \(Syscalls.monotonicNanoseconds()) \(key) \(pid) \(error.code)\n")
        }
        if edges.putsLockFileOnStandardOutput { restoreStandardOutput() }
        // The next acquisition names the data file relatively again, from its directory.
        if edges.changesDirectory { changeDirectoryHome(nil) }
    }
}
