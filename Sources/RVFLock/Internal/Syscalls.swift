#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRVFLockShims
import SystemPackage

/// Every libc call the library makes outside swift-system, each wrapped once.
///
/// Calls that can be interrupted are retried on EINTR, except `close`, whose
/// descriptor is gone after EINTR on Linux. Failures carry the call's name.
enum Syscalls {
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

    static func open(_ path: FilePath, flags: CInt, mode: mode_t = 0o644) throws(SystemCallError) -> CInt {
        try retrying("open") {
            path.withPlatformString { c_open($0, flags | O_CLOEXEC, mode) }
        }
    }

    /// An unnamed file in `directory` (Linux `O_TMPFILE`), or nil where the
    /// platform or the filesystem has none, so that the caller falls back to a named temporary.
    static func openUnnamedTemporary(in directory: FilePath) throws(SystemCallError) -> CInt? {
        let flags = rvf_o_tmpfile_rdwr()
        guard flags != -1, canLinkDescriptors else { return nil }
        do {
            return try open(directory, flags: flags, mode: 0o644)
        } catch {
            switch error.errno {
            case .notSupported, .invalidArgument, .isDirectory, .noFunction: return nil
            default: throw error
            }
        }
    }

    /// Whether an unnamed file can be given a name: through `/proc/self/fd`, which
    /// a container without `/proc` lacks.
    private static let canLinkDescriptors: Bool = {
        var info = stat()
        return c_lstat("/proc/self/fd", &info) == 0
    }()

    static func close(_ descriptor: CInt) {
        // Not retried: on Linux the descriptor is released even when close reports EINTR.
        _ = c_close(descriptor)
    }

    /// Takes or releases a `flock(2)` lock without blocking; false when another
    /// open file description holds a conflicting lock.
    static func flockNonBlocking(_ descriptor: CInt, _ operation: CInt) throws(SystemCallError) -> Bool {
        while true {
            if rvf_flock(descriptor, operation | LOCK_NB) == 0 { return true }
            switch errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            default: throw SystemCallError(name: "flock", errno: Errno(rawValue: errno))
            }
        }
    }

    static func fsync(_ descriptor: CInt) throws(SystemCallError) {
        _ = try retrying("fsync") { c_fsync(descriptor) }
    }

    static func fdatasync(_ descriptor: CInt) throws(SystemCallError) {
        #if os(Linux)
        _ = try retrying("fdatasync") { c_fdatasync(descriptor) }
        #else
        _ = try retrying("fsync") { c_fsync(descriptor) }
        #endif
    }

    static func pwriteAll(_ descriptor: CInt, _ bytes: [UInt8], at offset: Int) throws(SystemCallError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                c_pwrite(descriptor, buffer.baseAddress! + written, bytes.count - written, off_t(offset + written))
            }
            if result == -1 {
                if errno == EINTR { continue }
                throw SystemCallError(name: "pwrite", errno: Errno(rawValue: errno))
            }
            written += result
        }
    }

    /// Reads up to `count` bytes from offset 0; fewer only at end of file.
    static func preadPrefix(_ descriptor: CInt, count: Int) throws(SystemCallError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = buffer.withUnsafeMutableBytes { raw in
                c_pread(descriptor, raw.baseAddress! + filled, count - filled, off_t(filled))
            }
            if result == -1 {
                if errno == EINTR { continue }
                throw SystemCallError(name: "pread", errno: Errno(rawValue: errno))
            }
            if result == 0 { break }
            filled += result
        }
        return Array(buffer[..<filled])
    }

    static func fstat(_ descriptor: CInt) throws(SystemCallError) -> stat {
        var info = stat()
        _ = try retrying("fstat") { c_fstat(descriptor, &info) }
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

    /// Gives an open file the name `path`; fails with EEXIST, atomically, when the name is taken.
    static func linkDescriptor(_ descriptor: CInt, to path: FilePath) throws(SystemCallError) {
        // linkat(fd, "", ..., AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH on older
        // kernels; the /proc path works for every user.
        let source = "/proc/self/fd/\(descriptor)"
        let result = path.withPlatformString { target in
            c_linkat(AT_FDCWD, source, AT_FDCWD, target, AT_SYMLINK_FOLLOW)
        }
        try check("linkat", result)
    }

    static func link(_ source: FilePath, to target: FilePath) throws(SystemCallError) {
        let result = source.withPlatformString { cSource in
            target.withPlatformString { cTarget in c_link(cSource, cTarget) }
        }
        try check("link", result)
    }

    static func unlink(_ path: FilePath) throws(SystemCallError) {
        try check("unlink", path.withPlatformString { c_unlink($0) })
    }

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

    static func hostname() throws(SystemCallError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        try check("gethostname", c_gethostname(&buffer, buffer.count - 1))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func wallClockNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        guard now.tv_sec >= 0 else { return 0 }
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static var processID: pid_t { getpid() }

    /// Waits for any of `descriptors` to become readable; true if one did before the timeout.
    static func pollReadable(_ descriptors: [CInt], timeoutMilliseconds: CInt) throws(SystemCallError) -> Bool {
        var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let result = c_poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
        if result == -1 {
            if errno == EINTR { return true }
            throw SystemCallError(name: "poll", errno: Errno(rawValue: errno))
        }
        return result > 0
    }

    /// Reads and discards what is pending on a non-blocking descriptor.
    static func drain(_ descriptor: CInt) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            while c_read(descriptor, buffer.baseAddress, buffer.count) > 0 {}
        }
    }

    static func randomUInt64() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

extension Syscalls {
    /// The names in a directory, without `.` and `..`; empty if it cannot be read.
    static func directoryEntries(_ directory: FilePath) -> [String] {
        guard let stream = directory.withPlatformString({ opendir($0) }) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

// File-scope forwarders, because inside `Syscalls` its own methods (`open`, `close`,
// `fstat`...) shadow the C library's; here the unqualified names are the C library's,
// on Glibc and Darwin alike.
private func c_open(_ path: UnsafePointer<CChar>, _ flags: CInt, _ mode: mode_t) -> CInt { open(path, flags, mode) }
private func c_close(_ descriptor: CInt) -> CInt { close(descriptor) }
private func c_fsync(_ descriptor: CInt) -> CInt { fsync(descriptor) }
#if os(Linux)
private func c_fdatasync(_ descriptor: CInt) -> CInt { fdatasync(descriptor) }
#endif
private func c_fstat(_ descriptor: CInt, _ info: inout stat) -> CInt { fstat(descriptor, &info) }
private func c_lstat(_ path: UnsafePointer<CChar>, _ info: inout stat) -> CInt { lstat(path, &info) }
private func c_gethostname(_ buffer: inout [CChar], _ length: Int) -> CInt { gethostname(&buffer, length) }
private func c_kill(_ pid: pid_t, _ signal: CInt) -> CInt { kill(pid, signal) }
private func c_link(_ source: UnsafePointer<CChar>, _ target: UnsafePointer<CChar>) -> CInt { link(source, target) }
private func c_linkat(_ fromDirectory: CInt, _ source: String, _ toDirectory: CInt, _ target: UnsafePointer<CChar>, _ flags: CInt) -> CInt {
    linkat(fromDirectory, source, toDirectory, target, flags)
}
private func c_unlink(_ path: UnsafePointer<CChar>) -> CInt { unlink(path) }
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
