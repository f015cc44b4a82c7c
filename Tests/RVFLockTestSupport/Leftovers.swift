import Foundation
import Synchronization
#if canImport(Glibc)
public import Glibc
#endif

/// What must not outlive the test process: the processes it started (etcd
/// members shared by a suite live as long as the process, and no deinit ends
/// them) and the folders they use. Ended and removed when the process exits.
public enum Leftovers {
    private static let state = Mutex<(pids: [pid_t], paths: [String], installed: Bool)>(([], [], false))

    public static func register(_ pid: pid_t) {
        installIfNeeded()
        state.withLock { $0.pids.append(pid) }
    }

    public static func unregister(_ pid: pid_t) {
        state.withLock { $0.pids.removeAll { $0 == pid } }
    }

    /// Removes `path` (a folder) when the process exits.
    public static func removeAtExit(_ path: String) {
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
