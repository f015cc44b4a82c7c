import Glibc
import SystemPackage

/// Where a lock file lives, fixed once per operation: the directory is held
/// open, and every later step (linking, judging, removing, watching) names the
/// lock file relative to that descriptor.
///
/// So a `chdir` while a lock is held, or a directory renamed meanwhile, cannot
/// make release, loss detection or breaking look at (and unlink) a lock file in
/// another directory. The data file's own symbolic links are followed first, so
/// that every path to one data file (`link.rvf -> data.rvf`) names one lock.
struct LockLocation: Sendable {
    /// The lock file's directory, open as an anchor for `*at` calls.
    let directory: LockDirectory
    /// The lock file's name in ``directory``, NUL-terminated.
    let name: [CChar]
    /// The lock file as people should read it: the caller's path, or the path the
    /// data file's symbolic links lead to.
    let lockFile: FilePath
    /// The lock's directory: its device is which mount of which file system the lock
    /// is on, as the boot tag of a writer id records it (see ``HostIdentity``).
    let directoryIdentity: FileIdentity
    var fileSystem: UInt64 { directoryIdentity.device }
    /// The unique id of the directory's mount, where the kernel gives one: the key
    /// under which its file system's kind is remembered (``FileSystemType/of(_:onMount:)``).
    let mountID: UInt64?
    /// Which lock this is, within this process, whatever path named it.
    var key: ProcessQueue.Key { ProcessQueue.Key(directory: directoryIdentity, name: name) }

    /// Follows the data file's symbolic links, refuses paths that cannot have a
    /// lock, and opens the lock file's directory.
    static func resolve(dataFile: FilePath, lockFile: FilePath) throws(LockError) -> LockLocation {
        guard !dataFile.isEmpty else {
            throw LockError(.invalidPath, lockFile: lockFile, message: "the data file path is empty; name the file to lock")
        }
        // (A trailing slash never gets here: FilePath drops it; WriterLock refuses it.)
        guard let dataFileName = dataFile.lastComponent, dataFileName.kind == .regular else {
            throw LockError(
                .invalidPath, lockFile: lockFile,
                message: "\(dataFile) names a directory; an RVF writer lock protects a data file, name the file")
        }
        // Most data files are no symbolic link: the directory is opened first and the
        // file looked at relative to it, one walk of the path instead of two.
        var target = dataFile
        var directory = try openDirectory(of: dataFile, lockFile: lockFile)
        var name: [CChar] = dataFileName.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)) }
        // An unreadable file is left for the steps after to report, as below.
        let dataFileKind = (try? Syscalls.lstatAt(directory.descriptor, name))?.st_mode ?? 0
        if dataFileKind & S_IFMT == S_IFLNK || dataFileKind & S_IFMT == S_IFDIR {
            target = try followLinks(of: dataFile, lockFile: lockFile)
            if target != dataFile {
                directory = try openDirectory(of: target, lockFile: FilePath(target.string + ".lock"))
                name = target.lastComponent!.withPlatformString { Array(UnsafeBufferPointer(start: $0, count: strlen($0) + 1)) }
            }
        }
        name.removeLast()
        name += ".lock".utf8CString
        let resolvedLockFile = target == dataFile ? lockFile : FilePath(target.string + ".lock")
        let descriptor = directory.descriptor
        let identity: FileIdentity
        let mount: UInt64?
        do throws(SystemCallError) { (identity, mount) = try Syscalls.identityAndMount(descriptor) } catch {
            throw .system(error, lockFile: resolvedLockFile, doing: "opening the directory of")
        }
        return LockLocation(
            directory: directory, name: name, lockFile: resolvedLockFile, directoryIdentity: identity, mountID: mount)
    }

    /// Opens the directory of `path` as the anchor of every later step.
    private static func openDirectory(of path: FilePath, lockFile: FilePath) throws(LockError) -> LockDirectory {
        // Cut at the last "/" of the text (FilePath has dropped trailing and repeated
        // slashes): FilePath's own removingLastComponent costs microseconds, on every acquisition.
        var directory: [CChar] = path.withPlatformString { path in
            var end = strlen(path)
            while end > 0 && path[end - 1] != CChar(UInt8(ascii: "/")) { end -= 1 }
            guard end > 0 else { return Array(".".utf8CString) }
            return Array(UnsafeBufferPointer(start: path, count: end == 1 ? 1 : end - 1))
        }
        if directory.last != 0 { directory.append(0) }
        do throws(SystemCallError) {
            return LockDirectory(
                try directory.withUnsafeBufferPointer { (directory) throws(SystemCallError) in
                    try Syscalls.openDirectoryAnchor(directory.baseAddress!)
                })
        } catch {
            throw .system(error, lockFile: lockFile, doing: "opening the directory of")
        }
    }

    /// The path the data file's symbolic links lead to (the data file itself when
    /// it is not a link, or does not exist yet). Directory components are left to
    /// the kernel: opening the directory follows them.
    private static func followLinks(of dataFile: FilePath, lockFile: FilePath) throws(LockError) -> FilePath {
        var path = dataFile
        for _ in 0..<40 {
            // An unreadable path is left for opening its directory to report.
            guard let info = try? Syscalls.lstat(path) else { return path }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                let target: FilePath
                do throws(SystemCallError) { target = try Syscalls.readLink(path) } catch {
                    throw .system(error, lockFile: lockFile, doing: "following the data file's link to")
                }
                path = target.isAbsolute ? target : path.removingLastComponent().pushing(target)
                guard let last = path.lastComponent, last.kind == .regular, !path.string.hasSuffix("/") else {
                    throw LockError(
                        .invalidPath, lockFile: lockFile,
                        message: "\(dataFile) is a symbolic link to \(target), which names a directory; "
                            + "an RVF writer lock protects a data file")
                }
            case S_IFDIR:
                throw LockError(
                    .invalidPath, lockFile: lockFile,
                    message: "\(path) is a directory; an RVF writer lock protects a data file, name the file")
            default:
                return path
            }
        }
        throw LockError(
            .invalidPath, lockFile: lockFile,
            message: "\(dataFile) is a chain of more than 40 symbolic links; point it at the data file")
    }

    /// Calls `body` with the lock file's name as a C string.
    func withName<R, E: Error>(_ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        try name.withUnsafeBufferPointer { (buffer) throws(E) in try body(buffer.baseAddress!) }
    }

    /// The lock file's name without the terminating NUL, as raw bytes.
    var nameBytes: ArraySlice<UInt8> {
        name.dropLast().withUnsafeBytes { ArraySlice($0.bindMemory(to: UInt8.self)) }
    }

    /// The lock file's status (without following a symbolic link), or nil if absent.
    func lstat() throws(SystemCallError) -> stat? {
        try withName { (name) throws(SystemCallError) in try Syscalls.lstatAt(directory.descriptor, name) }
    }
}

extension LockLocation {
    /// The start of every private name this lock uses beside it: `.` + the lock
    /// file's name + `.`, with long names cut and hashed so that every private name
    /// stays within NAME_MAX (255 bytes), as the lock file's own name does.
    var privatePrefix: [UInt8] {
        let bytes = Array(nameBytes)
        guard bytes.count > 200 else { return [UInt8(ascii: ".")] + bytes + [UInt8(ascii: ".")] }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return [UInt8(ascii: ".")] + bytes.prefix(180) + Array("~\(String(hash, radix: 16)).".utf8)
    }

    /// A new private name beside the lock file, NUL-terminated:
    /// `.data.rvf.lock.PID.RANDOM.PURPOSE`, at most 245 bytes.
    func temporaryName(purpose: String) -> [CChar] {
        let suffix = "\(Syscalls.processID).\(String(Syscalls.randomUInt64(), radix: 16)).\(purpose)"
        return (privatePrefix + Array(suffix.utf8) + [0]).map { CChar(bitPattern: $0) }
    }

    /// Whether `name` (in the lock's directory) is one of this lock's private names.
    func isPrivateName(_ name: String) -> Bool {
        Array(name.utf8).starts(with: privatePrefix)
    }

    /// The purpose of the name under which a breaker leaves another writer's lock
    /// file that it moved aside by mistake and could not put back (see
    /// ``OpenLockFile/remove(judged:)``): kept for the operator, never cleaned up.
    static let displacedPurpose = "displaced"
}

extension LockLocation {
    /// Runs file system work on this lock, naming the lock file and `action` in any failure.
    func performing<T>(_ action: String, _ body: () throws(SystemCallError) -> T) throws(LockError) -> T {
        do throws(SystemCallError) {
            return try body()
        } catch {
            throw .system(error, lockFile: lockFile, doing: action)
        }
    }
}

/// An open directory descriptor (3 or above), closed when the last user lets go.
final class LockDirectory: Sendable {
    let descriptor: FileDescriptor

    init(_ descriptor: FileDescriptor) { self.descriptor = descriptor }

    deinit { Syscalls.close(descriptor) }
}
