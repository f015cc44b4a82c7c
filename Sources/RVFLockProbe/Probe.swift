#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import RVFLock
import Synchronization
import SystemPackage

/// A worker process for RVFLock's cross-process tests.
///
/// Usage: `rvflock-probe MODE FILE [key=value...]`, with modes
/// - `try`: take the lock without waiting; exit 0 and print `acquired PID`, or exit 3 and print `busy PID HOST`.
/// - `hold`: wait for the lock, print `acquired PID WRITERID`, hold it `hold-ms` (forever by default)
///   or until stdin closes, print `released` (exit 0) or `lost` (exit 4).
/// - `contend`: for `seconds`, loop: wait for the lock, append `+ID` then `-ID` to `log` (one write
///   each) `hold-us` apart, release; print `acquisitions N`.
/// - `race`: sleep until wall-clock `start-ns`, try once; if acquired, append `+ID`/`-ID` to `log`
///   around a `hold-ms` pause; print `acquired TRIED RELEASING` or `busy TRIED` (wall-clock ns of
///   the try, and of the release).
/// - `wait`: wait for the lock at most `timeout-ms`; print `acquired MS` with the milliseconds waited
///   (exit 0) or `timeout` (exit 5).
/// - `status`: print the lock's state as one `status ...` line (see ``statusLine(_:)``) and a
///   `description ...` line; with `loop-ms` (or `until`), look again and again in a tight loop
///   instead, printing `looping` first and `looked N invalid M` at the end.
/// - `break`: break the lock (`force=1`: even a live one); print `broke STATUS` or `none` (exit 0),
///   or `refused CODE MESSAGE` (exit 3). With `pause=PATH`, pause after judging the file and
///   checking it is the one judged, just before removing it: print `pausing` and go on once PATH
///   exists (`TestingHooks.beforeRemovingJudgedFile`). With `pause-put-back=PATH`, pause likewise
///   before putting back a file found replaced (`TestingHooks.beforePuttingBack`), printing
///   `pausing-put-back`.
/// - `observe`: open FILE's lock file read-only and hold a shared `flock()` on it, as an observer
///   (`flock -s`) would: print `sharing`, hold it `hold-ms` or until `until` exists, print `unshared`.
/// - `isolation`: lock FILE (A) and `other` (B) with `TestingHooks.duringHeartbeatWrite` blocking
///   A's first heartbeat write; print what A and B could still do meanwhile (`a-blocked`,
///   `a-isHeld true`, `a-checkHeld ok`, `b-acquired`, `b-heartbeat-advanced`, `b-released`,
///   `a-isHeld true`, `a-checkHeld ok`), then `waiting` until `until` exists, then unblock A,
///   release it and print `a-released`.
/// - the modes of hostile conditions: see `Probe+HostileConditions.swift`.
///
/// Common keys: `stale-ms` (same-host threshold), `other-ms` (other-host threshold),
/// `heartbeat-ms`, `named-temp=1`, `sync=always|never|automatic`, `report=PATH` (status lines
/// are appended to PATH instead of standard output, for a process started with it closed).
///
/// `hold` also takes: `nowait=1` (take the lock with `tryAcquire`), `cwd=DIR` (change directory
/// before taking it), `chdir=DIR` (change directory after taking it, then print `chdir DIR`),
/// `look-here=1` (after `chdir`, print `here-status ...` and `here-break ...` for FILE as seen from
/// the new directory), `stdout-bytes=N` (after taking it, write N bytes to descriptor 1 and print
/// `wrote N` or `write-failed ERRNO`), `until=PATH` (hold until PATH exists), `check=1` (call
/// `checkHeld()` in every round; print `check-failed ERROR` and exit 6 when it throws),
/// `rewrite-us=N` (also rewrite the record in place every N microseconds, see ``Rewriter``).
/// A release that fails prints `release-failed CODE` (exit 7).
@main
struct Probe {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 2 else {
            printError("usage: rvflock-probe MODE FILE [key=value...] (modes: see Probe.swift)\n")
            exit(64)
        }
        var settings: [String: String] = [:]
        for pair in arguments.dropFirst(2) {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                printError("rvflock-probe: expected key=value, got \(pair)\n")
                exit(64)
            }
            settings[parts[0]] = parts[1]
        }
        let probe = Probe(mode: arguments[0], file: FilePath(arguments[1]), settings: settings)
        exit(probe.run())
    }

    let mode: String
    let file: FilePath
    let settings: [String: String]

    func integer(_ key: String) -> Int? { settings[key].flatMap { Int($0) } }

    var lock: WriterLock {
        var options = LockOptions()
        if let value = integer("stale-ms") { options.sameHostStaleAfter = .milliseconds(value) }
        if let value = integer("other-ms") { options.otherHostStaleAfter = .milliseconds(value) }
        if let value = integer("heartbeat-ms") { options.heartbeatInterval = .milliseconds(value) }
        options.usesNamedTemporaryFiles = settings["named-temp"] == "1"
        switch settings["sync"] {
        case "always": options.syncPolicy = .always
        case "never": options.syncPolicy = .never
        default: options.syncPolicy = .automatic
        }
        return WriterLock(dataFile: file, options: options)
    }

    /// Prints one status line: to standard output, or appended to `report` when given.
    ///
    /// The report file is opened for each line and closed again, so that it never
    /// occupies a descriptor the library could otherwise have been given.
    func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        var descriptor: CInt = 1
        if let report = settings["report"] {
            descriptor = open(report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { return }
        }
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if descriptor != 1 { close(descriptor) }
    }

    /// Whether the file named by `until` exists (false without `until`).
    var untilReached: Bool {
        guard let path = settings["until"] else { return false }
        return access(path, F_OK) == 0
    }

    func run() -> Int32 {
        do {
            switch mode {
            case "try": return try tryOnce()
            case "hold": return try hold()
            case "contend": return try contend()
            case "race": return try race()
            case "wait": return try waitFor()
            case "status": return try status()
            case "break": return breakLock()
            case "observe": return observe()
            case "isolation": return try isolation()
            case "async-wait": return asyncWait()
            case "hijack": return hijack()
            case "hold-many": return try holdMany()
            case "async-many": return asyncMany()
            case "fork": return try forkWhileHolding()
            default:
                printError("rvflock-probe: unknown mode \(mode)\n")
                return 64
            }
        } catch {
            printError("rvflock-probe: \(error)\n")
            return 1
        }
    }

    func tryOnce() throws -> Int32 {
        do throws(LockError) {
            let handle = try lock.tryAcquire()
            say("acquired \(getpid())")
            try handle.release()
            return 0
        } catch {
            guard error.code == .busy else {
                say("error \(error.code) \(error.errno.map { "\($0.rawValue)" } ?? "-")")
                throw error
            }
            say("busy \(error.holder.map { "\($0.pid) \($0.hostname)" } ?? "unknown")")
            return 3
        }
    }

    func hold() throws -> Int32 {
        if let directory = settings["cwd"], chdir(directory) != 0 {
            printError("rvflock-probe: chdir \(directory): errno \(errno)\n")
            return 1
        }
        let lock = self.lock
        let handle = settings["nowait"] == "1" ? try lock.tryAcquire() : try lock.acquire()
        say("acquired \(getpid()) \(handle.writerID)")
        if let count = integer("stdout-bytes") {
            // What a program's `print` does to a closed standard output that the library was given.
            var text = Array("progress: still writing the data file\n".utf8)
            while text.count < count { text += text }
            let written = text.prefix(count).withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            say(written == count ? "wrote \(written)" : "write-failed \(errno)")
        }
        if let directory = settings["chdir"] {
            guard chdir(directory) == 0 else {
                printError("rvflock-probe: chdir \(directory): errno \(errno)\n")
                return 1
            }
            say("chdir \(directory)")
            if settings["look-here"] == "1" {
                // The same relative name, from the new directory: a lock there, not the one held.
                let here = self.lock
                do throws(LockError) {
                    say("here-status \(Self.statusLine(try here.status()))")
                    say("here-break \(try here.breakLock().map { "broke \($0)" } ?? "none")")
                } catch {
                    say("here-error \(error.code) \(error)")
                }
            }
        }
        let rewriter = integer("rewrite-us").map { interval in
            Rewriter(lockFile: file.string + ".lock", scope: handle.scope, interval: interval)
        }
        defer { rewriter?.stop() }
        let holdMilliseconds = integer("hold-ms")
        let clock = ContinuousClock()
        let deadline = holdMilliseconds.map { clock.now + .milliseconds($0) }
        var stdinOpen = settings["stdin"] == "1"
        let checks = settings["check"] == "1"
        while deadline.map({ clock.now < $0 }) ?? true {
            if !handle.isHeld { break }
            if untilReached { break }
            if checks {
                do throws(LockError) { try handle.checkHeld() } catch {
                    say("check-failed \(error.code) \(error)")
                    return 6
                }
            }
            if stdinOpen {
                var entry = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
                if poll(&entry, 1, 20) > 0 {
                    var byte: UInt8 = 0
                    if read(0, &byte, 1) <= 0 { stdinOpen = false; break }
                }
            } else {
                usleep(20_000)
            }
        }
        if !handle.isHeld {
            say("lost")
            return 4
        }
        do throws(LockError) { try handle.release() } catch {
            say("release-failed \(error.code) \(error)")
            return 7
        }
        say("released")
        return 0
    }

    func append(_ descriptor: CInt, _ line: String) {
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    func openLog() -> CInt {
        let path = settings["log"] ?? "/dev/null"
        return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    }

    func contend() throws -> Int32 {
        let id = settings["id"] ?? "\(getpid())"
        let seconds = integer("seconds") ?? 3
        let holdMicroseconds = UInt32(integer("hold-us") ?? 0)
        let log = openLog()
        defer { close(log) }
        let clock = ContinuousClock()
        let end = clock.now + .seconds(seconds)
        var acquisitions = 0
        let lock = self.lock
        while clock.now < end {
            let handle = try lock.acquire(timeout: end - clock.now + .seconds(5))
            append(log, "+\(id)\n")
            if holdMicroseconds > 0 { usleep(holdMicroseconds) }
            append(log, "-\(id)\n")
            try handle.release()
            acquisitions += 1
        }
        say("acquisitions \(acquisitions)")
        return 0
    }

    func race() throws -> Int32 {
        let id = settings["id"] ?? "\(getpid())"
        if let start = settings["start-ns"].flatMap(UInt64.init) {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let current = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
            if start > current { usleep(UInt32((start - current) / 1000)) }
        }
        let log = openLog()
        defer { close(log) }
        let tried = Self.wallClockNanoseconds()
        do throws(LockError) {
            let handle = try lock.tryAcquire()
            append(log, "+\(id)\n")
            usleep(UInt32((integer("hold-ms") ?? 100) * 1000))
            append(log, "-\(id)\n")
            // Before the release: a racer that tried after this is late, not a rival.
            let releasing = Self.wallClockNanoseconds()
            try handle.release()
            say("acquired \(tried) \(releasing)")
            return 0
        } catch {
            guard error.code == .busy else { throw error }
            say("busy \(tried)")
            return 3
        }
    }

    static func wallClockNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    func waitFor() throws -> Int32 {
        let clock = ContinuousClock()
        let start = clock.now
        // line=1: says "waiting" when it finds the lock taken, and how many older lock
        // files (removed from the path) it keeps open while it holds and after.
        let reportsLine = settings["line"] == "1"
        let timeout = Duration.milliseconds(integer("timeout-ms") ?? 10_000)
        // Progress is reported on this thread, during the call. Asked for only with
        // line=1: a progress report reads the lock file, through a descriptor of its own.
        var saidWaiting = false
        do throws(LockError) {
            let handle =
                reportsLine
                ? try lock.acquire(timeout: timeout) { _ in
                    guard !saidWaiting else { return }
                    saidWaiting = true
                    self.say("waiting")
                }
                : try lock.acquire(timeout: timeout)
            let waited = clock.now - start
            let milliseconds = waited.components.seconds * 1000 + waited.components.attoseconds / 1_000_000_000_000_000
            say("acquired \(milliseconds)")
            if reportsLine { say("older-lock-files \(Self.removedLockFilesOpen(file))") }
            try handle.release()
            if reportsLine { say("older-lock-files-after-release \(Self.removedLockFilesOpen(file))") }
            return 0
        } catch {
            guard error.code == .timedOut else { throw error }
            say("timeout")
            return 5
        }
    }
}

extension Probe {
    /// `status KIND key=value...`: KIND is free, held, stale or invalid; the keys are
    /// pid, host, match (thisHost, alias, otherHost), liveness, reason (stale only),
    /// age-ms, held-ms (`-` when unknown), program (`-` when unknown), breakable.
    static func statusLine(_ status: LockStatus) -> String {
        func milliseconds(_ duration: Duration) -> Int64 {
            duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        }
        func fields(_ holder: LockHolder) -> String {
            "pid=\(holder.pid) host=\(holder.hostname) match=\(holder.hostMatch.rawValue) "
                + "liveness=\(holder.liveness.rawValue) age-ms=\(milliseconds(holder.age)) "
                + "held-ms=\(holder.heldFor.map { "\(milliseconds($0))" } ?? "-") program=\(holder.program ?? "-")"
        }
        switch status {
        case .free:
            return "free"
        case .held(let holder):
            return "held \(fields(holder)) breakable=\(status.isBreakable)"
        case .stale(let holder, let reason):
            let name =
                switch reason {
                case .holderGone: "holderGone"
                case .processGoneAndOlderThan: "processGoneAndOlderThan"
                case .processReplacedAndOlderThan: "processReplacedAndOlderThan"
                case .otherHostOlderThan: "otherHostOlderThan"
                }
            return "stale \(fields(holder)) reason=\(name) breakable=\(status.isBreakable)"
        case .invalid(let invalid):
            return "invalid breakable=\(invalid.isBreakable)"
        }
    }

    func status() throws -> Int32 {
        let lock = self.lock
        guard settings["loop-ms"] != nil || settings["until"] != nil else {
            let status = try lock.status()
            say("status \(Self.statusLine(status))")
            say("description \(status)")
            return 0
        }
        let clock = ContinuousClock()
        let end = integer("loop-ms").map { clock.now + .milliseconds($0) }
        var looks = 0
        var invalid = 0
        say("looping")
        while !(end.map { clock.now >= $0 } ?? false) && !untilReached {
            for _ in 0..<32 {
                if case .invalid? = try? lock.status() { invalid += 1 }
                looks += 1
            }
        }
        say("looked \(looks) invalid \(invalid)")
        return 0
    }

    func breakLock() -> Int32 {
        let report = { @Sendable (line: String) in self.say(line) }
        if let resume = settings["pause"] {
            TestingHooks.beforeRemovingJudgedFile = {
                report("pausing")
                while access(resume, F_OK) != 0 { usleep(5_000) }
            }
        }
        if let resume = settings["pause-put-back"] {
            TestingHooks.beforePuttingBack = {
                report("pausing-put-back")
                while access(resume, F_OK) != 0 { usleep(5_000) }
            }
        }
        do throws(LockError) {
            if let removed = try lock.breakLock(force: settings["force"] == "1") {
                say("broke \(removed)")
            } else {
                say("none")
            }
            return 0
        } catch {
            say("refused \(error.code) \(error)")
            return 3
        }
    }

    func observe() -> Int32 {
        let path = file.string + ".lock"
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            say("error open \(errno)")
            return 1
        }
        guard flock(descriptor, LOCK_SH) == 0 else {
            say("error flock \(errno)")
            return 1
        }
        say("sharing")
        let clock = ContinuousClock()
        let deadline = integer("hold-ms").map { clock.now + .milliseconds($0) }
        while !(deadline.map { clock.now >= $0 } ?? false) && !untilReached { usleep(5_000) }
        close(descriptor)
        say("unshared")
        return 0
    }

    /// One lock's hung heartbeat must stall neither that lock's `isHeld` and
    /// `checkHeld` nor anything of another lock in the process.
    func isolation() throws -> Int32 {
        guard let other = settings["other"] else {
            printError("rvflock-probe: isolation needs other=FILE\n")
            return 64
        }
        let a = try lock.tryAcquire()
        say("a-acquired")
        let blocked = Atomic<Bool>(false)
        let release = DispatchSemaphore(value: 0)
        // B is taken only once A's heartbeat is blocked, so the first write to come here is A's.
        TestingHooks.duringHeartbeatWrite = {
            guard !blocked.exchange(true, ordering: .sequentiallyConsistent) else { return }
            release.wait()
        }
        while !blocked.load(ordering: .sequentiallyConsistent) { usleep(1_000) }
        say("a-blocked")
        say("a-isHeld \(a.isHeld)")
        do throws(LockError) { try a.checkHeld(); say("a-checkHeld ok") } catch { say("a-checkHeld \(error.code) \(error)") }

        let b = try Probe(mode: mode, file: FilePath(other), settings: settings).lock.tryAcquire()
        say("b-acquired")
        let first = b.record.timestampNanoseconds
        // B's heartbeat must reach B's file on disk while A's write hangs.
        while true {
            let bytes = Self.readFile(other + ".lock")
            if let record = try? LockRecord(decoding: bytes), record.writerID == b.writerID,
                record.timestampNanoseconds != first
            {
                break
            }
            usleep(1_000)
        }
        say("b-heartbeat-advanced")
        try b.release()
        say("b-released")
        say("a-isHeld \(a.isHeld)")
        do throws(LockError) { try a.checkHeld(); say("a-checkHeld ok") } catch { say("a-checkHeld \(error.code) \(error)") }
        say("waiting")
        while !untilReached { usleep(5_000) }
        release.signal()
        try a.release()
        say("a-released")
        return 0
    }

    /// How many of this process's descriptors are on lock files of `dataFile` that
    /// no longer have a name (`/proc/self/fd` says "(deleted)").
    static func removedLockFilesOpen(_ dataFile: FilePath) -> Int {
        let removed = "/" + (dataFile.lastComponent?.string ?? dataFile.string) + ".lock (deleted)"
        var count = 0
        for descriptor in 0..<1024 {
            var buffer = [CChar](repeating: 0, count: 4096)
            let length = readlink("/proc/self/fd/\(descriptor)", &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            let target = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target.hasSuffix(removed) { count += 1 }
        }
        return count
    }

    static func readFile(_ path: String) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(buffer.prefix(count)) : []
    }
}

/// Rewrites a holder's record in place (as its heartbeat does, with a fresh
/// timestamp) every `interval` microseconds, on a thread of its own, until
/// stopped: a heartbeat far more frequent than the library's, to widen the window
/// in which a judge's read races a write.
final class Rewriter: Sendable {
    private let running = Atomic<Bool>(true)
    private let stopped = DispatchSemaphore(value: 0)

    init(lockFile: String, scope: LockScope, interval: Int) {
        DispatchQueue(label: "rvflock-probe.rewriter").async { [self] in
            defer { stopped.signal() }
            let descriptor = open(lockFile, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)
            guard descriptor >= 0 else { return }
            defer { close(descriptor) }
            // Encoded ahead, so that the writes follow each other as fast as the kernel takes them.
            var record = scope.record
            let records: [[UInt8]] = (0..<64).map { step in
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                record.timestampNanoseconds = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec) + UInt64(step)
                return record.encoded()
            }
            var index = 0
            while running.load(ordering: .relaxed) {
                _ = records[index].withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
                index = (index + 1) % records.count
                if interval > 0 { usleep(UInt32(interval)) }
            }
        }
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        stopped.wait()
    }
}

/// Writes to standard error without going through C's shared `stderr` stream.
func printError(_ message: String) {
    let bytes = Array(message.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
