import Synchronization

/// What runs once a hold is found lost: the handlers callers registered (`onLoss`),
/// run once, on whichever thread finds the loss first.
///
/// The lock file's holder (``HeldLock``) and RVFLockEtcd's lease keeper use it
/// alike. A handler added after the loss runs at once, on the adding thread;
/// removing one waits out a run of it already under way, so that its owner may
/// then end the life of whatever the handler uses.
package final class LossHandlers: Sendable {
    private let fired = Atomic<Bool>(false)
    private let registry = Mutex<Registry>(Registry())
    /// Held while the handlers are taken out and run (see ``remove(_:)``).
    private let running = Mutex<Void>(())

    private struct Registry {
        var handlers: [(id: UInt64, handler: @Sendable () -> Void)] = []
        var nextID: UInt64 = 0
    }

    package init() {}

    /// Whether the loss was found (``fire(announcing:)`` ran).
    package var hasFired: Bool { fired.load(ordering: .acquiring) }

    /// The first call only: runs `announce`, then every handler, once. Returns
    /// whether this call was the first.
    @discardableResult
    package func fire(announcing announce: () -> Void = {}) -> Bool {
        guard !fired.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        announce()
        running.withLock { _ in
            let handlers = registry.withLock { registry in
                defer { registry.handlers = [] }
                return registry.handlers.map(\.handler)
            }
            for handler in handlers { handler() }
        }
        return true
    }

    /// Runs `handler` once when the loss is found (at once if it was); returns the
    /// id to remove it by, nil if it ran already.
    package func add(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        let id: UInt64? = registry.withLock { registry in
            guard !fired.load(ordering: .acquiring) else { return nil }
            let id = registry.nextID
            registry.nextID += 1
            registry.handlers.append((id, handler))
            return id
        }
        if id == nil { handler() }
        return id
    }

    /// Removes a handler; if it is running now, returns only once it has finished.
    /// A handler must not call this.
    package func remove(_ id: UInt64?) {
        guard let id else { return }
        running.withLock { _ in
            registry.withLock { $0.handlers.removeAll { $0.id == id } }
        }
    }

    /// Forgets every handler without running it: the hold ended without a loss.
    package func removeAll() {
        registry.withLock { $0.handlers = [] }
    }
}
