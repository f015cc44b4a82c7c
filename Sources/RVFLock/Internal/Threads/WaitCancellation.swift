import Glibc
import CRVFLockShims
import Synchronization
import SystemPackage

/// One wait's control, from any thread: ending it early (cancellation) interrupts
/// a wait in the kernel's queue (a blocking `flock`) and wakes a wait in
/// `poll(2)`; and it owns the wait's one waker (``waker()``), which whatever else
/// may end a sleep signals too (a file event, this process's line moving on).
///
/// `@unchecked Sendable` because of the C token pointer: the token is made for
/// this object alone, freed only in `deinit`, and every operation on it is
/// thread-safe (a mutex inside, and an atomic flag).
final class WaitCancellation: @unchecked Sendable {
    private let token: OpaquePointer
    /// Made on first use: most waits never poll, and a pipe costs microseconds.
    private let wake = Mutex<WakeSignal?>(nil)

    init() throws(SystemCallError) {
        guard let token = rvf_wait_token_create() else {
            throw SystemCallError(name: "malloc", errno: .noMemory)
        }
        self.token = token
    }

    deinit { rvf_wait_token_destroy(token) }

    var isCancelled: Bool { rvf_wait_token_is_cancelled(token) != 0 }

    func cancel() {
        rvf_wait_token_cancel(token)
        wake.withLock { $0?.signal() }
    }

    /// The wait's waker: readable once the wait is cancelled or anything else
    /// signals it, for a sleep in `poll(2)`, which rechecks why it woke. Nil if no
    /// pipe could be made (the sleep then ends by its timeout).
    func waker() -> WakeSignal? {
        wake.withLock { wake in
            if wake == nil {
                wake = try? WakeSignal()
                // Cancelled before the pipe existed: make it readable now.
                if isCancelled { wake?.signal() }
            }
            return wake
        }
    }

    /// The outcome of a wait in the kernel's queue.
    enum QueueOutcome {
        case granted
        case timedOut
        case cancelled
        /// No signal to interrupt the wait with: wait another way.
        case unavailable
    }

    /// Blocks in `flock(descriptor, operation)` until granted, `timeout` passes, or this is cancelled.
    ///
    /// ``QueueOutcome/unavailable`` when nothing could end the blocking call (see
    /// `rvf_flock_wait.h`): the caller must poll instead.
    func waitInKernelQueue(
        _ descriptor: FileDescriptor, operation: CInt, timeout: Duration?
    ) throws(SystemCallError) -> QueueOutcome {
        let nanoseconds = timeout.map { $0 <= .zero ? 0 : $0.nanoseconds } ?? UInt64.max
        SignalWatchdog.shared.enter()
        defer { SignalWatchdog.shared.leave() }
        switch rvf_flock_wait(descriptor.rawValue, operation, nanoseconds, token) {
        case CInt(RVF_FLOCK_WAIT_GRANTED): return .granted
        case CInt(RVF_FLOCK_WAIT_TIMED_OUT): return .timedOut
        case CInt(RVF_FLOCK_WAIT_CANCELLED): return .cancelled
        case CInt(RVF_FLOCK_WAIT_UNAVAILABLE): return .unavailable
        default: throw SystemCallError(name: "flock", errno: .init(rawValue: errno))
        }
    }
}

/// Looks, while waits are blocked in the kernel's queue, whether the host
/// program has installed its own handler on their signal (with `SA_RESTART` a
/// blocked `flock()` would then restart after that handler and never return);
/// `rvf_flock_wait_watchdog` then frees the blocked waits, which poll instead.
private final class SignalWatchdog: Sendable {
    static let shared = SignalWatchdog()
    /// How soon a takeover is noticed: a wait's timeout or cancellation is late by at most this.
    private static let interval = Duration.milliseconds(100)

    private struct State {
        /// A child forked during a wait inherits a count of waits it does not have.
        var owner = Syscalls.processID
        var waits = 0
        var timer: MonitorThread.TimerID?
        var monitor: MonitorThread?
    }

    private let state = Mutex(State())

    func enter() {
        state.withLock { state in
            if state.owner != Syscalls.processID { state = State() }
            state.waits += 1
            guard state.timer == nil, let monitor = try? MonitorThread.current() else { return }
            state.monitor = monitor
            state.timer = monitor.every(Self.interval) { [self] in tick() }
        }
    }

    /// The last wait to leave does not stop the watchdog: a waiter just granted the
    /// lock is on the way to taking it, and nothing should delay it. The watchdog's
    /// next tick, finding no wait, stops itself; a wait that starts before then finds
    /// it running.
    func leave() {
        state.withLock { state in
            if state.waits > 0 { state.waits -= 1 }
        }
    }

    private func tick() {
        let idle = state.withLock { state -> Bool in
            guard state.waits == 0, let timer = state.timer else { return false }
            state.monitor?.cancel(timer)
            state.timer = nil
            state.monitor = nil
            return true
        }
        if !idle { _ = rvf_flock_wait_watchdog() }
    }
}
