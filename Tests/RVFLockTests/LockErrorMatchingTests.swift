import RVFLock
import Testing

/// The documented ways to catch one kind of `LockError` compile, and match only their own code.
@Suite struct LockErrorMatchingTests {
    let sandbox = LockSandbox()

    static let allCodes: [LockError.Code] = [
        .busy, .timedOut, .heldByThisProcess, .cancelled, .lockLost, .takenOver, .notStale,
        .notARegularFile, .invalidPath, .invalidOptions, .systemCallFailed, .unsupportedFileSystem,
    ]

    /// The static properties of `LockError`, in the order of ``allCodes``: every code has one.
    static let staticProperties: [LockError.Code] = [
        LockError.busy, LockError.timedOut, LockError.heldByThisProcess, LockError.cancelled, LockError.lockLost,
        LockError.takenOver, LockError.notStale, LockError.notARegularFile, LockError.invalidPath,
        LockError.invalidOptions, LockError.systemCallFailed, LockError.unsupportedFileSystem,
    ]

    @Test func eachStaticPropertyIsItsCode() {
        #expect(Self.staticProperties == Self.allCodes)
        #expect(Set(Self.allCodes).count == Self.allCodes.count)
    }

    /// A busy error from a real attempt: the lock of a live writer on another host.
    func busyError() throws -> LockError {
        sandbox.plantLiveHolderOnAnotherHost()
        let error = try #require(LockError.caught { () throws(LockError) in try sandbox.lock().tryAcquire() })
        try #require(error.code == .busy, "\(error)")
        return error
    }

    @Test func catchLockErrorCodeMatchesAnyError() throws {
        let busy = try busyError()
        func fail() throws { throw busy }
        var caught = ""
        do {
            try fail()
        } catch LockError.timedOut {
            caught = "timedOut"
        } catch LockError.busy {
            caught = "busy"
        } catch {
            caught = "other: \(error)"
        }
        #expect(caught == "busy")
    }

    @Test func catchImplicitCodeMatchesTypedThrows() throws {
        let busy = try busyError()
        var caught = ""
        do throws(LockError) {
            throw busy
        } catch .timedOut {
            caught = "timedOut"
        } catch .busy {
            caught = "busy"
        } catch {
            caught = "other: \(error)"
        }
        #expect(caught == "busy")

        // The explicit form works with typed throws too.
        do throws(LockError) {
            throw busy
        } catch LockError.busy {
            caught = "explicit"
        } catch {
            caught = "other: \(error)"
        }
        #expect(caught == "explicit")
    }

    @Test func catchLockErrorHeldByThisProcessMatchesARealReentry() throws {
        let lock = sandbox.lock()
        var caught = ""
        try lock.withLock { _ in
            do {
                // The same thread's blocking call while it holds the lock: a real re-entry.
                try lock.withLock { _ in caught = "entered twice" }
            } catch LockError.heldByThisProcess {
                caught = "heldByThisProcess"
            } catch {
                caught = "other: \(error)"
            }
        }
        #expect(caught == "heldByThisProcess")
    }

    @Test func eachCodeMatchesItselfAndNothingElse() throws {
        let busy = try busyError()
        struct Unrelated: Error {}
        for code in Self.allCodes {
            #expect((code ~= busy) == (code == .busy), "\(code)")
            #expect((code ~= (busy as any Error)) == (code == .busy), "\(code)")
            #expect(!(code ~= (Unrelated() as any Error)), "\(code)")
        }
    }

    @Test func switchOnAnErrorMatchesCodes() throws {
        let busy = try busyError()
        let error: any Error = busy
        let name: String
        switch error {
        case LockError.lockLost: name = "lockLost"
        case LockError.busy: name = "busy"
        default: name = "other"
        }
        #expect(name == "busy")
    }

    @Test func catchLockErrorTimedOutFromAsyncWithLockWhoseBodyThrowsItsOwnErrors() async throws {
        struct BodyFailure: Error {}
        let lock = sandbox.lock()
        sandbox.plantLiveHolderOnAnotherHost()
        var caught = ""
        do {
            try await lock.withLock(timeout: .milliseconds(100)) { _ in throw BodyFailure() }
        } catch LockError.timedOut {
            caught = "timedOut"
        } catch {
            caught = "other: \(error)"
        }
        #expect(caught == "timedOut")
    }
}
