import Glibc
import CRVFLockShims
import Synchronization
package import SystemPackage

/// Every libc call the library makes outside swift-system, each wrapped once, on
/// swift-system's `FileDescriptor` (its own calls are used where it has them:
/// `close`).
///
/// Calls that can be interrupted are retried on EINTR, except `close`, whose
/// descriptor is gone after EINTR on Linux. Failures carry the call's name, as a
/// typed ``SystemCallError`` (swift-system's calls throw an untyped `Errno`).
///
/// Every descriptor the library keeps is 3 or above: a process started with
/// standard output closed would otherwise get a lock file as descriptor 1, and
/// its next `print` would overwrite the lock record (the reference then deletes
/// the "invalid" file at once: two writers). See ``keptAboveStandardStreams(_:)``.
package enum Syscalls {
    private static func check(_ name: String, _ result: CInt) throws(SystemCallError) {
        if result == -1 { throw SystemCallError(name: name, errno: Errno(rawValue: errno)) }
    }

    private static func retrying(_ name: String, _ body: () -> CInt) throws(SystemCallError) -> CInt {
        while true {
            let result = body()
            if result != -1 { return result }
            if errno == EINTR { continue }
            throw SystemCallError(name: name, errno: Errno(rawValue: errno))
        }
    }

    // MARK: Descriptors

    /// Fills closed standard descriptors (0, 1, 2) with `/dev/null` once, so that the
    /// library's own descriptors never land there (as SQLite does).
    private static let standardStreamsFilled: Bool = {
        for slot in CInt(0)...2 where fcntl(slot, F_GETFD) == -1 && errno == EBADF {
            let null = c_open("/dev/null", O_RDWR, 0)
            if null >= 0 && null != slot {
                _ = dup2(null, slot)
                if null > 2 { _ = c_close(null) }
            }
        }
        return true
    }()

    /// Adopts the descriptor a C call returned (or nil for its -1), moved to 3 or above.
    static func adopting(_ descriptor: CInt) -> FileDescriptor? {
        descriptor < 0 ? nil : FileDescriptor(rawValue: keptAboveStandardStreams(descriptor))
    }

    /// Moves a new descriptor to 3 or above, leaving `/dev/null` in the standard slot it took.
    ///
    /// `dup2` replaces the slot atomically, so no moment exists in which a write to
    /// that standard descriptor reaches the lock file after this returns.
    private static func keptAboveStandardStreams(_ descriptor: CInt) -> CInt {
        guard descriptor >= 0, descriptor < 3 else { return descriptor }
        let raised = fcntl(descriptor, F_DUPFD_CLOEXEC, 3)
        guard raised >= 0 else { return descriptor }
        let null = c_open("/dev/null", O_RDWR, 0)
        if null >= 0 {
            _ = dup2(null, descriptor)
            if null > 2 { _ = c_close(null) }
        } else {
            _ = c_close(descriptor)
        }
        return raised
    }

    /// Moves a descriptor to `floor` or above (see ``MonitorThread/lockDescriptorFloor``).
    static func raised(_ descriptor: FileDescriptor, toAtLeast floor: CInt) -> FileDescriptor {
        guard descriptor.rawValue < floor else { return descriptor }
        let raised = fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, floor)
        guard raised >= 0 else { return descriptor }
        close(descriptor)
        return FileDescriptor(rawValue: raised)
    }

    /// Call before the first descriptor of an operation is opened.
    @inline(__always)
    package static func prepareDescriptors() { _ = standardStreamsFilled }

    package static func open(
        _ path: FilePath, flags: CInt, permissions: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]
    ) throws(SystemCallError) -> FileDescriptor {
        prepareDescriptors()
        let descriptor = try retrying("open") {
            path.withPlatformString { c_open($0, flags | O_CLOEXEC, permissions.rawValue) }
        }
        return FileDescriptor(rawValue: keptAboveStandardStreams(descriptor))
    }

    static func openAt(
        _ directory: FileDescriptor, _ name: UnsafePointer<CChar>, flags: CInt, mode: mode_t = 0o644
    ) throws(SystemCallError) -> FileDescriptor {
        prepareDescriptors()
        let descriptor = try retrying("openat") { openat(directory.rawValue, name, flags | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: keptAboveStandardStreams(descriptor))
    }

    /// A directory opened only as an anchor for `*at` calls (`O_PATH` on Linux).
    static func openDirectoryAnchor(_ path: FilePath) throws(SystemCallError) -> FileDescriptor {
        try path.withPlatformString { path in Result { () throws(SystemCallError) in try openDirectoryAnchor(path) } }.get()
    }

    static func openDirectoryAnchor(_ path: UnsafePointer<CChar>) throws(SystemCallError) -> FileDescriptor {
        prepareDescriptors()
        let flags = rvf_directory_anchor_flags()
        let descriptor = try retrying("open") { c_open(path, flags, 0) }
        return FileDescriptor(rawValue: keptAboveStandardStreams(descriptor))
    }

    /// An unnamed file in `directory` (Linux `O_TMPFILE`), or nil where the
    /// platform or the filesystem has none, so that the caller falls back to a named temporary.
    static func openUnnamedTemporary(in directory: FileDescriptor, mode: mode_t) throws(SystemCallError) -> FileDescriptor? {
        let flags = rvf_o_tmpfile_rdwr()
        guard flags != -1, canLinkDescriptors else { return nil }
        do {
            return try openAt(directory, ".", flags: flags, mode: mode)
        } catch  where error.errno.meansNoUnnamedFiles {
            return nil
        }
    }

    /// Whether an unnamed file can be given a name: through `/proc/self/fd`, which
    /// a container without `/proc` lacks.
    private static let canLinkDescriptors: Bool = {
        var info = stat()
        return c_lstat("/proc/self/fd", &info) == 0
    }()

    /// A pipe whose ends are close-on-exec, non-blocking, and 3 or above.
    package static func pipe() throws(SystemCallError) -> (readable: FileDescriptor, writable: FileDescriptor) {
        prepareDescriptors()
        var descriptors: [CInt] = [-1, -1]
        try check("pipe2", rvf_pipe_cloexec_nonblock(&descriptors))
        return (
            FileDescriptor(rawValue: keptAboveStandardStreams(descriptors[0])),
            FileDescriptor(rawValue: keptAboveStandardStreams(descriptors[1]))
        )
    }

    package static func close(_ descriptor: FileDescriptor) {
        // swift-system's close is not retried: on Linux the descriptor is released
        // even when close reports EINTR.
        try? descriptor.close()
    }

    // MARK: Kernel locks

    /// Takes or releases a `flock(2)` lock without blocking; false when another
    /// open file description holds a conflicting lock.
    package static func flockNonBlocking(_ descriptor: FileDescriptor, _ operation: CInt) throws(SystemCallError) -> Bool {
        while true {
            if rvf_flock(descriptor.rawValue, operation | LOCK_NB) == 0 { return true }
            switch errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            default: throw SystemCallError(name: "flock", errno: Errno(rawValue: errno))
            }
        }
    }

    /// Takes an exclusive `flock(2)` lock, waiting as long as it takes (the fencing
    /// token's check and stamp, held for one write).
    package static func lockExclusively(_ descriptor: FileDescriptor) throws(SystemCallError) {
        _ = try retrying("flock") { rvf_flock(descriptor.rawValue, LOCK_EX) }
    }

    package static func unlock(_ descriptor: FileDescriptor) {
        _ = rvf_flock(descriptor.rawValue, LOCK_UN)
    }

    // MARK: Data

    package static func fsync(_ descriptor: FileDescriptor) throws(SystemCallError) {
        _ = try retrying("fsync") { c_fsync(descriptor.rawValue) }
    }

    static func fdatasync(_ descriptor: FileDescriptor) throws(SystemCallError) {
        _ = try retrying("fdatasync") { c_fdatasync(descriptor.rawValue) }
    }

    package static func pwriteAll(_ descriptor: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(SystemCallError) {
        var written = 0
        while written < bytes.count {
            let result = c_pwrite(descriptor.rawValue, bytes.baseAddress! + written, bytes.count - written, off_t(offset + written))
            if result == -1 {
                if errno == EINTR { continue }
                throw SystemCallError(name: "pwrite", errno: Errno(rawValue: errno))
            }
            written += result
        }
    }

    /// Reads up to `buffer.count` bytes from `offset`; fewer only at end of file.
    static func pread(
        _ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: Int = 0
    ) throws(SystemCallError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let result = c_pread(descriptor.rawValue, buffer.baseAddress! + filled, buffer.count - filled, off_t(offset + filled))
            if result == -1 {
                if errno == EINTR { continue }
                throw SystemCallError(name: "pread", errno: Errno(rawValue: errno))
            }
            if result == 0 { break }
            filled += result
        }
        return filled
    }

    /// Reads up to `count` bytes from `offset`; fewer only at end of file.
    package static func preadPrefix(_ descriptor: FileDescriptor, count: Int, at offset: Int = 0) throws(SystemCallError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        let filled = try buffer.withUnsafeMutableBytes { raw in
            Result { () throws(SystemCallError) in try pread(descriptor, into: raw, at: offset) }
        }.get()
        buffer.removeLast(count - filled)
        return buffer
    }

    // MARK: Metadata

    static func fstat(_ descriptor: FileDescriptor) throws(SystemCallError) -> stat {
        var info = stat()
        _ = try retrying("fstat") { c_fstat(descriptor.rawValue, &info) }
        return info
    }

    /// A directory's identity and the unique id of its mount (nil where the kernel
    /// gives none), in one `statx(2)`.
    static func identityAndMount(_ descriptor: FileDescriptor) throws(SystemCallError) -> (FileIdentity, mount: UInt64?) {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var mount: UInt64 = 0
        _ = try retrying("statx") { rvf_identity_and_mount(descriptor.rawValue, &device, &inode, &mount) }
        return (FileIdentity(device: device, inode: inode), mount == 0 ? nil : mount)
    }

    /// `stat(2)`, following symbolic links.
    static func statFollowing(_ path: FilePath) throws(SystemCallError) -> stat {
        var info = stat()
        _ = try retrying("stat") { path.withPlatformString { c_stat($0, &info) } }
        return info
    }

    /// `lstat(2)`, or nil when nothing is at `path`.
    static func lstat(_ path: FilePath) throws(SystemCallError) -> stat? {
        var info = stat()
        let result = path.withPlatformString { c_lstat($0, &info) }
        if result == 0 { return info }
        if errno == ENOENT { return nil }
        throw SystemCallError(name: "lstat", errno: Errno(rawValue: errno))
    }

    /// `fstatat(2)`, following a final symbolic link (a `/proc/PID/fd` entry to its file).
    static func statAt(_ directory: FileDescriptor, _ name: String) throws(SystemCallError) -> stat {
        var info = stat()
        _ = try retrying("fstatat") { fstatat(directory.rawValue, name, &info, 0) }
        return info
    }

    /// `fstatat(2)` without following a final symbolic link, or nil when nothing is there.
    static func lstatAt(_ directory: FileDescriptor, _ name: UnsafePointer<CChar>) throws(SystemCallError) -> stat? {
        var info = stat()
        while true {
            if fstatat(directory.rawValue, name, &info, AT_SYMLINK_NOFOLLOW) == 0 { return info }
            switch errno {
            case EINTR: continue
            case ENOENT: return nil
            default: throw SystemCallError(name: "fstatat", errno: Errno(rawValue: errno))
            }
        }
    }

    /// The target of the symbolic link at `path`.
    static func readLink(_ path: FilePath) throws(SystemCallError) -> FilePath {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = path.withPlatformString { c_readlink($0, &buffer, buffer.count - 1) }
        if count == -1 { throw SystemCallError(name: "readlink", errno: Errno(rawValue: errno)) }
        buffer[count] = 0
        return buffer.withUnsafeBufferPointer { FilePath(platformString: $0.baseAddress!) }
    }

    /// The file system kind holding the open descriptor.
    static func fileSystemType(_ descriptor: FileDescriptor, onMount mount: UInt64? = nil) -> FileSystemType {
        FileSystemType.of(descriptor, onMount: mount)
    }

    /// The birth time of the open file in nanoseconds since the epoch, or nil where
    /// the file system does not record it.
    static func birthTime(_ descriptor: FileDescriptor) -> UInt64? {
        var seconds: Int64 = 0
        var nanoseconds: UInt32 = 0
        guard rvf_birth_time(descriptor.rawValue, &seconds, &nanoseconds) == 1, seconds >= 0 else { return nil }
        return UInt64(seconds) * 1_000_000_000 + UInt64(nanoseconds)
    }

    // MARK: Extended attributes

    /// The extended attribute `name` of the open file, as text (at most 64 bytes);
    /// nil if the file has none.
    package static func attribute(_ descriptor: FileDescriptor, _ name: String) throws(SystemCallError) -> String? {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = buffer.withUnsafeMutableBytes { fgetxattr(descriptor.rawValue, name, $0.baseAddress, $0.count) }
            if count >= 0 { return String(decoding: buffer.prefix(count), as: UTF8.self) }
            switch errno {
            case EINTR: continue
            case ENODATA: return nil
            default: throw SystemCallError(name: "fgetxattr", errno: Errno(rawValue: errno))
            }
        }
    }

    package static func setAttribute(_ descriptor: FileDescriptor, _ name: String, _ value: String) throws(SystemCallError) {
        let bytes = Array(value.utf8)
        _ = try retrying("fsetxattr") {
            bytes.withUnsafeBytes { fsetxattr(descriptor.rawValue, name, $0.baseAddress, $0.count, 0) }
        }
    }

    // MARK: Names

    /// Gives an open file the name `name` in `directory`; fails with EEXIST,
    /// atomically, when the name is taken.
    package static func linkDescriptor(
        _ descriptor: FileDescriptor, to directory: FileDescriptor, _ name: UnsafePointer<CChar>
    ) throws(SystemCallError) {
        // linkat(fd, "", ..., AT_EMPTY_PATH) is the cheaper way, but kernels before
        // 6.10 allow it only with CAP_DAC_READ_SEARCH (ENOENT otherwise); the /proc
        // path works for every user. Which one works is learnt once.
        if emptyPathLinks.load(ordering: .relaxed) {
            if rvf_link_open_file(descriptor.rawValue, directory.rawValue, name) == 0 { return }
            guard errno == ENOENT || errno == EPERM else { try check("linkat", -1); return }
        }
        let result = ProcSelfFD.withPath(of: descriptor) { source in
            linkat(AT_FDCWD, source, directory.rawValue, name, AT_SYMLINK_FOLLOW)
        }
        try check("linkat", result)
        // The /proc path worked where AT_EMPTY_PATH did not: this kernel wants the privilege.
        emptyPathLinks.store(false, ordering: .relaxed)
    }

    private static let emptyPathLinks = Atomic<Bool>(true)

    package static func linkAt(
        _ sourceDirectory: FileDescriptor, _ source: UnsafePointer<CChar>, _ targetDirectory: FileDescriptor,
        _ target: UnsafePointer<CChar>
    ) throws(SystemCallError) {
        try check("linkat", linkat(sourceDirectory.rawValue, source, targetDirectory.rawValue, target, 0))
    }

    static func renameAt(
        _ directory: FileDescriptor, _ source: UnsafePointer<CChar>, _ target: UnsafePointer<CChar>
    ) throws(SystemCallError) {
        try check("renameat", renameat(directory.rawValue, source, directory.rawValue, target))
    }

    /// Swaps the names `first` and `second` in `directory` atomically (both must exist).
    static func renameExchange(
        _ directory: FileDescriptor, _ first: UnsafePointer<CChar>, _ second: UnsafePointer<CChar>
    ) throws(SystemCallError) {
        _ = try retrying("renameat2") { rvf_rename_exchange(directory.rawValue, first, second) }
    }

    /// Renames `source` to `target` in `directory` unless `target` exists (EEXIST then).
    static func renameAtNoReplace(
        _ directory: FileDescriptor, _ source: UnsafePointer<CChar>, _ target: UnsafePointer<CChar>
    ) throws(SystemCallError) {
        _ = try retrying("renameat2") { rvf_rename_noreplace(directory.rawValue, source, target) }
    }

    package static func unlinkAt(_ directory: FileDescriptor, _ name: UnsafePointer<CChar>) throws(SystemCallError) {
        try check("unlinkat", unlinkat(directory.rawValue, name, 0))
    }

    // MARK: Processes and hosts

    /// The result of probing a PID with signal 0.
    enum ProcessProbe { case exists, noSuchProcess }

    static func probeProcess(_ pid: pid_t) throws(SystemCallError) -> ProcessProbe {
        if c_kill(pid, 0) == 0 { return .exists }
        switch errno {
        case EPERM: return .exists
        case ESRCH: return .noSuchProcess
        default: throw SystemCallError(name: "kill", errno: Errno(rawValue: errno))
        }
    }

    package static func hostname() throws(SystemCallError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        try check("gethostname", c_gethostname(&buffer, buffer.count - 1))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The whole of a small file (`/proc`, `/etc`), or nil if it cannot be read.
    static func readSmallFile(_ path: FilePath, limit: Int = 4096) -> [UInt8]? {
        guard let descriptor = try? open(path, flags: O_RDONLY) else { return nil }
        defer { close(descriptor) }
        return try? preadPrefix(descriptor, count: limit)
    }

    /// A small file of `/proc`, by a plain path (no `FilePath` to build: status looks
    /// read a few of these each time).
    static func readProcFile(_ path: String, limit: Int = 4096) -> [UInt8]? {
        prepareDescriptors()
        guard let kept = adopting(path.withCString { c_open($0, O_RDONLY | O_CLOEXEC, 0) }) else { return nil }
        defer { close(kept) }
        return try? preadPrefix(kept, count: limit)
    }

    package static func wallClockNanoseconds() -> UInt64 { rvf_wall_clock_ns() }

    package static func monotonicNanoseconds() -> UInt64 { rvf_monotonic_ns() }

    /// This process's id, asked of the kernel once per process, forked children
    /// included (`rvf_current_pid`): every fork check of the library asks it, a few
    /// times per acquisition.
    package static var processID: Int32 { rvf_current_pid() }

    // MARK: Waiting

    /// Sleeps until CLOCK_MONOTONIC reads `deadline` (nanoseconds; returns at once if it
    /// is past), resuming after signals: the clock of ``monotonicNanoseconds()``, so a
    /// deadline set in one process holds in another.
    package static func sleep(untilMonotonic deadline: UInt64) {
        var target = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nil) == EINTR {}
    }

    /// Sleeps for `nanoseconds` in all, resuming after signals.
    package static func sleep(nanoseconds: UInt64) {
        sleep(untilMonotonic: monotonicNanoseconds() + nanoseconds)
    }

    /// Waits for any of `descriptors` to become readable; true if one did before the timeout.
    static func pollReadable(_ descriptors: [FileDescriptor], timeoutMilliseconds: CInt) throws(SystemCallError) -> Bool {
        var entries = descriptors.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
        let result = c_poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
        if result == -1 {
            if errno == EINTR { return true }
            throw SystemCallError(name: "poll", errno: Errno(rawValue: errno))
        }
        return result > 0
    }

    /// Reads and discards what is pending on a non-blocking descriptor.
    static func drain(_ descriptor: FileDescriptor) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            while c_read(descriptor.rawValue, buffer.baseAddress, buffer.count) > 0 {}
        }
    }

    static func randomUInt64() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }

    /// A number for a writer id that no other writer id of this process has, and
    /// another process's has only by chance: from a stream seeded once per process
    /// (`rvf_next_writer_nonce`), so that an acquisition asks the kernel for none.
    static func writerNonce() -> UInt64 {
        var nonce: UInt64 = 0
        return rvf_next_writer_nonce(&nonce) == 0 ? nonce : randomUInt64()
    }
}

extension Syscalls {
    /// The names in a directory, without `.` and `..`; empty if it cannot be read.
    static func directoryEntries(_ directory: FileDescriptor) -> [String] {
        directoryNames(openedBy: { openat(directory.rawValue, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }) ?? []
    }

    /// The names in the directory at `path`, without `.` and `..`, in the order the
    /// file system gives them; nil if it cannot be opened. (The tool lists `PATH`'s
    /// programs for completion, `/proc` for `exec`, and selftest's folder with it.)
    package static func directoryNames(atPath path: String) -> [String]? {
        prepareDescriptors()
        return directoryNames(openedBy: { path.withCString { c_open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) } })
    }

    private static func directoryNames(openedBy openDirectory: () -> CInt) -> [String]? {
        let opened = openDirectory()
        guard opened >= 0 else { return nil }
        let descriptor = keptAboveStandardStreams(opened)
        guard let stream = fdopendir(descriptor) else {
            _ = c_close(descriptor)
            return nil
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = entryName(entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The name in a directory entry that `readdir` returned, read where it lies, up
    /// to its NUL. The kernel packs entries only as long as their names, so copying
    /// `d_name` whole (256 bytes) reads past the entry, and past the end of the
    /// stream's buffer for the last one: a crash wherever the heap ends there, as it
    /// can in a statically linked program (the tool crashed so completing a program
    /// name on a `PATH` with `/usr/bin` in it).
    static func entryName(_ entry: UnsafePointer<dirent>) -> String {
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
    }
}

/// `/proc/self/fd/N` as a C string on the stack: the path through which an open
/// file (even one without a name) can be linked or watched.
enum ProcSelfFD {
    static func withPath<R>(of descriptor: FileDescriptor, _ body: (UnsafePointer<CChar>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 32) { buffer in
            var index = 0
            for byte in "/proc/self/fd/".utf8 {
                buffer[index] = CChar(bitPattern: byte)
                index += 1
            }
            var digits: [CChar] = []
            var value = descriptor.rawValue
            repeat {
                digits.append(CChar(UInt8(ascii: "0") + UInt8(value % 10)))
                value /= 10
            } while value > 0
            for digit in digits.reversed() {
                buffer[index] = digit
                index += 1
            }
            buffer[index] = 0
            return body(UnsafePointer(buffer.baseAddress!))
        }
    }
}

// File-scope forwarders, because inside `Syscalls` its own methods (`open`, `close`,
// `fstat`...) shadow the C library's; here the unqualified names are the C library's,
// on Glibc.
private func c_open(_ path: UnsafePointer<CChar>, _ flags: CInt, _ mode: mode_t) -> CInt { open(path, flags, mode) }
private func c_close(_ descriptor: CInt) -> CInt { close(descriptor) }
private func c_fsync(_ descriptor: CInt) -> CInt { fsync(descriptor) }
private func c_fdatasync(_ descriptor: CInt) -> CInt { fdatasync(descriptor) }
private func c_fstat(_ descriptor: CInt, _ info: inout stat) -> CInt { fstat(descriptor, &info) }
private func c_stat(_ path: UnsafePointer<CChar>, _ info: inout stat) -> CInt { stat(path, &info) }
private func c_lstat(_ path: UnsafePointer<CChar>, _ info: inout stat) -> CInt { lstat(path, &info) }
private func c_readlink(_ path: UnsafePointer<CChar>, _ buffer: inout [CChar], _ size: Int) -> Int {
    readlink(path, &buffer, size)
}
private func c_gethostname(_ buffer: inout [CChar], _ length: Int) -> CInt { gethostname(&buffer, length) }
private func c_kill(_ pid: pid_t, _ signal: CInt) -> CInt { kill(pid, signal) }
private func c_poll(_ entries: inout [pollfd], _ count: nfds_t, _ timeout: CInt) -> CInt { poll(&entries, count, timeout) }
private func c_pread(_ descriptor: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int, _ offset: off_t) -> Int {
    pread(descriptor, buffer, count, offset)
}
private func c_pwrite(_ descriptor: CInt, _ buffer: UnsafeRawPointer?, _ count: Int, _ offset: off_t) -> Int {
    pwrite(descriptor, buffer, count, offset)
}
private func c_read(_ descriptor: CInt, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
