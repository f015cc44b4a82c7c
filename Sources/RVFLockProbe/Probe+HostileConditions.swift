#if canImport(Glibc)
import Glibc
#endif
import CRVFLockShims
import Dispatch
import RVFLock
import Synchronization
import SystemPackage

/// Modes for the hostile conditions of issue 14: no signal queue space, a host
/// that takes the waits' signal over, hundreds of async waits, `fork` without `exec`.
///
/// - `async-wait`: `try await lock.acquire(timeout:)` with `timeout-ms`; with `cancel-ms`, cancel
///   the task that long after it started. Prints `acquired`, `timeout` (exit 5) or `cancelled` (exit 8).
/// - `hijack`: a blocking `acquire(timeout: timeout-ms)` on another thread; once it waits in the
///   kernel's queue (`hijack-after-ms`), install a handler of the host's own, with `SA_RESTART`, on
///   the library's signal. Prints `hijacked SIGNAL`, then `timeout` (exit 5) or `acquired`, then
///   `handler-runs N`.
/// - `hold-many`: take the locks of `count` data files `FILE.0` ... and print `acquired-all`; hold
///   them until standard input closes (`stdin=1`), then release them and print `released`.
/// - `async-many`: `count` concurrent `async` acquisitions of `FILE.0` ... with `timeout-ms`, while
///   the host runs `dispatch-items` work items on Dispatch's global queue: prints
///   `dispatch-done waits-ended=BOOL` when those have all run (whether any wait had ended by
///   then), then `waits timeout=N other=M together=K` once every wait ended, K being how many
///   began to wait before any had ended.
/// - `fork`: take the lock, fork; the child (which must not hold it) tries to release and check the
///   parent's lock and prints `child-release CODE`, `child-check CODE`, `child-isHeld BOOL`,
///   `child-try CODE`; the parent then prints `child-exit N`, checks its lock (`parent-check ok`),
///   waits for a heartbeat (`parent-heartbeat ok`), releases and prints `released`.
extension Probe {
    func asyncWait() -> Int32 {
        let lock = self.lock
        let timeout = Duration.milliseconds(integer("timeout-ms") ?? 10_000)
        let cancelAfter = integer("cancel-ms")
        let outcome = runAsync { () async -> String in
            let task = Task { () async -> String in
                do throws(LockError) {
                    let handle = try await lock.acquire(timeout: timeout)
                    try handle.release()
                    return "acquired"
                } catch {
                    switch error.code {
                    case .timedOut: return "timeout"
                    case .cancelled: return "cancelled"
                    default: return "error \(error.code) \(error)"
                    }
                }
            }
            if let cancelAfter {
                try? await Task.sleep(for: .milliseconds(cancelAfter))
                task.cancel()
            }
            return await task.value
        }
        say(outcome)
        switch outcome {
        case "acquired": return 0
        case "timeout": return 5
        case "cancelled": return 8
        default: return 1
        }
    }

    func hijack() -> Int32 {
        let lock = self.lock
        let timeout = Duration.milliseconds(integer("timeout-ms") ?? 2_000)
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<String>("")
        Thread.detach {
            do throws(LockError) {
                let handle = try lock.acquire(timeout: timeout)
                outcome.withLock { $0 = "acquired" }
                try handle.release()
            } catch {
                outcome.withLock { $0 = error.code == .timedOut ? "timeout" : "error \(error.code) \(error)" }
            }
            done.signal()
        }
        usleep(UInt32((integer("hijack-after-ms") ?? 300) * 1000))
        let signal = rvf_flock_wait_signal()
        guard signal != 0 else {
            say("no-signal")
            return 1
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in HijackCounter.runs.add(1, ordering: .relaxed) }
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, nil)
        say("hijacked \(signal)")
        done.wait()
        let result = outcome.withLock { $0 }
        say(result)
        say("handler-runs \(HijackCounter.runs.load(ordering: .relaxed))")
        return result == "timeout" ? 5 : (result == "acquired" ? 0 : 1)
    }

    func holdMany() throws -> Int32 {
        Self.raiseDescriptorLimit()
        let count = integer("count") ?? 100
        var handles: [LockScope] = []
        var owned: [Owned] = []
        for index in 0..<count {
            let lock = WriterLock(dataFile: FilePath(file.string + ".\(index)"), options: self.lock.options)
            let handle = try lock.tryAcquire()
            handles.append(handle.scope)
            owned.append(Owned(handle))
        }
        say("acquired-all")
        var byte: UInt8 = 0
        while read(0, &byte, 1) > 0 {}
        for handle in owned { try handle.release() }
        say("released")
        return 0
    }

    func asyncMany() -> Int32 {
        Self.raiseDescriptorLimit()
        let count = integer("count") ?? 100
        let items = integer("dispatch-items") ?? 64
        let timeout = Duration.milliseconds(integer("timeout-ms") ?? 3_000)
        let options = lock.options
        let base = file.string
        let anyEnded = Flag()
        let together = Counter()
        let report = runAsync { () async -> String in
            await withTaskGroup(of: String.self) { group in
                for index in 0..<count {
                    group.addTask {
                        let lock = WriterLock(dataFile: FilePath(base + ".\(index)"), options: options)
                        defer { anyEnded.set() }
                        let began = Flag()
                        do throws(LockError) {
                            let handle = try await lock.acquire(timeout: timeout) { _ in
                                guard !began.isSet else { return }
                                began.set()
                                if !anyEnded.isSet { together.increment() }
                            }
                            try handle.release()
                            return "acquired"
                        } catch {
                            return error.code == .timedOut ? "timeout" : "\(error.code)"
                        }
                    }
                }
                // Meanwhile, the host's own work on Dispatch.
                try? await Task.sleep(for: .milliseconds(300))
                let finished = DispatchGroup()
                for _ in 0..<items {
                    DispatchQueue.global().async(group: finished) { usleep(1_000) }
                }
                let said = Mutex(false)
                finished.notify(queue: .global()) {
                    said.withLock { _ in self.say("dispatch-done waits-ended=\(anyEnded.isSet)") }
                }
                var timeouts = 0
                var other: [String] = []
                for await outcome in group {
                    if outcome == "timeout" { timeouts += 1 } else { other.append(outcome) }
                }
                // The Dispatch work may only now get its threads: wait for it before reporting.
                finished.wait()
                said.withLock { _ in }
                let began = together.value
                return "waits timeout=\(timeouts) other=\(other.count) together=\(began)"
                    + (other.isEmpty ? "" : " " + other.prefix(3).joined(separator: ","))
            }
        }
        say(report)
        return 0
    }

    func forkWhileHolding() throws -> Int32 {
        let handle = try lock.tryAcquire()
        say("acquired \(getpid())")
        let scope = handle.scope
        // The child's first writer id of its own, for the parent to compare with its next.
        let other = WriterLock(dataFile: FilePath(file.string + ".other"))
        var nonces: [CInt] = [-1, -1]
        guard pipe(&nonces) == 0 else {
            say("pipe-failed \(errno)")
            return 1
        }
        let child = fork()
        if child == 0 {
            if let otherHandle = try? other.tryAcquire() {
                var nonce = otherHandle.writerID.high
                _ = write(nonces[1], &nonce, 8)
                try? otherHandle.release()
            }
            let release: LockError?
            do throws(LockError) {
                try handle.release()
                release = nil
            } catch {
                release = error
            }
            say("child-release \(release.map { "\($0.code)" } ?? "none")")
            let check = caught { () throws(LockError) in try scope.checkHeld() }
            say("child-check \(check.map { "\($0.code)" } ?? "none")")
            say("child-isHeld \(scope.isHeld)")
            let attempt = caught { () throws(LockError) in try self.lock.tryAcquire() }
            say("child-try \(attempt.map { "\($0.code)" } ?? "none")")
            _exit(0)
        }
        var status: CInt = 0
        _ = waitpid(child, &status, 0)
        say("child-exit \((status >> 8) & 0xFF)")
        close(nonces[1])
        var childNonce: UInt64 = 0
        let nonceBytes = read(nonces[0], &childNonce, 8)
        close(nonces[0])
        let parentOther = try other.tryAcquire()
        // A stream of writer nonces copied into the child would give it the parent's next one.
        say(nonceBytes != 8 ? "child-nonce none" : childNonce == parentOther.writerID.high ? "nonce-repeated" : "nonces-differ")
        try parentOther.release()
        try handle.checkHeld()
        say("parent-check ok")
        let before = handle.record.timestampNanoseconds
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while handle.record.timestampNanoseconds == before && clock.now < deadline { usleep(10_000) }
        say(handle.record.timestampNanoseconds != before ? "parent-heartbeat ok" : "parent-heartbeat none")
        try handle.release()
        say("released")
        return 0
    }

    /// Runs `body` in a task and blocks this (synchronous) main thread until it returns.
    private func runAsync(_ body: @escaping @Sendable () async -> String) -> String {
        let result = Mutex<String>("")
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await body()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }

    /// Hundreds of locks need more descriptors than the usual soft limit of 1024.
    static func raiseDescriptorLimit() {
        var limit = rlimit()
        let files = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(files, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(files, &limit)
    }
}

/// A held lock kept in an array: a `LockHandle` is noncopyable, so it is held here
/// in a class, the pattern for storing one (released explicitly, or on deinit).
private final class Owned {
    private var handle: LockHandle?
    init(_ handle: consuming LockHandle) { self.handle = Optional(handle) }
    func release() throws(LockError) { try handle.take()?.release() }
}

/// The LockError `body` throws, or nil.
private func caught<T: ~Copyable>(_ body: () throws(LockError) -> T) -> LockError? {
    do throws(LockError) {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

private final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

private enum HijackCounter {
    static let runs = Atomic<Int>(0)
}

private enum Thread {
    /// A plain thread for the blocking call under test (the probe is the host program here).
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            // Handed from the creating thread to the new one, used only there.
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(
            &thread, nil,
            { context in
                Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, box)
        pthread_detach(thread)
    }
}
