import Glibc
package import SystemPackage

/// A child process this one talks to by lines: its standard input is a pipe this
/// process writes (closing it tells a serving child to end), its standard output
/// (and, if asked, its standard error) a pipe this process reads line by line.
/// Killed with SIGKILL and reaped when it goes, if it still runs then.
///
/// `rvf-lock selftest`'s helpers and the benchmarks' workers are these; the tests'
/// `ChildProcess` writes its child's output to files instead.
package final class PipedChild {
    package let pid: Int32
    /// Its exit status as a shell shows it (128 + signal), once reaped; nil before.
    package private(set) var exitStatus: Int32?
    /// The write end of the child's standard input; nil once closed.
    private var input: CInt?
    /// The read end of the child's output, non-blocking; nil once at its end.
    private var output: CInt?
    /// Read and not yet taken as lines.
    private var pending: [UInt8] = []

    /// Starts `executable` with `arguments` as its whole argument vector.
    ///
    /// - Parameters:
    ///   - standardErrorToo: standard error goes into the same pipe as standard
    ///     output; otherwise the child keeps this process's.
    ///   - defaultSignals: as for ``Spawn/Command``.
    /// - Throws: the error of `pipe` or `posix_spawn`.
    package init(
        _ executable: String, arguments: [String], standardErrorToo: Bool = false, defaultSignals: [CInt] = []
    ) throws(Errno) {
        let requests = try Spawn.pipe()
        let replies: (readable: CInt, writable: CInt)
        do {
            replies = try Spawn.pipe()
        } catch {
            close(requests.readable)
            close(requests.writable)
            throw error
        }
        // The child has its copies once started; this process keeps the other ends.
        defer {
            close(requests.readable)
            close(replies.writable)
        }
        do {
            pid = try Spawn.Command(
                executable, arguments: arguments,
                input: .descriptor(requests.readable), output: .descriptor(replies.writable),
                error: standardErrorToo ? .descriptor(replies.writable) : .inherited,
                defaultSignals: defaultSignals
            ).start()
        } catch {
            close(requests.writable)
            close(replies.readable)
            throw error
        }
        // Only this end: the child's end of the same pipe is another open file, and stays blocking.
        _ = fcntl(replies.readable, F_SETFL, fcntl(replies.readable, F_GETFL) | O_NONBLOCK)
        input = requests.writable
        output = replies.readable
    }

    deinit {
        killAndReap()
        closeInput()
        if let output { close(output) }
    }

    /// Writes `line` and a newline to the child's standard input.
    package func send(_ line: String) throws(Errno) {
        guard let input else { throw Errno.badFileDescriptor }
        let bytes = Array((line + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let written = bytes[sent...].withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            sent += written
        }
    }

    /// Closes the child's standard input: a serving child takes that as the end.
    package func closeInput() {
        if let input { close(input) }
        input = nil
    }

    /// Sends `signal`, unless the child has been reaped (its pid may be another's by then).
    package func signal(_ signal: CInt) {
        if exitStatus == nil { kill(pid, signal) }
    }

    /// Whether the child's output has ended (it closed it, or exited) and been read to its end.
    package var outputEnded: Bool { output == nil }

    /// Reads what the child has printed so far, without waiting; false once its output has ended.
    @discardableResult
    package func readAvailable() -> Bool {
        guard let output else { return false }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count > 0 {
                pending += buffer[..<count]
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { return true }
            close(output)
            self.output = nil
            // A last line without a newline still counts.
            if !pending.isEmpty && pending.last != UInt8(ascii: "\n") { pending.append(UInt8(ascii: "\n")) }
            return false
        }
    }

    /// The next line, waiting at most `timeoutNanoseconds` for it; nil if none came in
    /// that time or the output ended first. `wait` sleeps until the descriptor (the
    /// output) is readable or the milliseconds pass, and may throw to stop the wait
    /// (selftest's on a stopping signal).
    package func readLine<Failure: Error>(
        timeoutNanoseconds: UInt64, waitingWith wait: (_ descriptor: CInt, _ milliseconds: Int) throws(Failure) -> Void
    ) throws(Failure) -> String? {
        let deadline = ContinuousClock.now + .nanoseconds(Int64(clamping: timeoutNanoseconds))
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero, let output else { return nil }
            try wait(output, Int(min(left / .milliseconds(1) + 1, 60_000)))
            readAvailable()
        }
    }

    /// The next line, waiting at most `timeoutNanoseconds` for it (in `poll`).
    package func readLine(timeoutNanoseconds: UInt64) -> String? {
        readLine(timeoutNanoseconds: timeoutNanoseconds) { descriptor, milliseconds in
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, CInt(milliseconds))
        }
    }

    /// Everything printed and not yet taken as lines.
    package func remainingOutput() -> String {
        readAvailable()
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Its exit status once it has ended (and is reaped by this call); nil while it runs.
    @discardableResult
    package func reapIfEnded() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: CInt = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        exitStatus = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return exitStatus
    }

    /// Waits for it to end, and returns its exit status as a shell shows it.
    @discardableResult
    package func reap() -> Int32 {
        if let exitStatus { return exitStatus }
        let status = Spawn.waitForExit(pid)
        exitStatus = status
        return status
    }

    /// Kills it with SIGKILL, unless it has been reaped, and reaps it.
    package func killAndReap() {
        signal(SIGKILL)
        reap()
    }
}
