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
/// explicitly. `rvf-lock selftest`'s helpers and the benchmarks' workers (through
/// ``PipedChild``), the benchmarks' timed commands, the torture harness's workers
/// and the tests' `ChildProcess` start theirs with it. (`rvf-lock exec` starts COMMAND from C, in its keeper: see
/// `CRVFLockCommandShims`.)
package enum Spawn {
    /// A command to start: `Spawn.Command(...).start()` starts it once. Its argument
    /// and environment strings, descriptor set-up and signal state are built when it
    /// is made, so that one kept and started again and again (a benchmark timing a run
    /// from ``start()`` to its exit) costs the process, not the preparation.
    package final class Command {
        private let executable: String
        private let argv: [UnsafeMutablePointer<CChar>?]
        private let envp: [UnsafeMutablePointer<CChar>?]?
        private var actions = posix_spawn_file_actions_t()
        private var attributes = posix_spawnattr_t()

        /// Prepares `executable` with `arguments` as its whole argument vector (the
        /// first is the name it sees as `argv[0]`).
        ///
        /// - Parameters:
        ///   - environment: `NAME=value` entries; nil for this process's environment
        ///     (as it is at each start).
        ///   - input, output, error: how descriptors 0, 1 and 2 start, set up in that order.
        ///   - defaultSignals: signals the child starts with at their default action,
        ///     with no signal blocked (what a test runner or a shell blocked or ignored
        ///     must not carry over). Empty: the child inherits both as they are.
        ///   - newSession: in a session and process group of its own, away from any
        ///     terminal (`POSIX_SPAWN_SETSID`).
        package init(
            _ executable: String,
            arguments: [String],
            environment: [String]? = nil,
            input: SpawnedStream = .inherited,
            output: SpawnedStream = .inherited,
            error: SpawnedStream = .inherited,
            defaultSignals: [CInt] = [],
            newSession: Bool = false
        ) {
            self.executable = executable
            argv = arguments.map { strdup($0) } + [nil]
            envp = environment.map { $0.map { strdup($0) } + [nil] }
            posix_spawn_file_actions_init(&actions)
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

            posix_spawnattr_init(&attributes)
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
        }

        deinit {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
            for pointer in argv { free(pointer) }
            for pointer in envp ?? [] { free(pointer) }
        }

        /// Starts one run and returns its pid.
        ///
        /// - Throws: the error `posix_spawn` reports (the program is missing, cannot be run).
        package func start() throws(Errno) -> Int32 {
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
}

extension Spawn {
    /// A pipe for a child's standard stream: blocking, both ends close-on-exec, so that
    /// no other child inherits either end and keeps it open past this child's exit. The
    /// child gets its end through ``SpawnedStream/descriptor(_:)`` (a `dup2`, which it
    /// keeps across exec); close that end here once the child has started.
    package static func pipe() throws(Errno) -> (readable: CInt, writable: CInt) {
        var ends: [CInt] = [-1, -1]
        // pipe2 is not imported into Swift; fcntl right after is as good from one spawning thread.
        guard Glibc.pipe(&ends) == 0 else { throw Errno(rawValue: errno) }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        return (ends[0], ends[1])
    }

    /// Waits until `pid` ends, resuming after signals, and returns its exit code, or
    /// 128 plus the number of the signal that ended it (as a shell reports it).
    package static func waitForExit(_ pid: Int32) -> Int32 {
        var status: CInt = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Runs `executable` to its end, standard input from `/dev/null`, standard output and
    /// error into `log` (emptied first; `/dev/null` when nil), and returns what
    /// ``waitForExit(_:)`` returns. `arguments` is the whole argument vector, as for a
    /// ``Command``.
    package static func run(_ executable: String, arguments: [String], log: String? = nil) throws(Errno) -> Int32 {
        let destination: SpawnedStream = log.map { .file($0, append: false) } ?? .nullDevice
        // Both streams open the log on their own with O_TRUNC: the second open would empty what
        // the child wrote through the first, so standard error goes to a copy of standard output.
        let pid = try Command(executable, arguments: arguments, input: .nullDevice, output: destination, error: .descriptor(1)).start()
        return waitForExit(pid)
    }

    /// The absolute path of the program `name`, from the folders of `PATH` and then
    /// `extraDirectories` (e.g. `~/.cargo/bin`, which a non-login shell may not have on
    /// `PATH`); nil where none has it.
    package static func executable(named name: String, extraDirectories: [String] = []) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + extraDirectories {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
