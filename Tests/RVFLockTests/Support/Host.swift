#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport

/// Facts about this machine that lock records are judged by.
enum Host {
    /// This machine's name, from `gethostname()` as the library reads it.
    static let name: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        precondition(gethostname(&buffer, buffer.count) == 0)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// The kernel's PID limit: no process has this PID or a larger one.
    static let pidMax: UInt32 = {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8),
            let value = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return UInt32(Int32.max) }
        return value
    }()

    static let isRoot = geteuid() == 0

    /// The PID of a process that has just exited and been reaped: dead, and not
    /// reused until the kernel wraps around its PID space.
    static func deadPID(scratch directory: TemporaryDirectory) throws -> UInt32 {
        let result = try ChildProcess.runBlocking("/bin/true", [], outputIn: directory.path)
        return UInt32(result.pid)
    }
}
