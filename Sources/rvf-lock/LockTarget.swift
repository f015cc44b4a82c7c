#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RVFLock
import SystemPackage

/// The data file named on the command line, checked before any lock file is touched.
///
/// The library refuses the same bad paths, but checking first lets every
/// command name the path and the remedy in one line, and guarantees that a bad
/// path never gets as far as creating anything.
struct LockTarget {
    /// The data file as given (`data.rvf`).
    let dataFile: FilePath
    /// Its writer lock.
    let lock: WriterLock

    /// Which checks apply: `status` reports an odd lock path as an invalid lock
    /// instead of refusing it.
    enum LockPathRule {
        case mustBeRegularOrAbsent
        case reportAsInvalid
    }

    init(_ argument: String, lockPathRule: LockPathRule = .mustBeRegularOrAbsent) throws(CommandFailure) {
        guard !argument.isEmpty else {
            throw CommandFailure(ExitStatus.usage, "FILE is empty; name the data file, e.g. data.rvf")
        }
        let dataFile = FilePath(argument)
        let lock = WriterLock(dataFile: dataFile)
        let lockFile = lock.lockFile

        if Self.kind(of: dataFile, followingLinks: true) == .directory || argument.hasSuffix("/") {
            throw CommandFailure(ExitStatus.noInput,
                                 "\(dataFile) is a directory; FILE is the data file (e.g. \(dataFile.appending("data.rvf"))), "
                                     + "whose lock is FILE.lock beside it")
        }
        let directory = dataFile.removingLastComponent().isEmpty ? FilePath(".") : dataFile.removingLastComponent()
        switch Self.kind(of: directory, followingLinks: true) {
        case .directory:
            break
        case .missing:
            throw CommandFailure(ExitStatus.noInput,
                                 "the directory \(directory) of \(dataFile) does not exist; create it first, or fix the path")
        case .inaccessible(let error):
            throw CommandFailure(error == .permissionDenied ? ExitStatus.noPermission : ExitStatus.noInput,
                                 "cannot reach the directory \(directory) of \(dataFile): \(error); \(Self.remedy(for: error))")
        case .other(let kind):
            throw CommandFailure(ExitStatus.noInput,
                                 "\(directory) is a \(kind), not a directory; \(dataFile) cannot be there")
        case .regularFile:
            throw CommandFailure(ExitStatus.noInput,
                                 "\(directory) is a file, not a directory; \(dataFile) cannot be there")
        }
        if lockPathRule == .mustBeRegularOrAbsent {
            switch Self.kind(of: lockFile, followingLinks: false) {
            case .missing, .regularFile:
                break
            case .directory:
                throw CommandFailure(ExitStatus.noInput,
                                     "the lock path \(lockFile) is a directory, not a lock file; "
                                         + "rvf-lock never removes it: move it away if no program uses it")
            case .other(let kind):
                throw CommandFailure(ExitStatus.noInput,
                                     "the lock path \(lockFile) is a \(kind), not a lock file; rvf-lock never opens "
                                         + "lock files through symbolic links or removes them: delete it by hand if no program uses it")
            case .inaccessible(let error):
                throw CommandFailure(error == .permissionDenied ? ExitStatus.noPermission : ExitStatus.noInput,
                                     "cannot examine the lock path \(lockFile): \(error); \(Self.remedy(for: error))")
            }
        }
        self.dataFile = dataFile
        self.lock = lock
    }

    /// What to do about a path that cannot be examined, by why.
    private static func remedy(for error: Errno) -> String {
        switch error {
        case .permissionDenied: "check the permissions of the directories on the way"
        case .fileNameTooLong: "the name is too long for the file system (the lock file's adds 5 characters); use a shorter FILE"
        case .tooManySymbolicLinkLevels: "a symbolic link on the way loops; fix the path"
        default: "check the path"
        }
    }

    enum Kind: Equatable {
        case missing
        case regularFile
        case directory
        case other(String)
        case inaccessible(Errno)
    }

    static func kind(of path: FilePath, followingLinks: Bool) -> Kind {
        var info = stat()
        let result = path.withPlatformString { followingLinks ? stat($0, &info) : lstat($0, &info) }
        guard result == 0 else {
            let error = Errno(rawValue: errno)
            return error == .noSuchFileOrDirectory ? .missing : .inaccessible(error)
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .directory
        case S_IFLNK: return .other("symbolic link")
        case S_IFIFO: return .other("named pipe")
        case S_IFSOCK: return .other("socket")
        case S_IFCHR, S_IFBLK: return .other("device")
        default: return .other("special file")
        }
    }
}

extension CommandFailure {
    /// The exit status and message for a library error, by its code and errno; the
    /// message gives the tool's advice (``LockAdvice``).
    ///
    /// - Parameter conflictStatus: the status for "the lock cannot be had" (busy, timed out).
    init(_ error: LockError, conflictStatus: Int32 = ExitStatus.temporaryFailure) {
        let status: Int32
        switch error.code {
        case .busy, .timedOut:
            status = conflictStatus
        case .notStale:
            status = ExitStatus.lockHeld
        case .notARegularFile, .invalidPath:
            status = ExitStatus.noInput
        case .unsupportedFileSystem:
            status = ExitStatus.unavailable
        case .systemCallFailed:
            status = Self.status(forSystemCall: error.systemCall, errno: error.errno)
        default:
            // Lost, taken over, cancelled: the guarantee did not hold, which is a failure, not a retry.
            status = ExitStatus.software
        }
        self.init(status, LockAdvice.message(for: error))
    }

    private static func status(forSystemCall call: String?, errno: Errno?) -> Int32 {
        guard let errno else { return ExitStatus.software }
        let isLink = call == "linkat" || call == "link"
        switch errno {
        case .notPermitted where isLink, .notSupported, .noFunction, .noLocks:
            // linkat's EPERM means the file system has no hard links; the protocol needs them.
            return ExitStatus.unavailable
        case .permissionDenied, .notPermitted:
            return ExitStatus.noPermission
        case .noSuchFileOrDirectory, .notDirectory:
            return ExitStatus.noInput
        case .readOnlyFileSystem, .noSpace, .diskQuotaExceeded, .fileNameTooLong, .fileExists, .tooManyLinks:
            return ExitStatus.cannotCreate
        case .resourceTemporarilyUnavailable, .interrupted:
            return ExitStatus.temporaryFailure
        default:
            return ExitStatus.software
        }
    }
}
