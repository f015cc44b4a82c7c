#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockSpawn

/// A worker process whose standard output the benchmark reads line by line, and
/// which fails with its name: a `PipedChild` (the package's way to talk to a child),
/// so that many run at once without a run loop, and each can be killed and reaped
/// at a precise moment (the recovery benchmark depends on that).
final class WorkerProcess {
    let label: String
    private let child: PipedChild

    var pid: pid_t { child.pid }

    /// Its standard input takes requests sent with ``send(_:)``, for a worker that serves
    /// them; the others leave it unread, and ``finish(timeoutNanoseconds:)`` closes it.
    init(executable: String, arguments: [String], label: String) throws(BenchFailure) {
        self.label = label
        do {
            child = try PipedChild(executable, arguments: [executable] + arguments)
        } catch {
            throw BenchFailure("could not start \(label) (\(executable)): \(error)")
        }
    }

    /// Writes a request line to the child's standard input.
    func send(_ line: String) throws(BenchFailure) {
        do {
            try child.send(line)
        } catch {
            throw BenchFailure("could not write to \(label): \(error)")
        }
    }

    /// The next line of output, or nil at end of output or after `timeoutNanoseconds`.
    func readLine(timeoutNanoseconds: UInt64) -> String? {
        child.readLine(timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Reads a line, failing with the worker's name when none arrives in time.
    func expectLine(timeoutNanoseconds: UInt64 = 30_000_000_000) throws(BenchFailure) -> String {
        guard let line = readLine(timeoutNanoseconds: timeoutNanoseconds) else {
            throw BenchFailure("\(label) (pid \(pid)) printed nothing within \(timeoutNanoseconds / 1_000_000_000) s")
        }
        return line
    }

    /// Reads the rest of the output and waits for the exit; fails if the worker
    /// does not exit within the timeout or exits unsuccessfully.
    func finish(timeoutNanoseconds: UInt64 = 60_000_000_000) throws(BenchFailure) -> [String] {
        child.closeInput()
        var lines: [String] = []
        let deadline = Syscalls.monotonicNanoseconds() + timeoutNanoseconds
        while let line = readLine(
            timeoutNanoseconds: deadline > Syscalls.monotonicNanoseconds() ? deadline - Syscalls.monotonicNanoseconds() : 0)
        {
            lines.append(line)
        }
        guard child.outputEnded else {
            throw BenchFailure("\(label) (pid \(pid)) did not finish within \(timeoutNanoseconds / 1_000_000_000) s")
        }
        let status = child.reap()
        guard status == 0 else {
            throw BenchFailure("\(label) (pid \(pid)) failed with exit status \(status); output: \(lines.joined(separator: " | "))")
        }
        return lines
    }

    func signal(_ signal: CInt) { child.signal(signal) }

    /// Waits for the exit; returns the exit status as a shell shows it.
    @discardableResult
    func reap() -> Int32 { child.reap() }
}

/// The first `key value` pair with this key in a worker's `word key value key value` line.
func field(_ key: String, in line: String) -> UInt64? {
    let words = line.split(separator: " ")
    guard let index = words.firstIndex(where: { $0 == key }), index + 1 < words.count else { return nil }
    return UInt64(words[index + 1])
}
