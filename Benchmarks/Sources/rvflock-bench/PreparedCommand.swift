#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A command line made ready to spawn again and again: its argument and
/// environment strings are built once, so that timing a run from `spawn()` to
/// the end of `wait(for:)` counts the process, not the preparation.
///
/// Standard input and output are `/dev/null`; standard error goes to a file,
/// appended, so that a failing run can be reported with what it said.
final class PreparedCommand {
    let label: String
    let standardError: String
    private let executable: String
    private let argv: [UnsafeMutablePointer<CChar>?]
    private let environment: [UnsafeMutablePointer<CChar>?]

    init(label: String, executable: String, arguments: [String], standardError: String) {
        self.label = label
        self.executable = executable
        self.standardError = standardError
        argv = ([executable] + arguments).map { strdup($0) } + [nil]
        environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    }

    deinit {
        for pointer in argv { free(pointer) }
        for pointer in environment { free(pointer) }
    }

    func spawn() throws(BenchFailure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, environment)
        guard result == 0 else { throw BenchFailure("could not start \(label) (\(executable)): errno \(result)") }
        return child
    }

    /// Waits for `pid` (one of this command's runs) and fails unless it exited 0.
    func wait(for pid: pid_t) throws(BenchFailure) {
        var status: CInt = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw BenchFailure("waitpid for \(label) failed: errno \(errno)") }
        }
        try check(status: status)
    }

    /// Fails with what the command printed on standard error unless `status` (a wait status) is a clean exit.
    func check(status: CInt) throws(BenchFailure) {
        guard status != 0 else { return }
        let said = (try? String(contentsOfFile: standardError, encoding: .utf8)) ?? ""
        throw BenchFailure("\(label) failed with wait status \(status): \(said.suffix(2000))")
    }
}

/// The first executable called `name` on PATH.
func executableOnPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
}
