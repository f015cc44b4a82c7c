#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockSpawn
import SystemPackage

/// Starts child processes with `posix_spawn`, standard output and error going to a file.
enum ProcessSpawner {
    /// The running executable, so that workers and readers are this same program.
    static let currentExecutable: String = {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        precondition(count > 0, "cannot read /proc/self/exe")
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    struct SpawnError: Error, CustomStringConvertible {
        let arguments: [String]
        let code: CInt
        var description: String { "cannot start \(arguments.joined(separator: " ")): \(String(cString: strerror(code)))" }
    }

    /// Which standard descriptors a child starts without.
    struct ClosedStreams: Sendable {
        var input = false
        var output = false
        static let none = ClosedStreams()
    }

    /// Starts `arguments[0]` (an absolute path) and returns its pid. Standard error (and
    /// standard output unless `closed` says so) goes to `output`; `environment` changes
    /// this process's environment for the child (nil removes a variable).
    static func spawn(
        _ arguments: [String], output: String, closed: ClosedStreams = .none, environment changes: [String: String?] = [:]
    ) throws(SpawnError) -> pid_t {
        var variables = ProcessInfo.processInfo.environment
        for (name, value) in changes { variables[name] = value }
        do throws(Errno) {
            // Standard output and error append to one file: two opens with O_APPEND
            // interleave whole writes as one shared open would.
            return try Spawn.Command(
                arguments[0], arguments: arguments, environment: variables.map { "\($0.key)=\($0.value)" },
                input: closed.input ? .closed : .nullDevice,
                output: closed.output ? .closed : .file(output, append: true),
                error: .file(output, append: true)
            ).start()
        } catch {
            throw SpawnError(arguments: arguments, code: error.rawValue)
        }
    }

    /// The first child of `pid`, from `/proc/PID/task/PID/children`: the real worker
    /// behind an `unshare --fork` wrapper, which is the process to stop or kill.
    static func firstChild(of pid: pid_t) -> pid_t? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The parent of `pid`, from `/proc/PID/stat`; nil once it is gone.
    static func parent(of pid: pid_t) -> pid_t? {
        ProcessStat.read(pid)?.parent
    }

    /// Waits (at most a second) until `/proc` shows `pid` stopped by a signal.
    static func waitUntilStopped(_ pid: pid_t) {
        let end = Syscalls.monotonicNanoseconds() + 1_000_000_000
        while Syscalls.monotonicNanoseconds() < end {
            guard let state = ProcessStat.read(pid)?.state else { return }
            if state == UInt8(ascii: "T") || state == UInt8(ascii: "t") { return }
            Syscalls.sleep(nanoseconds: 200_000)
        }
    }
}
