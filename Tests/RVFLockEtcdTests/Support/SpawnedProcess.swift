#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A process started with `posix_spawn`, its output in files the test reads
/// while it runs; killed and reaped when the object goes away, so that a
/// failed test leaves no etcd member or writer behind.
final class SpawnedProcess: Sendable {
    let pid: pid_t
    let arguments: [String]
    let outputPath: String
    let errorPath: String
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `arguments[0]` (a path) with `environment` added to this process's,
    /// in a session of its own when `newSession` (so that its group can be
    /// signalled as a whole), output into `directory`/`name`.out and .err.
    init(
        _ arguments: [String], environment: [String: String] = [:], newSession: Bool = false,
        outputIn directory: String, name: String
    ) throws {
        self.arguments = arguments
        outputPath = "\(directory)/\(name).out"
        errorPath = "\(directory)/\(name).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26), which Swift's Glibc module does not import.
        if newSession { posix_spawnattr_setflags(&attributes, 0x80) }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnFailure(what: arguments[0], errno: result) }
        self.pid = pid
        Leftovers.register(pid)
    }

    /// Runs `arguments` to completion (at most `timeout`); its status and output.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], in directory: String,
        timeout: Duration = .seconds(60)
    ) async throws -> Completed {
        let name = "run.\(UInt32.random(in: 0...UInt32.max))"
        let process = try SpawnedProcess(arguments, environment: environment, outputIn: directory, name: name)
        let status = await process.wait(timeout: timeout)
        return Completed(status: status, output: process.output, error: process.errorOutput, arguments: arguments)
    }

    /// Whether it has ended (reaping it), without waiting.
    func hasExited() -> Bool {
        exitStatus.withLock { status in
            if status != nil { return true }
            var raw: CInt = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return false }
            let signal = raw & 0x7F
            status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
            Leftovers.unregister(pid)
            return true
        }
    }

    /// Its exit status as a shell shows it (128 + signal), once it ended.
    var status: Int32? { _ = hasExited(); return exitStatus.withLock { $0 } }

    /// Waits for it to end; nil if it is still running after `timeout`.
    func wait(timeout: Duration = .seconds(60)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if hasExited() { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return hasExited() ? status : nil
    }

    func send(_ signal: CInt) { kill(pid, signal) }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    var errorOutput: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    deinit {
        if !hasExited() {
            kill(pid, SIGKILL)
            var raw: CInt = 0
            waitpid(pid, &raw, 0)
        }
    }
}

/// How a process run to completion ended.
struct Completed: CustomStringConvertible {
    /// Nil: still running at the timeout (it was killed).
    let status: Int32?
    let output: String
    let error: String
    let arguments: [String]

    var description: String {
        "\(arguments.joined(separator: " ")) -> \(status.map(String.init) ?? "timeout"); stdout: \(output); stderr: \(error)"
    }
}

struct SpawnFailure: Error, CustomStringConvertible {
    let what: String
    let errno: CInt
    var description: String { "cannot start \(what): \(String(cString: strerror(errno)))" }
}

/// A fresh directory, removed with its contents when the value goes away.
final class Sandbox: Sendable {
    let path: String

    init(under parent: String = "/tmp") {
        var template = Array("\(parent)/rvf-etcd-test-XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: created!)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Executables of the package and of the system.
enum Tools {
    /// The folder with the test bundle and the package's executables.
    static let binDirectory: String = {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }()

    static var rvfLock: String { binDirectory + "/rvf-lock" }
    static var rvfLockEtcd: String { binDirectory + "/rvf-lock-etcd" }

    /// The first executable called `name` on PATH (or in /usr/sbin, /sbin, /usr/bin).
    static func path(of name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin"] {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// Waits until `condition` holds, checking every 20 ms; false after `timeout`.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Values appended from any task or thread, read afterwards.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}

/// What must not outlive the test process: the processes it started (the shared
/// cluster's members live as long as the process, and no deinit ends them) and
/// the folders they use. Ended and removed when the process exits.
enum Leftovers {
    private static let state = Mutex<(pids: [pid_t], paths: [String], installed: Bool)>(([], [], false))

    static func register(_ pid: pid_t) {
        installIfNeeded()
        state.withLock { $0.pids.append(pid) }
    }

    static func unregister(_ pid: pid_t) {
        state.withLock { $0.pids.removeAll { $0 == pid } }
    }

    /// Removes `path` (a folder) when the process exits.
    static func removeAtExit(_ path: String) {
        installIfNeeded()
        state.withLock { $0.paths.append(path) }
    }

    private static func installIfNeeded() {
        let install = state.withLock { state -> Bool in
            defer { state.installed = true }
            return !state.installed
        }
        if install { atexit { Leftovers.cleanUp() } }
    }

    private static func cleanUp() {
        let (pids, paths, _) = state.withLock { $0 }
        for pid in pids { kill(pid, SIGKILL) }
        for pid in pids {
            var status: CInt = 0
            waitpid(pid, &status, 0)
        }
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }
}
