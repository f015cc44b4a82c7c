#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RVFLock

/// COMMAND, run through the trampoline while this process holds the lock.
///
/// Everything here runs on the main thread, on purpose: Linux sends the
/// parent-death signal when the *thread* that spawned the child exits, and the
/// main thread lives exactly as long as rvf-lock.
struct LockedCommand {
    let command: [String]

    /// How COMMAND ended.
    enum Outcome {
        /// It ended on its own (or of a forwarded signal): the exit status to pass on.
        case finished(Int32)
        /// The lock was lost while it ran; it was sent SIGTERM and has ended.
        case lockLost(commandStatus: Int32)
    }

    /// Starts COMMAND and waits for it, relaying signals and watching the lock.
    func run(holding scope: LockScope) throws(CommandFailure) -> Outcome {
        let relay = try SignalRelay()
        let child = try spawnTrampoline(resetting: relay.signalsToReset)
        var lockLost = false
        while true {
            for signal in relay.wait(milliseconds: 100) where signal != SIGCHLD {
                kill(child, signal)
            }
            if let status = Self.reap(child) {
                return lockLost ? .lockLost(commandStatus: status) : .finished(status)
            }
            if !lockLost && !scope.isHeld {
                lockLost = true
                StandardError.line("the lock \(scope.lockFile) was removed or replaced while the command ran; "
                                   + "sending it SIGTERM: another writer may be writing to \(scope.dataFile) now")
                kill(child, SIGTERM)
            }
        }
    }

    /// The exit status of `child` if it has ended, as a shell reports it (128 + signal).
    private static func reap(_ child: pid_t) -> Int32? {
        var status: CInt = 0
        let result = waitpid(child, &status, WNOHANG)
        if result == 0 || (result == -1 && errno == EINTR) { return nil }
        guard result == child else { return ExitStatus.software }
        let signal = status & 0x7F
        if signal == 0 { return (status >> 8) & 0xFF }
        return ExitStatus.signalBase + signal
    }

    /// Spawns `rvf-lock _trampoline PID -- COMMAND...`, which arms the parent-death
    /// signal and then becomes COMMAND.
    private func spawnTrampoline(resetting signals: [CInt]) throws(CommandFailure) -> pid_t {
        // /proc/self/exe still names this program if its file was replaced or removed meanwhile.
        #if os(Linux)
        let executable = "/proc/self/exe"
        #else
        let executable = CommandLine.arguments[0]
        #endif
        let arguments = ["rvf-lock", TrampolineCommand.name, String(getpid()), "--"] + command
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in signals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var child: pid_t = 0
        let result = posix_spawn(&child, executable, nil, &attributes, argv, environ)
        guard result == 0 else {
            throw CommandFailure(ExitStatus.software,
                                 "cannot start \(command[0]) (spawning \(executable) failed: \(String(cString: strerror(result))))")
        }
        return child
    }
}
