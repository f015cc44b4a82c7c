#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockSpawn
import SystemPackage
import RVFLock

/// A child process whose standard output the benchmark reads line by line.
///
/// Started with the package's `Spawn` rather than Foundation's `Process`, so that
/// many children can run at once without a run loop, and each can be killed and
/// reaped at a precise moment (the recovery benchmark depends on that).
final class WorkerProcess {
    let pid: pid_t
    let label: String
    private var output: CInt
    /// The write end of the child's standard input, when it takes requests.
    private var input: CInt = -1
    private var pending: [UInt8] = []
    private var exitStatus: CInt?

    init(executable: String, arguments: [String], label: String, takesInput: Bool = false) throws(BenchFailure) {
        self.label = label
        do throws(Errno) {
            let replies = try Spawn.pipe()
            defer { close(replies.writable) }
            let requests = takesInput ? try Spawn.pipe() : nil
            defer { if let requests { close(requests.readable) } }
            do throws(Errno) {
                pid = try Spawn.Command(
                    executable, arguments: [executable] + arguments,
                    input: requests.map { .descriptor($0.readable) } ?? .nullDevice, output: .descriptor(replies.writable)
                ).start()
            } catch {
                close(replies.readable)
                if let requests { close(requests.writable) }
                throw error
            }
            output = replies.readable
            input = requests?.writable ?? -1
        } catch {
            throw BenchFailure("could not start \(label) (\(executable)): \(error)")
        }
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: CInt = 0
            waitpid(pid, &status, 0)
        }
        if output >= 0 { close(output) }
        if input >= 0 { close(input) }
    }

    /// Writes a request line to the child's standard input.
    func send(_ line: String) throws(BenchFailure) {
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw BenchFailure("could not write to \(label): errno \(errno)") }
    }

    /// Closes the child's standard input: a serving child takes that as the end.
    func closeInput() {
        if input >= 0 { close(input) }
        input = -1
    }

    /// The next line of output, or nil at end of output or after `timeoutNanoseconds`.
    func readLine(timeoutNanoseconds: UInt64) -> String? {
        let deadline = Syscalls.monotonicNanoseconds() + timeoutNanoseconds
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let now = Syscalls.monotonicNanoseconds()
            guard now < deadline, output >= 0 else { return nil }
            var entry = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let milliseconds = CInt(min((deadline - now) / 1_000_000 + 1, 60_000))
            guard poll(&entry, 1, milliseconds) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count <= 0 {
                close(output)
                output = -1
                // A last line without a newline still counts.
                if pending.isEmpty { return nil }
                pending.append(UInt8(ascii: "\n"))
                continue
            }
            pending.append(contentsOf: buffer[..<count])
        }
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
        closeInput()
        var lines: [String] = []
        let deadline = Syscalls.monotonicNanoseconds() + timeoutNanoseconds
        while let line = readLine(
            timeoutNanoseconds: deadline > Syscalls.monotonicNanoseconds() ? deadline - Syscalls.monotonicNanoseconds() : 0)
        {
            lines.append(line)
        }
        if output >= 0 {
            throw BenchFailure("\(label) (pid \(pid)) did not finish within \(timeoutNanoseconds / 1_000_000_000) s")
        }
        let status = reap()
        guard status == 0 else {
            throw BenchFailure("\(label) (pid \(pid)) failed with wait status \(status); output: \(lines.joined(separator: " | "))")
        }
        return lines
    }

    func signal(_ signal: CInt) { kill(pid, signal) }

    /// Waits for the exit; returns the raw wait status.
    @discardableResult
    func reap() -> CInt {
        if let exitStatus { return exitStatus }
        var status: CInt = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        exitStatus = status
        return status
    }
}

/// The first `key value` pair with this key in a worker's `word key value key value` line.
func field(_ key: String, in line: String) -> UInt64? {
    let words = line.split(separator: " ")
    guard let index = words.firstIndex(where: { $0 == key }), index + 1 < words.count else { return nil }
    return UInt64(words[index + 1])
}
