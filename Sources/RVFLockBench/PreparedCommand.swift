#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockSpawn

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
    private let prepared: Spawn.Command

    init(label: String, executable: String, arguments: [String], standardError: String) {
        self.label = label
        self.executable = executable
        self.standardError = standardError
        prepared = Spawn.Command(
            executable, arguments: [executable] + arguments,
            input: .nullDevice, output: .nullDevice, error: .file(standardError, append: true))
    }

    func spawn() throws(BenchFailure) -> pid_t {
        do {
            return try prepared.start()
        } catch {
            throw BenchFailure("could not start \(label) (\(executable)): \(error)")
        }
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
