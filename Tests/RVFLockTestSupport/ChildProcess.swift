#if canImport(Glibc)
public import Glibc
#endif
import Foundation
import RVFLockSpawn
import SystemPackage
import Synchronization

/// A process a test talks to while it runs, started with `posix_spawn`: its
/// standard output and error go to files that the test can read meanwhile, and
/// the test can signal it. The one way every test target starts such a process
/// (a program run to its end is a ``CompletedProcess``).
///
/// The process is killed and reaped when the object goes away, or when the test
/// process exits (``Leftovers``), so that a failed test leaves no worker behind
/// holding a lock, and no etcd member running.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    /// The command line: the executable, then its arguments.
    public let arguments: [String]
    public let outputPath: String
    public let errorPath: String
    private let standardInput: Mutex<CInt>
    private let exitCode: Mutex<Int32?>

    /// Stands for ``outputPath`` in the arguments: for a child started with standard
    /// output closed, which writes its lines to a file it is given instead (`report=`).
    public static let outputPathPlaceholder = "@OUTPUT@"

    /// An unprivileged user to run a child as, through `setpriv` (the test runner must be root).
    public struct User: Sendable {
        public let uid: uid_t
        public let gid: gid_t

        /// `nobody`, who owns nothing the tests did not give it.
        public static let nobody = User(uid: 65534, gid: 65534)
        /// A second unprivileged user (no account needed), for two users sharing a directory.
        public static let neighbour = User(uid: 65533, gid: 65533)
        /// A uid no process uses, for per-user limits (`ulimit -u`) that others' processes must not count against.
        public static let unused = User(uid: 65532, gid: 65532)

        public static let setpriv = "/usr/bin/setpriv"

        /// Whether children can be started as another user here; nil, or why not.
        public static let unavailableReason: String? = {
            guard geteuid() == 0 else { return "the tests do not run as root, so they cannot start a process as another user" }
            guard access(setpriv, X_OK) == 0 else { return "\(setpriv) (util-linux) is missing" }
            return nil
        }()
    }

    /// Starts `executable` with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: variables to set or override on top of this process's environment.
    ///   - keepsStandardInputOpen: give the child a pipe as standard input, closed by ``closeStandardInput()``.
    ///   - closedStandardDescriptors: standard descriptors (0, 1, 2) the child starts without.
    ///   - user: run the child as this user (via `setpriv`, with no supplementary groups).
    ///   - newSession: start it in a session and process group of its own, away from
    ///     any terminal (so that its group can be signalled as a whole).
    ///   - directory: where its standard output and error go, `name`.RANDOM.out and
    ///     .err (the random part keeps two children of one name apart; ``outputPath``
    ///     and ``errorPath`` give the names).
    public init(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        keepsStandardInputOpen: Bool = false,
        closedStandardDescriptors: Set<CInt> = [],
        user: User? = nil,
        newSession: Bool = false,
        outputIn directory: String,
        name: String
    ) throws {
        let outputPrefix = directory + "/" + "\(name).\(UInt32.random(in: 0...UInt32.max))"
        let outputPath = outputPrefix + ".out"
        let errorPath = outputPrefix + ".err"
        self.outputPath = outputPath
        self.errorPath = errorPath
        self.arguments = [executable] + arguments
        var executable = executable
        var arguments = arguments.map { $0.replacingOccurrences(of: Self.outputPathPlaceholder, with: outputPath) }
        if let user {
            arguments = ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", executable] + arguments
            executable = User.setpriv
        }

        var pipeEnds: [CInt] = [-1, -1]
        let input: SpawnedStream
        if closedStandardDescriptors.contains(0) {
            input = .closed
        } else if keepsStandardInputOpen {
            do {
                let ends = try Spawn.pipe()
                pipeEnds = [ends.readable, ends.writable]
            } catch {
                throw ChildProcessError.spawnFailed(executable, error.rawValue)
            }
            input = .descriptor(pipeEnds[0])
        } else {
            input = .nullDevice
        }
        func stream(_ slot: CInt, _ path: String) -> SpawnedStream {
            closedStandardDescriptors.contains(slot) ? .closed : .file(path, append: false)
        }

        var variables = ProcessInfo.processInfo.environment
        for (key, value) in environment { variables[key] = value }
        let childPID: pid_t
        do {
            // Signals blocked or ignored in the test runner must not carry over into the worker.
            childPID = try Spawn.Command(
                executable, arguments: [executable] + arguments, environment: variables.map { "\($0.key)=\($0.value)" },
                input: input, output: stream(1, outputPath), error: stream(2, errorPath),
                defaultSignals: [SIGPIPE, SIGTERM, SIGINT], newSession: newSession
            ).start()
        } catch {
            if pipeEnds[0] >= 0 { close(pipeEnds[0]) }
            if pipeEnds[1] >= 0 { close(pipeEnds[1]) }
            throw ChildProcessError.spawnFailed(executable, error.rawValue)
        }
        if pipeEnds[0] >= 0 { close(pipeEnds[0]) }
        pid = childPID
        standardInput = Mutex(pipeEnds[1])
        exitCode = Mutex(nil)
        Leftovers.register(childPID)
    }

    deinit {
        closeStandardInput()
        if exitStatusIfExited() == nil {
            kill(pid, SIGKILL)
            var status: CInt = 0
            _ = waitpid(pid, &status, 0)
            Leftovers.unregister(pid)
        }
    }

    /// Everything the process wrote to standard output so far.
    public var output: String { Self.contents(of: outputPath) }
    /// Everything the process wrote to standard error so far.
    public var errorOutput: String { Self.contents(of: errorPath) }
    /// Standard output, line by line.
    public var outputLines: [String] { output.split(separator: "\n").map(String.init) }

    /// Closes the pipe of standard input, which tells a `stdin=1` holder to release.
    public func closeStandardInput() {
        standardInput.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }

    /// Sends `signal`, unless the process has ended (and so its pid may be another's).
    public func send(_ signal: CInt) {
        if exitStatusIfExited() == nil { kill(pid, signal) }
    }

    /// Whether the process has ended (reaping it), without waiting.
    public func hasExited() -> Bool { exitStatusIfExited() != nil }

    /// The exit status as a shell shows it (128 + the signal number when a signal
    /// ended it), or nil while it runs; reaps it once it has ended.
    public func exitStatusIfExited() -> Int32? {
        exitCode.withLock { code in
            if let code { return code }
            var status: CInt = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            guard reaped == pid else { return nil }
            let value = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            code = value
            Leftovers.unregister(pid)
            return value
        }
    }

    /// Waits for the process to end; kills it and returns nil when `timeout` passes first.
    public func waitForExit(timeout: Duration = .seconds(60)) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline && !Task.isCancelled {
            if let code = exitStatusIfExited() { return code }
            try? await Task.sleep(for: .milliseconds(5))
        }
        send(SIGKILL)
        return nil
    }

    /// Waits until standard output has a line starting with `prefix`, and returns it;
    /// nil when `timeout` passes or the process ends without printing it.
    public func waitForLine(startingWith prefix: String, timeout: Duration = .seconds(30)) async -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // A test cancelled by its time limit stops waiting at once.
        while clock.now < deadline && !Task.isCancelled {
            let exited = exitStatusIfExited() != nil
            if let line = outputLines.first(where: { $0.hasPrefix(prefix) }) { return line }
            if exited { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Runs a process to its end, blocking the calling thread; for quick helpers only
    /// (the condition of an `.enabled(if:)`, a static fact of the machine).
    public static func runBlocking(
        _ executable: String, _ arguments: [String], outputIn directory: String
    ) throws -> (pid: pid_t, code: Int32, output: String) {
        let child = try ChildProcess(executable, arguments, outputIn: directory, name: "helper")
        let code = Spawn.waitForExit(child.pid)
        child.exitCode.withLock { $0 = code }
        Leftovers.unregister(child.pid)
        return (child.pid, code, child.output)
    }

    /// As ``runBlocking(_:_:outputIn:)``, its output in a folder of its own that is
    /// removed afterwards: for the facts of the machine that tests check once.
    public static func runBlocking(_ executable: String, _ arguments: [String]) throws -> (pid: pid_t, code: Int32, output: String) {
        var template = Array((FileManager.default.temporaryDirectory.path + "/rvflock-run.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw ChildProcessError.spawnFailed(executable, errno) }
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try runBlocking(executable, arguments, outputIn: directory)
    }

    private static func contents(of path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

public enum ChildProcessError: Error, CustomStringConvertible {
    case spawnFailed(String, CInt)

    public var description: String {
        switch self {
        case .spawnFailed(let executable, let code): "posix_spawn \(executable) failed: errno \(code)"
        }
    }
}
