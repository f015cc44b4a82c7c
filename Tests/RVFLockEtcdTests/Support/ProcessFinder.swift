#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Processes found by their command line, for the helper that holds a lease
/// (it runs detached from the rvf-lock that started it).
enum ProcessFinder {
    /// Pids whose command line contains every one of `parts` as an argument.
    static func pids(withArguments parts: [String]) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry),
                let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return parts.allSatisfy(arguments.contains) ? pid : nil
        }
    }

    /// The `rvf-lock-etcd hold` that holds `file`'s lease.
    static func leaseHelper(of file: String) -> pid_t? {
        pids(withArguments: ["hold", file]).first { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("rvf-lock-etcd") == true
        }
    }
}
