#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Synchronization

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
    /// The folder holding the `rvf-lock` and `rvf-lock-etcd` under test: the test
    /// bundle's, or the one `RVFLOCK_TOOL_DIRECTORY` names, so that the same tests
    /// check the two programs built as users install them
    /// (`RVFLOCK_TOOL_DIRECTORY=/usr/local/bin swift test --filter RVFLockEtcdTests`).
    static let binDirectory: String = {
        if let chosen = chosenToolDirectory(holding: ["rvf-lock", "rvf-lock-etcd"]) { return chosen }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
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

/// Values appended from any task or thread, read afterwards.
final class Recorder<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}
