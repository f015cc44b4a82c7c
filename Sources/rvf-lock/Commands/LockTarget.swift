import Glibc
import RVFLock
import RVFLockCommandLine
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

    /// - Parameters:
    ///   - command: the subcommand, for the hint about a lock file given as FILE.
    ///   - allowsLockSuffix: FILE may end in `.lock` (`--allow-lock-suffix`).
    init(
        _ argument: String, command: String, allowsLockSuffix: Bool = false,
        lockPathRule: LockPathRule = .mustBeRegularOrAbsent
    ) throws(CommandFailure) {
        guard !argument.isEmpty else {
            throw CommandFailure(ExitStatus.usage, "FILE is empty; name the data file, e.g. data.rvf")
        }
        let dataFile = FilePath(argument)
        var options = LockOptions()
        options.allowsLockSuffix = allowsLockSuffix
        let lock = WriterLock(dataFile: dataFile, options: options)
        let lockFile = lock.lockFile
        if !allowsLockSuffix { try Self.refuseLockFile(dataFile, command: command) }

        if Self.kind(of: dataFile, followingLinks: true) == .directory || argument.hasSuffix("/") {
            throw CommandFailure(
                ExitStatus.noInput,
                "\(dataFile) is a directory; FILE is the data file (e.g. \(dataFile.appending("data.rvf"))), "
                    + "whose lock is FILE.lock beside it")
        }
        let directory = Self.directory(of: dataFile)
        switch Self.kind(of: directory, followingLinks: true) {
        case .directory:
            break
        case .missing:
            throw CommandFailure(
                ExitStatus.noInput,
                "the directory \(directory) of \(dataFile) does not exist; create it first, or fix the path")
        case .inaccessible(let error):
            throw CommandFailure(
                error == .permissionDenied ? ExitStatus.noPermission : ExitStatus.noInput,
                "cannot reach the directory \(directory) of \(dataFile): \(error); \(Self.remedy(for: error))")
        case .other(let kind):
            throw CommandFailure(
                ExitStatus.noInput,
                "\(directory) is a \(kind), not a directory; \(dataFile) cannot be there")
        case .regularFile:
            throw CommandFailure(
                ExitStatus.noInput,
                "\(directory) is a file, not a directory; \(dataFile) cannot be there")
        }
        let lockPathKind = Self.kind(of: lockFile, followingLinks: false)
        if case .inaccessible(.fileNameTooLong) = lockPathKind {
            // One status for every command: nothing can be locked, or examined, under that name.
            throw CommandFailure(
                ExitStatus.cannotCreate,
                "the name of the lock file \(lockFile) is too long for the file system "
                    + "(the lock file's name adds 5 characters to FILE's); use a shorter FILE")
        }
        if lockPathRule == .mustBeRegularOrAbsent {
            switch lockPathKind {
            case .missing, .regularFile:
                break
            case .directory:
                throw CommandFailure(
                    ExitStatus.noInput,
                    "the lock path \(lockFile) is a directory, not a lock file; "
                        + "rvf-lock never removes it: move it away if no program uses it")
            case .other(let kind):
                throw CommandFailure(
                    ExitStatus.noInput,
                    "the lock path \(lockFile) is a \(kind), not a lock file; rvf-lock never opens "
                        + "lock files through symbolic links or removes them: delete it by hand if no program uses it")
            case .inaccessible(let error):
                throw CommandFailure(
                    error == .permissionDenied ? ExitStatus.noPermission : ExitStatus.noInput,
                    "cannot examine the lock path \(lockFile): \(error); \(Self.remedy(for: error))")
            }
        }
        self.dataFile = dataFile
        self.lock = lock
    }

    /// Refuses a FILE named like a lock file (`data.rvf.lock`), or a symbolic link
    /// that leads to one: its lock would be `data.rvf.lock.lock`, which excludes
    /// nobody. The library refuses it too; checking here gives the usage status
    /// and the command line to use instead.
    private static func refuseLockFile(_ dataFile: FilePath, command: String) throws(CommandFailure) {
        let reached = linkTarget(of: dataFile)
        let candidates: [(path: FilePath?, link: FilePath?)] = [(dataFile, nil), (reached, dataFile)]
        for (path, link) in candidates {
            guard let path, let name = path.lastComponent?.string, name.hasSuffix(".lock") else { continue }
            let owner = String(path.string.dropLast(".lock".count))
            let which = link.map { "\($0) leads to \(path), which" } ?? "\(path)"
            let example = "rvf-lock \(command) \(owner)" + (command == "exec" ? " COMMAND" : "")
            let instead = name == ".lock" ? "" : "; the data file is \(owner), so name that: \(example)"
            throw CommandFailure(
                ExitStatus.usage,
                "\(which) is a lock file, not a data file\(instead) "
                    + "(if \(path) really is a data file, add --allow-lock-suffix)")
        }
    }

    /// Where a chain of symbolic links at `path` ends (as the library follows it),
    /// or nil when `path` is not a symbolic link.
    private static func linkTarget(of path: FilePath) -> FilePath? {
        var current = path
        var followed = false
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = current.withPlatformString { readlink($0, &buffer, buffer.count - 1) }
            guard count > 0 else { break }
            let target = FilePath(String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            current = target.isAbsolute ? target : current.removingLastComponent().pushing(target)
            followed = true
        }
        return followed ? current : nil
    }

    /// The directory a path's last component is in (`.` for a bare name).
    ///
    /// Cut at the last "/" of the text (FilePath has dropped trailing and repeated
    /// slashes), as the library does: FilePath's `removingLastComponent()` makes the
    /// Swift runtime search every protocol conformance in the program once, which
    /// `exec -n` would pay at every start.
    static func directory(of path: FilePath) -> FilePath {
        path.withPlatformString { text in
            guard let slash = strrchr(text, CInt(UInt8(ascii: "/"))) else { return FilePath(".") }
            let length = slash == text ? 1 : text.distance(to: slash)
            var directory = Array(UnsafeBufferPointer(start: text, count: length))
            directory.append(0)
            return directory.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
        }
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
        default: return .other(FileIdentity.kind(of: info) ?? "special file")
        }
    }
}

extension CommandFailure {
    /// The exit status and message for a library error, by its code and errno; the
    /// message gives the tool's advice (``LockAdvice``).
    ///
    /// - Parameters:
    ///   - conflictStatus: the status for "the lock cannot be had" (busy, timed out).
    ///   - message: the message to give instead of the library's account with the tool's advice.
    init(_ error: LockError, conflictStatus: Int32 = ExitStatus.temporaryFailure, message: String? = nil) {
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
            status = Self.status(forSystemCall: error.systemCall, errno: error.errno, lockFile: error.lockFile)
        default:
            // Lost, taken over, cancelled: the guarantee did not hold, which is a failure, not a retry.
            status = ExitStatus.software
        }
        self.init(status, message ?? LockAdvice.message(for: error))
    }

    private static func status(forSystemCall call: String?, errno: Errno?, lockFile: FilePath) -> Int32 {
        guard let errno else { return ExitStatus.software }
        let isLink = call == "linkat" || call == "link"
        switch errno {
        case .notPermitted where isLink, .notSupported, .noFunction, .noLocks:
            // linkat's EPERM means the file system has no hard links; the protocol needs them.
            return ExitStatus.unavailable
        case .permissionDenied, .notPermitted:
            return ExitStatus.noPermission
        case .noSuchFileOrDirectory where LockTarget.kind(of: LockTarget.directory(of: lockFile), followingLinks: true) == .directory:
            // The directory is there, yet a file cannot be made in it (/proc, /sys).
            return ExitStatus.cannotCreate
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
