import Glibc
package import SystemPackage

/// How a child's standard descriptor (0, 1 or 2) starts.
package enum SpawnedStream: Sendable {
    /// This process's own.
    case inherited
    /// None: the child starts with the descriptor closed.
    case closed
    /// `/dev/null`, for reading (standard input) or writing.
    case nullDevice
    /// A file opened for writing, created if missing (0644): appended to, or emptied first.
    case file(String, append: Bool)
    /// A copy of this process's descriptor (a pipe's end).
    case descriptor(CInt)
}

/// The one way the package's programs and tests start a process: `posix_spawn`
/// with the child's standard descriptors, environment and signal state said
/// explicitly. `rvf-lock selftest`'s helpers, the torture harness's workers and
/// the tests' `ChildProcess` start theirs with it. (`rvf-lock exec` starts
/// COMMAND from C, in its keeper: see `CRVFLockCommandShims`.)
package enum Spawn {
    /// Starts `executable` with `arguments` as its whole argument vector (the
    /// first is the name it sees as `argv[0]`), and returns its pid.
    ///
    /// - Parameters:
    ///   - environment: `NAME=value` entries; nil for this process's environment.
    ///   - input, output, error: how descriptors 0, 1 and 2 start, set up in that order.
    ///   - defaultSignals: signals the child starts with at their default action,
    ///     with no signal blocked (what a test runner or a shell blocked or ignored
    ///     must not carry over). Empty: the child inherits both as they are.
    ///   - newSession: in a session and process group of its own, away from any
    ///     terminal (`POSIX_SPAWN_SETSID`).
    /// - Throws: the error `posix_spawn` reports (the program is missing, cannot be run).
    package static func start(
        _ executable: String,
        arguments: [String],
        environment: [String]? = nil,
        input: SpawnedStream = .inherited,
        output: SpawnedStream = .inherited,
        error: SpawnedStream = .inherited,
        defaultSignals: [CInt] = [],
        newSession: Bool = false
    ) throws(Errno) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (slot, stream) in [(CInt(0), input), (1, output), (2, error)] {
            switch stream {
            case .inherited:
                break
            case .closed:
                posix_spawn_file_actions_addclose(&actions, slot)
            case .nullDevice:
                posix_spawn_file_actions_addopen(&actions, slot, "/dev/null", slot == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path, let append):
                let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                posix_spawn_file_actions_addopen(&actions, slot, path, flags, 0o644)
            case .descriptor(let descriptor):
                posix_spawn_file_actions_adddup2(&actions, descriptor, slot)
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags: CInt = 0
        if !defaultSignals.isEmpty {
            var emptyMask = sigset_t()
            sigemptyset(&emptyMask)
            posix_spawnattr_setsigmask(&attributes, &emptyMask)
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for signal in defaultSignals { sigaddset(&defaults, signal) }
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            flags |= CInt(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        }
        // POSIX_SPAWN_SETSID (0x80, glibc 2.26), which Swift's Glibc module does not import.
        if newSession { flags |= 0x80 }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }
        var child: pid_t = 0
        let result =
            if let envp {
                posix_spawn(&child, executable, &actions, &attributes, argv, envp)
            } else {
                posix_spawn(&child, executable, &actions, &attributes, argv, environ)
            }
        guard result == 0 else { throw Errno(rawValue: result) }
        return child
    }
}
