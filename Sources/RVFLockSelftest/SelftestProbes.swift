import Glibc
import CRVFLockShims
import RVFLockSpawn
package import RVFLock
package import SystemPackage

// What `rvf-lock selftest` and its helper processes ask of the system themselves,
// in one file. The lock itself is always taken through the library; these are the
// probes that ask the file system, bare, for what the library relies on, made with
// the library's own system calls (`Syscalls`), so that a probe fails where the
// library would, and says so in the same classes of errno (`Errno+Meaning`).

/// A system call that failed: which, and its errno.
package struct ProbeFailure: Error, CustomStringConvertible {
    package let call: String
    package let errno: CInt

    package init(_ call: String, _ errno: CInt = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    package init(_ failure: SystemCallError) {
        self.init(failure.name, failure.errno.rawValue)
    }

    package var errnoName: String { SelftestSystem.errnoName(errno) }
    package var description: String { "\(call): \(errnoName)" }
}

/// A signal (SIGINT, SIGTERM, SIGHUP) that asked selftest to stop, cleaning up first.
package struct Interrupted: Error {
    package let signal: CInt
}

/// The write end of the interruption pipe, for the signal handler.
///
/// A signal handler can capture nothing, so it reads a global. Safe without a
/// lock because it is written once, before the handler that reads it is
/// installed, and never changes afterwards.
nonisolated(unsafe) private var interruptionPipeWriteEnd: CInt = -1
/// The read end; written once by ``SelftestSystem/installInterruptionHandlers()``
/// on the main thread, before anything reads it, and read only on the main thread.
nonisolated(unsafe) private var interruptionPipeReadEnd: CInt = -1

package enum SelftestSystem {
    /// The hidden subcommand of `rvf-lock` that runs selftest's other processes
    /// (its `SelftestHelperCommand`); they are this same program, started again.
    package static let helperCommandName = "_selftest-helper"

    // MARK: Interruptions

    /// Opens /dev/null on whichever of descriptors 0, 1 and 2 are closed, so that
    /// no pipe or probe file of selftest becomes its standard output: a report
    /// line would then be written into it.
    package static func reserveStandardDescriptors() {
        Syscalls.prepareDescriptors()
    }

    /// Catches SIGINT, SIGTERM and SIGHUP as bytes on a pipe, so that every wait
    /// of selftest can notice them and clean up before exiting; ignores SIGPIPE,
    /// so that a closed standard output cannot kill it before it has cleaned up.
    /// SIGINT and SIGHUP inherited as ignored (`nohup`, background jobs of scripts)
    /// stay ignored, as that convention wants.
    package static func installInterruptionHandlers() {
        guard let ends = try? Syscalls.pipe() else { return }
        interruptionPipeReadEnd = ends.readable.rawValue
        interruptionPipeWriteEnd = ends.writable.rawValue
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var current = sigaction()
            sigaction(signal, nil, &current)
            let isIgnored = unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 1  // SIG_IGN
            if signal != SIGTERM && isIgnored { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                let savedErrno = errno
                var byte = UInt8(truncatingIfNeeded: signal)
                _ = write(interruptionPipeWriteEnd, &byte, 1)
                errno = savedErrno
            }
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
        signal(SIGPIPE, SIG_IGN)
        var relayed = sigset_t()
        sigemptyset(&relayed)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&relayed, signal) }
        pthread_sigmask(SIG_UNBLOCK, &relayed, nil)
    }

    /// Throws if a stopping signal has arrived.
    package static func checkInterrupted() throws(Interrupted) {
        guard interruptionPipeReadEnd >= 0 else { return }
        var byte: UInt8 = 0
        if Glibc.read(interruptionPipeReadEnd, &byte, 1) == 1 { throw Interrupted(signal: CInt(byte)) }
    }

    /// Waits until `descriptor` is readable (true) or `milliseconds` pass (false),
    /// returning early, by throwing, when a stopping signal arrives.
    static func waitReadable(_ descriptor: CInt?, milliseconds: Int) throws(Interrupted) -> Bool {
        var entries: [pollfd] = []
        if let descriptor { entries.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)) }
        if interruptionPipeReadEnd >= 0 {
            entries.append(pollfd(fd: interruptionPipeReadEnd, events: Int16(POLLIN), revents: 0))
        }
        _ = poll(&entries, nfds_t(entries.count), CInt(clamping: milliseconds))
        try checkInterrupted()
        guard descriptor != nil else { return false }
        return entries[0].revents != 0
    }

    /// Sleeps, returning early, by throwing, when a stopping signal arrives.
    package static func sleep(milliseconds: Int) throws(Interrupted) {
        let deadline = monotonicNanoseconds() + UInt64(milliseconds) * 1_000_000
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return }
            _ = try waitReadable(nil, milliseconds: Int((deadline - now + 999_999) / 1_000_000))
        }
    }

    // MARK: Clocks

    /// CLOCK_MONOTONIC: one clock for every process on this machine, so that the
    /// contention log's timestamps from different workers can be compared.
    static func monotonicNanoseconds() -> UInt64 { Syscalls.monotonicNanoseconds() }

    /// A busy moment inside the critical section, long enough for a second
    /// holder, if there were one, to interleave.
    package static func pause(microseconds: Int) {
        Syscalls.sleep(nanoseconds: UInt64(microseconds) * 1000)
    }

    // MARK: Paths and files

    package enum PathKind: Equatable {
        case missing
        case directory
        case notADirectory(String)
        case inaccessible(CInt)
    }

    package static func kind(of path: String) -> PathKind {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? .missing : .inaccessible(errno)
        }
        return info.st_mode & S_IFMT == S_IFDIR ? .directory : .notADirectory(FileIdentity.kind(of: info) ?? "file")
    }

    package static func makeDirectory(_ path: String) throws(ProbeFailure) {
        guard mkdir(path, 0o700) == 0 else { throw ProbeFailure("mkdir") }
    }

    /// Removes `directory` and the files in it (selftest creates no deeper
    /// levels); returns what could not be removed, with why.
    package static func removeTree(_ directory: String) -> [String] {
        var problems: [String] = []
        if let names = Syscalls.directoryNames(atPath: directory) {
            for name in names where Glibc.unlink(directory + "/" + name) != 0 && errno != ENOENT {
                problems.append("\(directory)/\(name) (unlink: \(errnoName(errno)))")
            }
        }
        if rmdir(directory) != 0 && errno != ENOENT {
            problems.append("\(directory) (rmdir: \(errnoName(errno)))")
        }
        return problems
    }

    /// `O_TMPFILE`, as the library opens its unnamed lock files.
    static func openUnnamedTemporary(in directory: String) throws(ProbeFailure) -> FileDescriptor {
        let flags = rvf_o_tmpfile_rdwr()
        guard flags != -1 else { throw ProbeFailure("open(O_TMPFILE)", EOPNOTSUPP) }
        do {
            return try Syscalls.open(FilePath(directory), flags: flags)
        } catch {
            throw ProbeFailure("open(O_TMPFILE)", error.errno.rawValue)
        }
    }

    /// Whether an unnamed file can be given a name here: through `/proc/self/fd`, as the library does.
    static var hasProcSelfFd: Bool {
        var info = stat()
        return lstat("/proc/self/fd", &info) == 0
    }

    package static func open(_ path: String, flags: CInt) throws(ProbeFailure) -> FileDescriptor {
        do { return try Syscalls.open(FilePath(path), flags: flags) } catch { throw ProbeFailure(error) }
    }

    package static func close(_ descriptor: FileDescriptor?) {
        if let descriptor { Syscalls.close(descriptor) }
    }

    /// Names an unnamed file as the library names its unnamed lock files.
    static func linkDescriptor(_ descriptor: FileDescriptor, to path: String) throws(ProbeFailure) {
        do throws(SystemCallError) {
            try path.utf8CString.withUnsafeBufferPointer { (name) throws(SystemCallError) in
                try Syscalls.linkDescriptor(descriptor, to: FileDescriptor(rawValue: AT_FDCWD), name.baseAddress!)
            }
        } catch {
            throw ProbeFailure(error)
        }
    }

    package static func link(_ source: String, to target: String) throws(ProbeFailure) {
        do throws(SystemCallError) {
            try source.utf8CString.withUnsafeBufferPointer { (source) throws(SystemCallError) in
                try target.utf8CString.withUnsafeBufferPointer { (target) throws(SystemCallError) in
                    try Syscalls.linkAt(
                        FileDescriptor(rawValue: AT_FDCWD), source.baseAddress!, FileDescriptor(rawValue: AT_FDCWD), target.baseAddress!)
                }
            }
        } catch {
            throw ProbeFailure(error)
        }
    }

    package static func unlink(_ path: String) throws(ProbeFailure) {
        do throws(SystemCallError) {
            try path.utf8CString.withUnsafeBufferPointer { (name) throws(SystemCallError) in
                try Syscalls.unlinkAt(FileDescriptor(rawValue: AT_FDCWD), name.baseAddress!)
            }
        } catch {
            throw ProbeFailure(error)
        }
    }

    package static func writeAll(_ descriptor: FileDescriptor, _ bytes: [UInt8], at offset: Int = 0) throws(ProbeFailure) {
        let written = bytes.withUnsafeBytes { raw in
            Result { () throws(SystemCallError) in try Syscalls.pwriteAll(descriptor, raw, at: offset) }
        }
        do { try written.get() } catch { throw ProbeFailure(error) }
    }

    package static func read(_ descriptor: FileDescriptor, count: Int, at offset: Int = 0) throws(ProbeFailure) -> [UInt8] {
        do { return try Syscalls.preadPrefix(descriptor, count: count, at: offset) } catch { throw ProbeFailure(error) }
    }

    /// Appends `line` and a newline with one `write` to a descriptor opened with `O_APPEND`,
    /// so that lines of several processes never interleave.
    static func appendLine(_ descriptor: FileDescriptor, _ line: String) throws(ProbeFailure) {
        let bytes = Array((line + "\n").utf8)
        while true {
            let count = bytes.withUnsafeBytes { write(descriptor.rawValue, $0.baseAddress, $0.count) }
            if count == bytes.count { return }
            if count < 0 && errno == EINTR { continue }
            throw ProbeFailure("write", count < 0 ? errno : EIO)
        }
    }

    static func readWholeFile(_ path: String) throws(ProbeFailure) -> [UInt8] {
        let descriptor = try open(path, flags: O_RDONLY)
        defer { close(descriptor) }
        var result: [UInt8] = []
        while true {
            let chunk = try read(descriptor, count: 1 << 16, at: result.count)
            result += chunk
            if chunk.count < 1 << 16 { return result }
        }
    }

    package static func fsync(_ descriptor: FileDescriptor) throws(ProbeFailure) {
        do { try Syscalls.fsync(descriptor) } catch { throw ProbeFailure(error) }
    }

    /// `flock(descriptor, operation | LOCK_NB)`: nil when granted, else its errno.
    package static func tryFlock(_ descriptor: FileDescriptor, _ operation: CInt) -> CInt? {
        do {
            return try Syscalls.flockNonBlocking(descriptor, operation) ? nil : EWOULDBLOCK
        } catch {
            return error.errno.rawValue
        }
    }

    static func unlockFlock(_ descriptor: FileDescriptor) {
        Syscalls.unlock(descriptor)
    }

    /// statx `STATX_BTIME`: whether the file system reports when the file open at `descriptor` was born.
    static func reportsBirthTime(_ descriptor: FileDescriptor) throws(ProbeFailure) -> Bool {
        var seconds: Int64 = 0
        var nanoseconds: UInt32 = 0
        let result = rvf_birth_time(descriptor.rawValue, &seconds, &nanoseconds)
        guard result >= 0 else { throw ProbeFailure("statx") }
        return result == 1
    }

    // MARK: File events

    /// The file events the library's waiters sleep on, in a form the report can name.
    enum FileEvent: String, CaseIterable {
        case created = "create"
        case closedAfterWriting = "close-write"
        case removed = "unlink"

        var mask: UInt32 {
            switch self {
            case .created: UInt32(IN_CREATE)
            case .closedAfterWriting: UInt32(IN_CLOSE_WRITE)
            case .removed: UInt32(IN_DELETE)
            }
        }
    }

    /// An inotify watch on one directory, as the library's waiters keep on the lock's directory.
    final class DirectoryWatch {
        private let descriptor: CInt

        init(_ directory: String) throws(ProbeFailure) {
            descriptor = inotify_init1(CInt(IN_NONBLOCK | IN_CLOEXEC))
            guard descriptor >= 0 else { throw ProbeFailure("inotify_init1") }
            let mask = FileEvent.allCases.reduce(UInt32(IN_ONLYDIR)) { $0 | $1.mask }
            guard inotify_add_watch(descriptor, directory, mask) >= 0 else {
                let failure = ProbeFailure("inotify_add_watch")
                Glibc.close(descriptor)
                throw failure
            }
        }

        deinit { Glibc.close(descriptor) }

        /// Collects events for `name` until all of `wanted` arrived or `timeoutMilliseconds` passed.
        func collect(for name: String, wanted: Set<FileEvent>, timeoutMilliseconds: Int) throws(Interrupted) -> Set<FileEvent> {
            var seen: Set<FileEvent> = []
            let deadline = monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
            var buffer = [UInt8](repeating: 0, count: 4096)
            while seen != wanted {
                let now = monotonicNanoseconds()
                guard now < deadline else { break }
                _ = try waitReadable(descriptor, milliseconds: Int((deadline - now) / 1_000_000) + 1)
                let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { continue }
                var offset = 0
                let headerSize = MemoryLayout<inotify_event>.size
                while offset + headerSize <= count {
                    let (mask, length) = buffer.withUnsafeBytes { raw in
                        (
                            raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                            Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                        )
                    }
                    let nameBytes = buffer[(offset + headerSize)..<min(count, offset + headerSize + length)]
                    let eventName = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                    if eventName == name {
                        for event in wanted where mask & event.mask != 0 { seen.insert(event) }
                    }
                    offset += headerSize + length
                }
            }
            return seen
        }
    }

    // MARK: Helper processes

    /// A copy of rvf-lock started as a second (third, ...) process for the probes
    /// and the contention run: a `PipedChild` whose standard error shares the pipe of
    /// its output. Its standard input is a pipe this process holds (closing it tells
    /// the helper to end).
    typealias HelperProcess = PipedChild

    static func startHelper(arguments: [String]) throws(ProbeFailure) -> HelperProcess {
        // /proc/self/exe still names this program if its file was replaced meanwhile.
        var info = stat()
        let executable = lstat("/proc/self/exe", &info) == 0 ? "/proc/self/exe" : CommandLine.arguments[0]
        do {
            return try PipedChild(
                executable, arguments: ["rvf-lock"] + arguments, standardErrorToo: true,
                defaultSignals: [SIGINT, SIGTERM, SIGHUP, SIGPIPE])
        } catch {
            throw ProbeFailure("posix_spawn", error.rawValue)
        }
    }

    /// Run by each helper first: the kernel kills it if selftest dies, even by
    /// SIGKILL, so that no helper outlives the run; false if selftest is already gone.
    package static func tieToParent(_ parent: Int32) -> Bool {
        _ = rvf_set_parent_death_signal(SIGKILL)
        return getppid() == parent
    }

    /// Blocks until the standard input reaches end of file: the helper's cue to end.
    package static func waitForEndOfInput() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if count == 0 || (count < 0 && errno != EINTR) { return }
        }
    }

    /// Ends the process at once, as a crash would: no cleanup, no release.
    static func vanish() -> Never { _exit(0) }

    package static var processID: Int32 { getpid() }

    package static func signalName(_ signal: CInt) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }

    // MARK: Errno names

    /// The symbolic name of an errno ("EWOULDBLOCK"), which is what these checks are about,
    /// or its number and text for others.
    package static func errnoName(_ code: CInt) -> String {
        let names: [CInt: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", EBADF: "EBADF", EACCES: "EACCES",
            EEXIST: "EEXIST", EXDEV: "EXDEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
            ENOSPC: "ENOSPC", EROFS: "EROFS", EMLINK: "EMLINK", EWOULDBLOCK: "EWOULDBLOCK",
            ENAMETOOLONG: "ENAMETOOLONG", ENOLCK: "ENOLCK", ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP",
            EDQUOT: "EDQUOT", ESTALE: "ESTALE", EINTR: "EINTR", ENOMEM: "ENOMEM",
        ]
        return names[code] ?? "errno \(code) (\(String(cString: strerror(code))))"
    }

    static let wouldBlock = EWOULDBLOCK
    package static let fileExists = EEXIST
    package static let readOnlyFileSystem = EROFS
    package static let flockExclusive = LOCK_EX
    package static let flockShared = LOCK_SH
    package static let readWrite = O_RDWR
    static let readOnly = O_RDONLY
    package static let createExclusively = O_RDWR | O_CREAT | O_EXCL
    static let appendOnly = O_WRONLY | O_APPEND

    /// Errnos of `open(O_TMPFILE)` that mean "not here", on which the library
    /// falls back to named temporaries.
    static func meansNoUnnamedTemporaries(_ code: CInt) -> Bool { Errno(rawValue: code).meansNoUnnamedFiles }

    /// Errnos of `link`/`linkat` that mean the file system has no hard links.
    static func meansNoHardLinks(_ code: CInt) -> Bool { Errno(rawValue: code).meansNoHardLinks }

    /// Errnos of `flock` that mean the file system refuses file locks.
    static func meansNoFileLocks(_ code: CInt) -> Bool { Errno(rawValue: code).meansNoFileLocks }

    /// Errnos of `mkdir` that mean this user may not create files in the directory.
    package static func meansNoPermission(_ code: CInt) -> Bool { code == EACCES || code == EPERM }

    /// Errnos of `mkdir` that mean no file can be created there at all.
    package static func meansCannotCreate(_ code: CInt) -> Bool { [EROFS, ENOSPC, EDQUOT].contains(code) }
}

/// A helper's waits, cut short by a stopping signal as selftest's every wait is.
extension PipedChild {
    /// The next line the helper prints, or nil if none comes within the timeout (or it ended).
    func readLine(timeoutMilliseconds: Int) throws(Interrupted) -> String? {
        try readLine(timeoutNanoseconds: UInt64(timeoutMilliseconds) * 1_000_000) { descriptor, milliseconds throws(Interrupted) in
            _ = try SelftestSystem.waitReadable(descriptor, milliseconds: milliseconds)
        }
    }

    /// Waits up to `timeoutMilliseconds` for the helper to end; its status, or nil if it still runs.
    func waitForExit(timeoutMilliseconds: Int) throws(Interrupted) -> Int32? {
        let deadline = SelftestSystem.monotonicNanoseconds() + UInt64(timeoutMilliseconds) * 1_000_000
        while true {
            readAvailable()
            if let status = reapIfEnded() { return status }
            guard SelftestSystem.monotonicNanoseconds() < deadline else { return nil }
            try SelftestSystem.sleep(milliseconds: 2)
        }
    }
}
