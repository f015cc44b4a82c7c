#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRVFLockShims

/// The write end of the relay pipe, for the signal handlers.
///
/// A signal handler can capture nothing, so it reads a global. Safe without a
/// lock because it is written once, before any handler that reads it is
/// installed, and never changes afterwards.
nonisolated(unsafe) private var relayPipeWriteEnd: CInt = -1

/// Catches SIGINT, SIGTERM and SIGHUP (to forward them to COMMAND) and SIGCHLD
/// (to wake up when COMMAND ends), turning each into a byte on a pipe that the
/// main thread polls.
///
/// The self-pipe makes the process's handlers safe whichever thread the kernel
/// delivers a signal to (the library's heartbeat runs on threads of its own):
/// the handler only calls `write(2)`.
struct SignalRelay {
    /// Where caught signals arrive as bytes (non-blocking, close-on-exec).
    let readEnd: CInt
    /// The signals COMMAND must start with at their default action.
    let signalsToReset: [CInt]

    /// Installs the handlers.
    ///
    /// SIGINT and SIGHUP that rvf-lock inherited ignored (`nohup`, a background
    /// job of a non-interactive shell) stay ignored, for it and for COMMAND, as
    /// that convention wants; every other relayed signal starts at its default in COMMAND.
    init() throws(CommandFailure) {
        var ends: [CInt] = [-1, -1]
        guard rvf_pipe_cloexec_nonblock(&ends) == 0 else {
            throw CommandFailure(ExitStatus.software, "cannot create a pipe for relaying signals: \(String(cString: strerror(errno)))")
        }
        readEnd = ends[0]
        relayPipeWriteEnd = ends[1]

        var reset: [CInt] = [SIGPIPE, SIGQUIT, SIGCHLD]
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGCHLD] {
            if signal == SIGINT || signal == SIGHUP, Self.isIgnored(signal) { continue }
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = { signal, info, _ in
                // The terminal sends SIGINT to its whole foreground process group,
                // COMMAND included (SI_KERNEL); relaying it too would deliver it twice.
                if signal != SIGCHLD, let info, info.pointee.si_code == 0x80 /* SI_KERNEL */ { return }
                let savedErrno = errno
                var byte = UInt8(truncatingIfNeeded: signal)
                _ = write(relayPipeWriteEnd, &byte, 1)
                errno = savedErrno
            }
            // SA_RESTART: the library's threads must not see EINTR from a signal meant for COMMAND.
            action.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
            if signal != SIGCHLD { reset.append(signal) }
        }
        signalsToReset = reset

        // A parent may start rvf-lock with these signals blocked (test runners,
        // some daemons); the handlers must still run, on this thread at least.
        var relayed = sigset_t()
        sigemptyset(&relayed)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&relayed, signal) }
        pthread_sigmask(SIG_UNBLOCK, &relayed, nil)
    }

    private static func isIgnored(_ signal: CInt) -> Bool {
        var current = sigaction()
        sigaction(signal, nil, &current)
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 1 // SIG_IGN
    }

    /// Sleeps until a signal arrives or `milliseconds` pass, and returns the signals caught meanwhile.
    func wait(milliseconds: Int32) -> [CInt] {
        var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, milliseconds)
        var caught: [CInt] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(readEnd, &buffer, buffer.count)
            guard count > 0 else { break }
            caught += buffer[0..<count].map { CInt($0) }
        }
        return caught
    }
}
