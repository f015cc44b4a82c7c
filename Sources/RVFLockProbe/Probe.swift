#if canImport(Glibc)
import Glibc
#endif
import RVFLock
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
///   around a `hold-ms` pause; print `acquired` or `busy`.
/// - `wait`: wait for the lock at most `timeout-ms`; print `acquired MS` with the milliseconds waited
///   (exit 0) or `timeout` (exit 5).
///
/// Common keys: `stale-ms` (same-host threshold), `other-ms` (other-host threshold),
/// `heartbeat-ms`, `named-temp=1`.
@main
struct Probe {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 2 else {
            printError("usage: rvflock-probe try|hold|contend|race|wait FILE [key=value...]\n")
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
        return WriterLock(dataFile: file, options: options)
    }

    func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }

    func run() -> Int32 {
        do {
            switch mode {
            case "try": return try tryOnce()
            case "hold": return try hold()
            case "contend": return try contend()
            case "race": return try race()
            case "wait": return try waitFor()
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
            guard error.code == .busy else { throw error }
            say("busy \(error.holder.map { "\($0.pid) \($0.hostname)" } ?? "unknown")")
            return 3
        }
    }

    func hold() throws -> Int32 {
        let handle = try lock.acquire()
        say("acquired \(getpid()) \(handle.writerID)")
        let holdMilliseconds = integer("hold-ms")
        let clock = ContinuousClock()
        let deadline = holdMilliseconds.map { clock.now + .milliseconds($0) }
        var stdinOpen = settings["stdin"] == "1"
        while deadline.map({ clock.now < $0 }) ?? true {
            if !handle.isHeld { break }
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
        try handle.release()
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
        do throws(LockError) {
            let handle = try lock.tryAcquire()
            append(log, "+\(id)\n")
            usleep(UInt32((integer("hold-ms") ?? 100) * 1000))
            append(log, "-\(id)\n")
            try handle.release()
            say("acquired")
            return 0
        } catch {
            guard error.code == .busy else { throw error }
            say("busy")
            return 3
        }
    }

    func waitFor() throws -> Int32 {
        let clock = ContinuousClock()
        let start = clock.now
        do throws(LockError) {
            let handle = try lock.acquire(timeout: .milliseconds(integer("timeout-ms") ?? 10_000))
            let waited = clock.now - start
            let milliseconds = waited.components.seconds * 1000 + waited.components.attoseconds / 1_000_000_000_000_000
            say("acquired \(milliseconds)")
            try handle.release()
            return 0
        } catch {
            guard error.code == .timedOut else { throw error }
            say("timeout")
            return 5
        }
    }
}

/// Writes to standard error without going through C's shared `stderr` stream.
func printError(_ message: String) {
    let bytes = Array(message.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
