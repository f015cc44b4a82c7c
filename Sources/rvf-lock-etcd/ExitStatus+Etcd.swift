import RVFLock
import RVFLockCommandLine
import RVFLockEtcd

extension ExitStatus {
    /// The exit status for a failure to take or inspect a lease: a path that is
    /// no data file's and a cluster named wrongly are the caller's to fix, an
    /// unreachable cluster is unavailable, a held lease a temporary failure.
    static func of(_ error: any Error) -> Int32 {
        if let error = error as? LockError {
            switch error.code {
            case .busy, .timedOut: return temporaryFailure
            case .invalidPath: return usage
            case .notARegularFile: return noInput
            case .unsupportedFileSystem: return unavailable
            default: return software
            }
        }
        if let error = error as? EtcdLockError {
            return error.code == .invalidConfiguration ? usage : unavailable
        }
        return software
    }
}
