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

    func run() throws {
        if let hostname {
            // Before the library reads the hostname, which it does once per process.
            guard sethostname(hostname, hostname.utf8.count) == 0 else {
                throw ValidationError("sethostname failed: errno \(errno)")
            }
        }
        var options = LockOptions()
        options.sameHostStaleAfter = .milliseconds(staleMs)
        options.otherHostStaleAfter = .milliseconds(otherMs)
        options.heartbeatInterval = .milliseconds(heartbeatMs)
        options.maximumPollInterval = .milliseconds(100)
        options.usesNamedTemporaryFiles = namedTemp
        let files = TortureFiles(directory: dir)
        var worker = Worker(
            index: index, incarnation: incarnation, deadline: until,
            lock: WriterLock(dataFile: FilePath(files.dataFile), options: options),
            log: AppendLog(path: files.eventLog), data: AppendLog(path: files.dataFile),
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
    var random: SeededGenerator
    let pid = getpid()

    var acquisitions = 0
    var tries = 0
    var waits = 0
    var busy = 0
    var timeouts = 0

    init(index: Int, incarnation: Int, deadline: UInt64, lock: WriterLock, log: consuming AppendLog, data: consuming AppendLog, random: SeededGenerator) {
        self.index = index
        self.incarnation = incarnation
        self.deadline = deadline
        self.lock = lock
        self.log = log
        self.data = data
        self.random = random
    }

    mutating func run() {
        var wantedSince = Monotonic.now()
        while Monotonic.now() < deadline {
            guard let handle = acquireOnce() else { continue }
            let key = HoldingKey(writer: index, incarnation: incarnation, acquisition: acquisitions)
            acquisitions += 1
            log.append(TortureEvent.acquiredLine(key, pid: pid, waited: lastAttemptWaited, waitedNanoseconds: Monotonic.now() - wantedSince,
                lockWriterID: handle.writerID.description))
            hold(handle, key)
            // A moment away from the lock, as a real writer has between appends.
            Monotonic.sleep(nanoseconds: random.next() % 3_000_000)
            wantedSince = Monotonic.now()
        }
        log.append("S \(Monotonic.now()) w\(index) \(pid) \(tries) \(waits) \(busy) \(timeouts)\n")
    }

    /// The same appends with no lock at all, so that the verifier's verdict can be seen to fail.
    mutating func runWithoutLock() {
        while Monotonic.now() < deadline {
            let key = HoldingKey(writer: index, incarnation: incarnation, acquisition: acquisitions)
            acquisitions += 1
            log.append(TortureEvent.acquiredLine(key, pid: pid, waited: false, waitedNanoseconds: 0, lockWriterID: "none"))
            for sequence in 0..<4 {
                data.append(DataRecord(
                    writer: key.writer, incarnation: key.incarnation, acquisition: key.acquisition,
                    sequence: sequence, monotonicNanoseconds: Monotonic.now()).bytes)
                Monotonic.sleep(nanoseconds: random.next() % 2_000_000)
            }
            log.append("R \(Monotonic.now()) \(key) \(pid)\n")
        }
    }

    private var lastAttemptWaited = false

    /// One attempt: half without waiting, half waiting a random while.
    private mutating func acquireOnce() -> LockHandle? {
        let remaining = deadline > Monotonic.now() ? deadline - Monotonic.now() : 0
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
                Monotonic.sleep(nanoseconds: 1_000_000 + random.next() % 20_000_000)
            case .timedOut:
                timeouts += 1
            default:
                // A directory or symlink planted at the lock path lands here: the library never removes those.
                log.append("E \(Monotonic.now()) w\(index) \(pid) \(error.code)\n")
                Monotonic.sleep(nanoseconds: 50_000_000)
            }
            return nil
        }
    }

    /// Appends a few records, each after checking the lock is still held, then releases.
    private mutating func hold(_ handle: consuming LockHandle, _ key: HoldingKey) {
        let writes = 2 + Int(random.next() % 5)
        // Now and then a long holding, so that heartbeats run and faults find a holder.
        let pause: UInt64 = random.chance(1, in: 8) ? 50_000_000 + random.next() % 100_000_000 : random.next() % 2_000_000
        for sequence in 0..<writes {
            do throws(LockError) {
                try handle.checkHeld()
            } catch {
                log.append("L \(Monotonic.now()) \(key) \(pid)\n")
                break
            }
            let record = DataRecord(
                writer: key.writer, incarnation: key.incarnation, acquisition: key.acquisition,
                sequence: sequence, monotonicNanoseconds: Monotonic.now())
            data.append(record.bytes)
            if sequence < writes - 1 { Monotonic.sleep(nanoseconds: pause) }
        }
        log.append("R \(Monotonic.now()) \(key) \(pid)\n")
        do throws(LockError) {
            try handle.release()
        } catch {
            log.append("X \(Monotonic.now()) \(key) \(pid) \(error.code)\n")
        }
    }
}
