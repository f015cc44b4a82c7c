#if canImport(Glibc)
import Glibc
#endif
import RVFLock
public import SystemPackage

/// A data file that refuses writes from a writer whose fencing token is older
/// than one already stamped on it: what keeps a writer that was paused past
/// its lease (a stopped process, a long GC pause, a frozen machine) from
/// overwriting its successor's work once it runs again.
///
/// The token (``EtcdLockScope/fencingToken``, `RVF_LOCK_FENCE` under
/// `rvf-lock exec --etcd`) is kept in the data file's extended attribute
/// `user.rvf.fence`, as decimal text. ``write(token:_:)`` opens the file, takes
/// a short exclusive `flock()` on it, reads the stamp, refuses if it is larger
/// than `token`, stamps `token`, runs the write, and lets go:
///
/// ```swift
/// try await lock.withLock { scope in
///     try FencedDataFile(scope.dataFile).write(token: scope.fencingToken) { file in
///         _ = try file.seek(offset: 0, from: .end)
///         try file.writeAll(records)
///     }
/// }
/// ```
///
/// The check and the write happen under one `flock()` of the data file, so a
/// writer paused between them holds up its successor's first write rather
/// than slipping past it. The guarantee covers writers that go through this
/// helper (or check the attribute the same way); the file system must keep
/// user extended attributes (ext4, xfs, btrfs, tmpfs, NFS 4.2 do).
public struct FencedDataFile: Sendable {
    /// The data file.
    public let path: FilePath

    /// The extended attribute that holds the highest token stamped so far.
    public static let attributeName = "user.rvf.fence"

    /// The data file at `path`; touches nothing.
    public init(_ path: FilePath) { self.path = path }

    /// The data file at `path` (`"data.rvf"`); touches nothing.
    public init(_ path: String) { self.path = FilePath(path) }

    /// The highest token stamped on the file so far; nil if none (or no file).
    public func currentToken() throws(FencingError) -> Int64? {
        let descriptor: FileDescriptor
        do throws(SystemCallError) {
            descriptor = try Syscalls.open(path, flags: O_RDONLY)
        } catch {
            if error.errno == .noSuchFileOrDirectory { return nil }
            throw .system(error.errno, path: path, doing: "opening")
        }
        defer { Syscalls.close(descriptor) }
        return try readStamp(descriptor)
    }

    /// Checks `token` against the file's stamp and, if it is not older, stamps it
    /// and runs `write` with the file open for reading and writing (created if
    /// missing, mode 0644 less the umask), all under an exclusive `flock()` of
    /// the file. The descriptor is positioned at the start; it is closed afterwards.
    ///
    /// - Throws: ``FencingError/Code/superseded`` (nothing written) when a larger
    ///   token is stamped: a newer holder has written, and this writer lost its
    ///   lock; a ``FencingError`` for a file system without user extended
    ///   attributes or a failing system call; otherwise what `write` throws.
    public func write<R, E: Error>(token: Int64, _ write: (FileDescriptor) throws(E) -> R) throws -> R {
        let descriptor: FileDescriptor
        do throws(SystemCallError) {
            descriptor = try Syscalls.open(path, flags: O_RDWR | O_CREAT)
        } catch {
            throw FencingError.system(error.errno, path: path, doing: "opening")
        }
        defer { Syscalls.close(descriptor) }
        do throws(SystemCallError) { try Syscalls.lockExclusively(descriptor) } catch {
            throw FencingError.system(error.errno, path: path, doing: "locking")
        }
        if let stamped = try readStamp(descriptor), stamped > token {
            throw FencingError(
                .superseded, path: path, offered: token, found: stamped,
                message: "refusing to write \(path) with fencing token \(token): token \(stamped) is stamped "
                    + "on it, so a newer holder of its lock has written since this writer's lock was lost; "
                    + "stop writing and check what this writer meant to write")
        }
        do throws(SystemCallError) {
            try Syscalls.setAttribute(descriptor, Self.attributeName, String(token))
        } catch {
            throw Self.attributeFailure(error.errno, path: path, doing: "stamping")
        }
        return try write(descriptor)
    }

    private func readStamp(_ descriptor: FileDescriptor) throws(FencingError) -> Int64? {
        let text: String?
        do throws(SystemCallError) {
            text = try Syscalls.attribute(descriptor, Self.attributeName)
        } catch {
            throw Self.attributeFailure(error.errno, path: path, doing: "reading the fencing token of")
        }
        guard let text else { return nil }
        guard let token = Int64(text) else {
            throw FencingError(
                .systemCallFailed, path: path, offered: nil, found: nil,
                message: "\(path) has \(Self.attributeName) = \"\(text)\", which is no fencing token; "
                    + "remove it (setfattr -x \(Self.attributeName) \(path)) if no writer uses it")
        }
        return token
    }

    private static func attributeFailure(_ error: Errno, path: FilePath, doing action: String) -> FencingError {
        if error == .notSupported || error.rawValue == 95 {
            return FencingError(
                .unsupported, path: path, offered: nil, found: nil,
                message: "\(action) \(path) failed: its file system keeps no user extended attributes "
                    + "(\(error)); put the data file on one that does (ext4, xfs, btrfs, tmpfs, NFS 4.2)")
        }
        return .system(error, path: path, doing: action)
    }
}

/// Why ``FencedDataFile`` refused or failed a write.
public struct FencingError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw value, stable for logging.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// A larger token is stamped on the file: this writer's lock was lost, and a newer holder wrote.
        public static let superseded = Code("superseded")
        /// The file system keeps no user extended attributes.
        public static let unsupported = Code("unsupported")
        /// A system call failed.
        public static let systemCallFailed = Code("systemCallFailed")

        /// The raw value.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// The data file.
    public let path: FilePath
    /// The token this writer offered, for ``Code/superseded``.
    public let offeredToken: Int64?
    /// The token found stamped on the file, for ``Code/superseded``.
    public let foundToken: Int64?
    /// What happened, to which file, and what to do.
    public let description: String

    init(_ code: Code, path: FilePath, offered: Int64?, found: Int64?, message: String) {
        self.code = code
        self.path = path
        self.offeredToken = offered
        self.foundToken = found
        self.description = message
    }

    static func system(_ error: Errno, path: FilePath, doing action: String) -> FencingError {
        FencingError(
            .systemCallFailed, path: path, offered: nil, found: nil,
            message: "\(action) \(path) failed: \(error); check that the file exists and is writable by this user")
    }
}
