import RVFLock
import Testing

/// Options that cannot work are refused with a message naming the option, before
/// any file is touched; the heartbeat never runs faster than once a millisecond.
@Suite struct LockOptionsValidationTests {
    let sandbox = LockSandbox()

    static let unworkable: [(name: String, configure: @Sendable (inout LockOptions) -> Void)] = [
        ("heartbeatInterval", { $0.heartbeatInterval = .zero }),
        ("heartbeatInterval", { $0.heartbeatInterval = .seconds(-1) }),
        ("heartbeatInterval", { $0.heartbeatInterval = .nanoseconds(1) }),
        ("maximumPollInterval", { $0.maximumPollInterval = .zero }),
        ("maximumPollInterval", { $0.maximumPollInterval = .milliseconds(-5) }),
        ("sameHostStaleAfter", { $0.sameHostStaleAfter = .zero }),
        ("otherHostStaleAfter", { $0.otherHostStaleAfter = .seconds(-300) }),
    ]

    @Test(arguments: 0..<unworkable.count)
    func unworkableOptionsAreRefusedByEveryOperationBeforeAnyFileIsTouched(_ index: Int) throws {
        let (name, configure) = Self.unworkable[index]
        let lock = sandbox.lock(configure)
        let attempts: [(String, LockError?)] = [
            ("tryAcquire", LockError.caught { () throws(LockError) in try lock.tryAcquire() }),
            ("acquire", LockError.caught { () throws(LockError) in try lock.acquire(timeout: .zero) }),
            ("status", LockError.caught { () throws(LockError) in try lock.status() }),
            ("breakLock", LockError.caught { () throws(LockError) in try lock.breakLock() }),
        ]
        for (operation, error) in attempts {
            #expect(error?.code == .invalidOptions, "\(operation) with \(name): \(String(describing: error))")
            #expect(error?.description.contains("LockOptions.\(name)") == true, "\(String(describing: error))")
        }
        #expect(sandbox.directory.entries.isEmpty)
    }

    @Test func theHeartbeatIntervalInForceIsNeverShorterThanAMillisecond() {
        var options = LockOptions()
        options.heartbeatInterval = .zero
        #expect(options.effectiveHeartbeatInterval == LockOptions.shortestInterval)
        options.heartbeatInterval = nil
        options.sameHostStaleAfter = .nanoseconds(3)
        #expect(options.effectiveHeartbeatInterval == .milliseconds(1))
        options.sameHostStaleAfter = .seconds(30)
        #expect(options.effectiveHeartbeatInterval == .seconds(5))
    }

    @Test func theShortestAcceptedValuesWork() throws {
        let lock = sandbox.lock {
            $0.heartbeatInterval = LockOptions.shortestInterval
            $0.maximumPollInterval = LockOptions.shortestInterval
            $0.sameHostStaleAfter = .nanoseconds(1)
            $0.otherHostStaleAfter = .nanoseconds(1)
        }
        let handle = try lock.tryAcquire()
        try handle.release()
    }
}
