import FoundationEssentials
import Logging
import Synchronization

/// The first place in an etcd lock's line: a key attached to a lease that this
/// process keeps alive. The etcd half of an ``EtcdWriterLock``; most callers
/// use `withLock`, which takes this and then the lock file.
///
/// While it is held, a keep-alive renews the lease every third of its TTL and a
/// watch on the key notices its deletion. The lease is lost (``isHeld`` turns
/// false, the loss handlers run) when the cluster says it is gone, when the key
/// is deleted, or when no keep-alive has been answered for nine tenths of the
/// TTL: before the cluster could give the lock to anyone else.
public final class EtcdLease: Sendable {
    /// The key (`rvf-lock//srv/data.rvf/694d81e3b1a2c005`).
    public let key: String
    /// The key's create revision: a number the cluster gives out once, larger
    /// than that of every earlier holder of the lock (of any key, in fact).
    /// Stamp it on what you write (``FencedDataFile``), so that a holder paused
    /// past its lease cannot overwrite its successor's work.
    public let fencingToken: Int64
    /// The lease's TTL: how long the cluster keeps the key once renewals stop.
    public var ttl: Duration { keeper.ttl }
    /// The lease id, as etcd numbers it.
    public var leaseID: Int64 { keeper.id }

    let keeper: LeaseKeeper
    private let gateway: EtcdGateway
    private let watchTask = Mutex<Task<Void, Never>?>(nil)
    private let released = Atomic<Bool>(false)
    /// The release's deletion, encoded by ``prepareRelease()``.
    private let encodedDeletion = Mutex<[UInt8]?>(nil)

    /// A lease whose key is first in line; `lineWatch`, the watch that saw it become
    /// first, goes on as the watch of the key.
    init(key: String, fencingToken: Int64, keeper: LeaseKeeper, gateway: EtcdGateway, continuing lineWatch: LineWatch? = nil) {
        self.key = key
        self.fencingToken = fencingToken
        self.keeper = keeper
        self.gateway = gateway
        let task = Task { [weak self] () async -> Void in await self?.watchKey(continuing: lineWatch) }
        watchTask.withLock { $0 = task }
    }

    deinit {
        // A lease dropped without release(): its key goes when the lease expires, or
        // at once if the revocation below reaches the cluster. Not through self, which
        // is going away: the revocation needs only the keeper and the gateway.
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        watchTask.withLock { $0 }?.cancel()
        Self.revokeInBackground(keeper: keeper, gateway: gateway)
    }

    /// False once the lease or its key was found lost, or after release.
    public var isHeld: Bool { !keeper.isLost && !released.load(ordering: .acquiring) }

    /// Why the lease was lost, once it was.
    public var lossReason: String? { keeper.lossReason }

    /// Calls `handler` once, on a thread of the concurrency pool, when the lease
    /// is found lost (at once if it already was). Nothing is called after release.
    ///
    /// - Returns: an id for ``removeLossHandler(_:)``; nil if the handler already ran.
    @discardableResult
    public func onLoss(_ handler: @escaping @Sendable () -> Void) -> UInt64? {
        keeper.onLoss(handler)
    }

    /// Removes a loss handler; if it is running now, returns only once it has
    /// finished, so that the caller may end the life of whatever it uses.
    /// A handler must not call this.
    public func removeLossHandler(_ id: UInt64?) {
        keeper.removeLossHandler(id)
    }

    /// Gives up the first place: deletes the key, which wakes the next writer in
    /// line at once, then revokes the lease (as `etcdctl lock` does: a deletion
    /// is committed sooner than a revocation, measured here). If the cluster
    /// cannot be reached, the key goes when the lease expires, at most ``ttl`` from now.
    ///
    /// - Parameter afterKeyDeleted: called once the deletion was answered (or failed),
    ///   before the revocation: the moment the next writer can have the lock.
    public func release(afterKeyDeleted: (@Sendable () async -> Void)? = nil) async {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // Stopped first, so that the watch, which sees the deletion, does not call it a loss.
        keeper.stop()
        do throws(EtcdLockError) {
            var deletion = encodedDeletion.withLock { $0 } ?? []
            if deletion.isEmpty { deletion = try gateway.encode(deletionRequest) }
            let _: TxnResponse = try await gateway.call("/v3/kv/txn", encoded: deletion, deadline: .now + keeper.ttl)
        } catch {
            // The revocation below, or the lease's expiry, removes it.
        }
        // Only now: on a single event loop, closing the watch's connection first would
        // delay the deletion, which the next writer waits for.
        watchTask.withLock { $0 }?.cancel()
        await afterKeyDeleted?()
        await Self.revoke(keeper: keeper, gateway: gateway)
    }

    /// The release's deletion of the key: only if it is still this lease's key, never
    /// another writer's under the same name.
    private var deletionRequest: TxnRequest {
        TxnRequest(
            compare: [Compare(key: Data(utf8Of: key), create_revision: EtcdInt64(fencingToken))],
            success: [RequestOp(request_delete_range: DeleteRangeRequest(key: Data(utf8Of: key)))],
            failure: [])
    }

    /// Encodes the release's deletion now, for a holder with time to spare (while its
    /// command runs): in a process that has not encoded one yet, the first encoding
    /// looks up the types' metadata and conformances at run time, which a profile of
    /// the release found to be a fifth of its CPU between reading `release` and
    /// sending the deletion, on the handoff's path.
    package func prepareRelease() {
        guard let encoded = try? gateway.encode(deletionRequest) else { return }
        encodedDeletion.withLock { $0 = encoded }
    }

    private static func revoke(keeper: LeaseKeeper, gateway: EtcdGateway) async {
        keeper.stop()
        do throws(EtcdLockError) {
            let _: LeaseRevokeResponse = try await gateway.call(
                "/v3/lease/revoke", LeaseIDRequest(ID: EtcdInt64(keeper.id)), deadline: .now + keeper.ttl)
        } catch {
            // The lease is gone already (expired or revoked by another), or the
            // cluster is away: either way the key goes within the TTL.
        }
        await gateway.shutdown()
    }

    private static func revokeInBackground(keeper: LeaseKeeper, gateway: EtcdGateway) {
        Task { await revoke(keeper: keeper, gateway: gateway) }
    }

    /// Watches the key for its deletion (by anyone, or by the lease's end) from
    /// the revision that created it: a deletion at any time since is a loss,
    /// even one that happened while the watch was being set up again.
    ///
    /// `lineWatch`, when the key became first while waiting, watches it already (from
    /// the revision after the last look, which saw it): it is used until it ends.
    private func watchKey(continuing lineWatch: LineWatch?) async {
        var fromRevision = fencingToken + 1
        let keyBytes = Data(utf8Of: key)
        var compacted = false
        var watching = true
        if let lineWatch {
            switch await lineWatch.guardEnd() {
            case .ownKeyDeleted:
                keeper.markLost("its key \(key) was deleted")
                return
            case .broken(let wasCompacted):
                compacted = wasCompacted
            case nil:
                if Task.isCancelled { return }
            }
            watching = false
        }
        while !Task.isCancelled && isHeld {
            if watching {
                compacted = false
                await watchOnce(keyBytes, from: fromRevision, compacted: &compacted)
                if Task.isCancelled { return }
            }
            watching = true
            guard isHeld, !Task.isCancelled else { return }
            // The stream ended (a member went away) or history was compacted: look at
            // the key itself, and watch again from what that look saw.
            do throws(EtcdLockError) {
                let now: RangeResponse = try await gateway.call("/v3/kv/range", RangeRequest(key: keyBytes))
                guard let found = now.kvs?.first, found.createRevision == fencingToken else {
                    keeper.markLost("its key \(key) no longer exists")
                    return
                }
                if compacted, let revision = now.header?.revision?.value { fromRevision = revision + 1 }
            } catch {
                // Unreachable: the keep-alive decides when that becomes a loss.
                try? await Task.sleep(for: LeaseKeeper.retryPause)
            }
        }
    }

    /// One watch of the key from `revision`, until it is deleted (a loss), the stream
    /// ends or breaks, or history was compacted (`compacted` is set).
    private func watchOnce(_ keyBytes: Data, from revision: Int64, compacted: inout Bool) async {
        do throws(EtcdLockError) {
            let request = WatchCreateRequest(
                create_request: .init(key: keyBytes, start_revision: EtcdInt64(revision), filters: ["NOPUT"]))
            try await gateway.stream("/v3/watch", request) { (line) throws(EtcdLockError) -> Bool in
                guard let answer = try? JSONDecoder().decode(WatchLine.self, from: line), let result = answer.result else {
                    throw EtcdLockError(.unexpectedResponse, "watch of \(key): \(EtcdGateway.excerpt(Array(line)))")
                }
                if (result.compact_revision?.value ?? 0) > 0 {
                    compacted = true
                    return true
                }
                if result.canceled == true {
                    throw EtcdLockError(.unavailable, "the cluster cancelled the watch of \(key): \(result.cancel_reason ?? "")")
                }
                if result.events?.contains(where: { $0.type == "DELETE" }) == true {
                    keeper.markLost("its key \(key) was deleted")
                    return true
                }
                return false
            }
        } catch {
            // Looked at again by the caller, unless cancelled.
        }
    }
}
