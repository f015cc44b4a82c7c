#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import RVFLock
import SystemPackage

/// One worker process of a multi-process benchmark (hidden; started by `run`).
///
/// Every mode waits until the monotonic `--start-ns` so that all workers of a
/// measurement begin together, however long each took to start, and reports
/// on standard output in `word key value...` lines that `run` parses.
struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A worker process of a multi-process benchmark.",
        shouldDisplay: false
    )

    enum Mode: String, ExpressibleByArgument {
        /// Loop: acquire, record the handoff latency, hold, stamp the release time, release, pause.
        case handoff
        /// Loop: acquire, append `+ID`, hold, append `-ID`, release; print the count and every wait.
        case contend
        /// Acquire, print `acquired`, hold `--seconds` (or forever), print resource usage of the holding time.
        case hold
        /// The idle control of `hold`: the same, without a lock.
        case idle
        /// Print `ready`, wait for the lock; print `acquired at-ns T`, or `timed-out`, with the CPU spent waiting.
        case wait
    }

    @Argument var mode: Mode
    @Option var file: String
    @Option(help: "The lock of `handoff` and `contend`: rvflock or kernel-flock (a plain file, flock(2)).")
    var lock: Implementation = .rvflock
    @Option var id: UInt64 = UInt64(getpid())
    @Option(help: "Monotonic nanoseconds at which to begin.") var startNs: UInt64 = 0
    @Option(help: "Monotonic nanoseconds at which to stop starting new acquisitions.") var endNs: UInt64 = 0
    @Option(help: "Monotonic nanoseconds before which handoff samples are warm-up.") var warmupNs: UInt64 = 0
    @Option var holdUs: UInt64 = 0
    @Option var pauseUs: UInt64 = 0
    @Option(help: "The append log of `contend`, or the shared stamp file of `handoff`.") var log: String?
    @Option var seconds: Double?
    @Option var heartbeatMs: Int?
    @Option var timeoutMs: Int = 60_000

    var writerLock: WriterLock {
        var options = LockOptions()
        if let heartbeatMs { options.heartbeatInterval = .milliseconds(heartbeatMs) }
        return WriterLock(dataFile: FilePath(file), options: options)
    }

    func run() throws {
        Syscalls.sleep(untilMonotonic: startNs)
        switch mode {
        case .handoff: try handoff()
        case .contend: try contend()
        case .hold: try hold()
        case .idle: idle()
        case .wait: try waitForLock()
        }
    }

    func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    func openOrFail(_ path: String, _ flags: CInt) throws(BenchFailure) -> CInt {
        let descriptor = open(path, flags | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw BenchFailure("worker could not open \(path): errno \(errno)") }
        return descriptor
    }

    func handoff() throws {
        guard let log else { throw BenchFailure("handoff needs --log (the shared stamp file)") }
        let stamps = try openOrFail(log, O_RDWR)
        defer { close(stamps) }
        let contender = try lock.contender(file: file, heartbeatMilliseconds: heartbeatMs)
        var samples: [UInt64] = []
        var acquisitions = 0
        while try contender.acquire(before: endNs) {
            let acquiredAt = Syscalls.monotonicNanoseconds()
            // The stamp is written under the lock, so it is always the last releaser's.
            var stamp: (UInt64, UInt64) = (0, 0)
            _ = withUnsafeMutableBytes(of: &stamp) { pread(stamps, $0.baseAddress, $0.count, 0) }
            // A process that took back its own lock handed nothing over.
            if stamp.0 != 0 && stamp.1 != id && acquiredAt >= warmupNs {
                samples.append(acquiredAt - stamp.0)
            }
            acquisitions += 1
            if holdUs > 0 { Syscalls.sleep(nanoseconds: holdUs * 1000) }
            stamp = (Syscalls.monotonicNanoseconds(), id)
            _ = withUnsafeBytes(of: &stamp) { pwrite(stamps, $0.baseAddress, $0.count, 0) }
            try contender.release()
            // Step back, so that a waiting process, not this one, takes the lock next.
            if pauseUs > 0 { Syscalls.sleep(nanoseconds: pauseUs * 1000) }
        }
        say("acquisitions \(acquisitions)")
        say("samples " + samples.map(String.init).joined(separator: " "))
    }

    func contend() throws {
        guard let log else { throw BenchFailure("contend needs --log") }
        let descriptor = try openOrFail(log, O_WRONLY | O_APPEND | O_CREAT)
        defer { close(descriptor) }
        let enter = Array("+\(id)\n".utf8)
        let leave = Array("-\(id)\n".utf8)
        let contender = try lock.contender(file: file, heartbeatMilliseconds: heartbeatMs)
        var acquisitions = 0
        // From asking for the lock to holding it, for every acquisition: the longest
        // against the median says whether some process is passed over again and again.
        var waits: [UInt64] = []
        waits.reserveCapacity(1 << 14)
        while true {
            let askedAt = Syscalls.monotonicNanoseconds()
            guard try contender.acquire(before: endNs) else { break }
            waits.append(Syscalls.monotonicNanoseconds() - askedAt)
            // One write each: O_APPEND makes each line land whole and in order.
            _ = enter.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if holdUs > 0 { usleep(UInt32(holdUs)) }
            _ = leave.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            try contender.release()
            acquisitions += 1
        }
        say("acquisitions \(acquisitions)")
        say("waits " + waits.map(String.init).joined(separator: " "))
    }

    func hold() throws {
        let handle = try writerLock.acquire(timeout: .milliseconds(timeoutMs))
        say("acquired \(getpid())")
        guard let seconds else {
            // The loop must use the handle: on a path that never reaches the end of its
            // scope (an endless loop, exit), Swift destroys a noncopyable value right
            // after its last use, and dropping a handle releases the lock.
            while handle.isHeld { sleep(1) }
            say("lost")
            throw BenchFailure("the holder lost its lock")
        }
        let before = ResourceSnapshot.current()
        Syscalls.sleep(nanoseconds: UInt64(seconds * 1e9))
        let after = ResourceSnapshot.current()
        say(after.line(since: before) + " held \(handle.isHeld ? 1 : 0)")
        try handle.release()
    }

    func idle() {
        say("acquired \(getpid())")
        let before = ResourceSnapshot.current()
        Syscalls.sleep(nanoseconds: UInt64((seconds ?? 1) * 1e9))
        let after = ResourceSnapshot.current()
        say(after.line(since: before) + " held 0")
    }

    func waitForLock() throws {
        let lock = writerLock
        say("ready")
        let before = ResourceSnapshot.current()
        let startedAt = Syscalls.monotonicNanoseconds()
        do throws(LockError) {
            let handle = try lock.acquire(timeout: .milliseconds(timeoutMs))
            let acquiredAt = Syscalls.monotonicNanoseconds()
            let after = ResourceSnapshot.current()
            say("acquired at-ns \(acquiredAt) waited-ns \(acquiredAt - startedAt) " + after.line(since: before))
            try handle.release()
        } catch {
            guard error.code == .timedOut || error.code == .busy else { throw error }
            let endedAt = Syscalls.monotonicNanoseconds()
            let after = ResourceSnapshot.current()
            say("timed-out waited-ns \(endedAt - startedAt) " + after.line(since: before))
        }
    }
}
