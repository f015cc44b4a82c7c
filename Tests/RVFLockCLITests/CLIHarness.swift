#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Subprocess
import SystemPackage
import RVFLockTestSupport
import Testing

/// Every suite that starts processes, one test at a time: they share two cores
/// and several wait on timing (a held lock, a timeout), so running them side by
/// side would only make them slower and noisier.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct CLITests {}

/// The `rvf-lock` under test: the one built beside the test bundle, or the one in
/// the folder `RVFLOCK_TOOL_DIRECTORY` names, so that the same tests check a
/// binary built as README.md's "Install rvf-lock" says
/// (`RVFLOCK_TOOL_DIRECTORY=/usr/local/bin swift test --filter RVFLockCLITests`).
enum Tool {
    /// The folder holding the `rvf-lock` under test (by default the test bundle's,
    /// which also holds the package's other executables).
    static let binDirectory: String = {
        if let chosen = chosenToolDirectory(holding: ["rvf-lock"]) { return chosen }
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        if FileManager.default.isExecutableFile(atPath: bundleDirectory + "/rvf-lock") { return bundleDirectory }
        // Some runners start the tests from elsewhere: ask SwiftPM where it builds.
        let output = (try? ChildProcess.runBlocking("/usr/bin/env", ["swift", "build", "--show-bin-path"]))?.output ?? ""
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    static var rvfLock: String { binDirectory + "/rvf-lock" }
}

/// Runs the shell `script` in a mount namespace of its own (root, `unshare -m`), with
/// `$1` a new empty folder `readonly` in `directory`, to mount a file system on, and
/// `$2` the rvf-lock under test; returns the folder and how the script ended.
func inPrivateMountNamespace(
    in directory: String, _ script: String
) async throws -> (mountPoint: String, result: CompletedProcess) {
    let mountPoint = "\(directory)/readonly"
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
    let result = try await CompletedProcess.run("/usr/bin/unshare", ["-m", "sh", "-c", script, "sh", mountPoint, Tool.rvfLock])
    return (mountPoint, result)
}

/// Runs `rvf-lock ARGUMENTS` to completion, with `environment` added to this process's (`LD_PRELOAD`).
func rvfLock(
    _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil
) async throws -> CompletedProcess {
    try await CompletedProcess.run(Tool.rvfLock, arguments, environment: environment, workingDirectory: workingDirectory)
}

/// The tool started in the background with the one process runner of the test
/// targets (``ChildProcess``): to signal it, or to find its descendants.
extension ChildProcess {
    /// Starts `rvf-lock ARGUMENTS`, stdout and stderr into `directory` (as ``ChildProcess`` names them);
    /// with `newSession`, in a session and process group of its own, away from any terminal.
    static func rvfLock(_ arguments: [String], outputIn directory: String, name: String, newSession: Bool = false) throws -> ChildProcess {
        try ChildProcess(Tool.rvfLock, arguments, newSession: newSession, outputIn: directory, name: name)
    }

    /// For `rvf-lock exec`, once its command runs: the keeper, rvf-lock's only child,
    /// which the lock record names.
    func keeperPID() throws -> pid_t {
        let children = childPIDs(of: pid)
        return try #require(children.count == 1 ? children.first : nil, "rvf-lock \(pid) has children \(children), not one keeper")
    }
}

/// Runs `body` with a fresh directory under /tmp, removed afterwards.
func withSandbox<R>(_ body: (String) async throws -> R) async throws -> R {
    var template = Array("/tmp/rvf-lock-cli-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let path = String(cString: try #require(created))
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Waits until `path` holds a complete line (a pid written by `echo $$ > path`), and returns it.
func waitForLine(in path: String, timeout: Duration = .seconds(20)) async throws -> String {
    guard let line = await eventuallyLine(in: path, timeout: timeout) else { throw WaitTimedOut(what: "a line in \(path)") }
    return line.trimmingCharacters(in: .whitespacesAndNewlines)
}

struct WaitTimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Whether `pid` is gone: no such process, or a zombie nobody has reaped yet
/// (orphans go to an init that may reap late).
func processIsGone(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
    // The state follows the parenthesised command name, which may itself contain ") ".
    guard let end = stat.range(of: ") ", options: .backwards) else { return false }
    return stat[end.upperBound...].hasPrefix("Z")
}

/// The children of `pid`'s main thread, from /proc; none once it is gone.
func childPIDs(of pid: pid_t) -> [pid_t] {
    ((try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? "")
        .split(separator: " ").compactMap { pid_t($0) }
}

/// The parent of `pid`, from /proc/PID/stat; nil once it is gone.
func parentPID(of pid: pid_t) -> pid_t? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.range(of: ") ", options: .backwards)
    else { return nil }
    let fields = stat[end.upperBound...].split(separator: " ")
    return fields.count > 1 ? pid_t(fields[1]) : nil
}

/// Waits until `pid` is gone; false if it is still there after `timeout`.
func waitUntilGone(_ pid: pid_t, timeout: Duration = .seconds(5)) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if processIsGone(pid) { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return processIsGone(pid)
}

/// Everything about a directory tree that a command could change: names, kinds,
/// sizes, contents' modification times, link targets.
func listing(of directory: String) -> [String] {
    let manager = FileManager.default
    var entries: [String] = []
    guard let enumerator = manager.enumerator(atPath: directory) else { return ["<unreadable>"] }
    for case let name as String in enumerator {
        let path = directory + "/" + name
        var info = stat()
        guard lstat(path, &info) == 0 else { entries.append("\(name) <gone>"); continue }
        let target = (try? manager.destinationOfSymbolicLink(atPath: path)).map { " -> \($0)" } ?? ""
        entries.append(
            "\(name) mode=\(String(info.st_mode, radix: 8)) size=\(info.st_size) "
                + "mtime=\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)\(target)")
    }
    return entries.sorted()
}

/// This machine's hostname, as the library writes it.
var thisHostname: String {
    var buffer = [CChar](repeating: 0, count: 256)
    gethostname(&buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The pid of a process that has just exited (and been reaped), for records of dead holders.
func pidOfExitedProcess(in sandbox: String) async throws -> pid_t {
    let process = try ChildProcess("/bin/true", [], outputIn: sandbox, name: "true")
    _ = await process.waitForExit()
    return process.pid
}

/// The device and inode of `path`, following symbolic links (and /proc/PID/fd links).
func fileIdentity(_ path: String) -> (dev_t, ino_t)? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return (info.st_dev, info.st_ino)
}

/// Descriptors of `pid` that refer to the same file as `path`.
func descriptors(of pid: pid_t, referringTo path: String) throws -> [String] {
    guard let target = fileIdentity(path) else { return [] }
    let directory = "/proc/\(pid)/fd"
    return try FileManager.default.contentsOfDirectory(atPath: directory).filter { name in
        guard let identity = fileIdentity(directory + "/" + name) else { return false }
        return identity == target
    }
}

/// Parses `status --json` output: one object per line.
func jsonObjects(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        return try #require(object as? [String: Any], "not a JSON object: \(line)")
    }
}

/// The fields every `status --json` object has, in order.
let statusJSONFields = [
    "file", "lock", "state", "pid", "hostname", "timestamp_ns", "age_seconds",
    "writer_id", "same_host", "pid_alive", "reason",
]
