import FoundationEssentials
import Metrics
import RVFLock

// Taking the line's first place: etcd's lock recipe (concurrency.Mutex), with
// the checks folded into one transaction per look, and a watch of the whole
// line that counts the keys ahead down, so that a handoff costs the waiter no
// round trip after the watch tells it the last key ahead is gone, and that goes
// on as the new holder's watch of its own key (LineWatch). The watch starts where
// its member stands, not at a past revision, which etcd would catch up with only
// every 100 ms; when it starts after the look, the waiter looks once more.

extension EtcdWriterLock {
    static let acquisitions = Counter(label: "rvflock_etcd_acquisitions")
    static let waits = Metrics.Timer(label: "rvflock_etcd_wait")

    func acquireLease(
        deadline: ContinuousClock.Instant?, waiting: Bool, onWaiting: (@Sendable (EtcdLockHolder) -> Void)?
    ) async throws -> EtcdLease {
        let started = ContinuousClock.now
        // The metrics' first use makes them (a lazy global each): here, rather than between
        // the lease and `held` on a handoff's path.
        _ = (Self.acquisitions, Self.waits)
        let gateway = try EtcdGateway(options: etcd)
        let keeper: LeaseKeeper
        do {
            var grantSentAt = ContinuousClock.now
            let grant: LeaseGrantResponse = try await retrying(until: deadline) { () throws(EtcdLockError) in
                grantSentAt = ContinuousClock.now
                return try await gateway.call(
                    "/v3/lease/grant", LeaseGrantRequest(TTL: EtcdInt64(etcd.leaseTTLSeconds)), deadline: deadline)
            }
            guard let id = grant.ID?.value, id != 0, (grant.error ?? "").isEmpty else {
                throw EtcdLockError(
                    .unavailable,
                    "the etcd cluster at \(gateway.endpointList) granted no lease: "
                        + "\(grant.error ?? "no lease id in its answer")")
            }
            keeper = LeaseKeeper(
                id: id, ttl: .seconds(grant.TTL?.value ?? etcd.leaseTTLSeconds),
                grantSentAt: grantSentAt, gateway: gateway, logger: etcd.logger)
        } catch {
            await gateway.shutdown()
            throw translate(error, deadline: deadline)
        }
        do {
            let lease = try await queue(keeper: keeper, gateway: gateway, deadline: deadline, waiting: waiting, onWaiting: onWaiting)
            Self.acquisitions.increment()
            Self.waits.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            return lease
        } catch {
            // Whatever went wrong, the place in line goes: revoking deletes the key.
            keeper.stop()
            let _: LeaseRevokeResponse? = try? await gateway.call(
                "/v3/lease/revoke", LeaseIDRequest(ID: EtcdInt64(keeper.id)), deadline: .now + etcd.requestTimeout)
            await gateway.shutdown()
            throw translate(error, deadline: deadline)
        }
    }

    /// Puts this writer's key, then waits until no key older than it is left.
    private func queue(
        keeper: LeaseKeeper, gateway: EtcdGateway, deadline: ContinuousClock.Instant?, waiting: Bool,
        onWaiting: (@Sendable (EtcdLockHolder) -> Void)?
    ) async throws -> EtcdLease {
        let prefix = keyPrefix
        let key = prefix + keeper.hexID
        let keyBytes = Data(utf8Of: key)
        let details = EtcdLockHolder.Details(
            hostname: (try? Syscalls.hostname()) ?? "", pid: Syscalls.processID, program: Self.programName,
            file: fileLock.dataFile.string, since_ns: Syscalls.wallClockNanoseconds())
        let value = (try? JSONEncoder().encode(details)) ?? Data()
        let range = (key: Data(utf8Of: prefix), end: KeyRange.end(ofPrefix: prefix))
        // Every key of the line, oldest first: who holds, who is ahead of this writer.
        let wholeLine = RequestOp(
            request_range: RangeRequest(
                key: range.key, range_end: range.end, limit: EtcdInt64(Self.lineLimit), sort_order: "ASCEND",
                sort_target: "CREATE"))

        // Create the key unless it exists (a retried request may have created it already), and look
        // at the line in the same transaction: a writer that finds none ahead holds after one round trip.
        let put: TxnResponse = try await retrying(until: deadline) { () throws(EtcdLockError) in
            try await gateway.call(
                "/v3/kv/txn",
                TxnRequest(
                    compare: [Compare(key: keyBytes, create_revision: EtcdInt64(0))],
                    success: [RequestOp(request_put: PutRequest(key: keyBytes, value: value, lease: EtcdInt64(keeper.id))), wholeLine],
                    failure: [RequestOp(request_range: RangeRequest(key: keyBytes)), wholeLine]), deadline: deadline)
        }
        let token: Int64
        if put.succeeded == true {
            guard let revision = put.header?.revision?.value else { throw unexpected("no revision in the answer to creating \(key)") }
            token = revision
        } else {
            guard let existing = put.responses?.first?.response_range?.kvs?.first else {
                throw unexpected("\(key) neither created nor found")
            }
            token = existing.createRevision
        }

        var look = put
        var startedWaiting = false
        // A watch kept across the look it asked for (it started after the last one).
        var keptWatch: LineWatch?
        while true {
            try Task.checkCancellation()
            if keeper.isLost { throw placeLost(keeper) }
            guard let revision = look.header?.revision?.value, let answer = look.responses?.dropFirst().first?.response_range else {
                throw unexpected("no revision or no line in the answer to a look at \(prefix)")
            }
            let line = Line(answer, token: token, own: keyBytes)
            guard let ahead = line.justAhead else {
                keptWatch?.cancel()
                return EtcdLease(key: key, fencingToken: token, keeper: keeper, gateway: gateway)
            }
            // Report the holder, not merely the writer just ahead.
            guard waiting else { throw Busy(holder: EtcdLockHolder(line.holder ?? ahead), timedOut: false) }
            let watch: LineWatch
            if let keptWatch {
                watch = keptWatch
                watch.recount(ahead: line.ahead, allKnown: line.allKnown, seenThrough: revision)
            } else {
                watch = LineWatch(
                    gateway: gateway, range: range, own: line.own, ahead: line.ahead, allKnown: line.allKnown,
                    seenThrough: revision)
            }
            keptWatch = nil
            if !startedWaiting {
                // After the watch is asked for, so that the renewal does not delay it.
                startedWaiting = true
                keeper.renewEarly()
            }
            onWaiting?(EtcdLockHolder(ahead))
            switch await waitForTurn(watch, keeper: keeper, deadline: deadline) {
            case .first:
                // No key was ahead any more at the revision of the last deletion, and this one was
                // not deleted before it (the watch's events come in revision order): the first place,
                // without asking again. A deletion of this key after it is the lease's loss, which
                // the same watch goes on to look for.
                if keeper.isLost { throw placeLost(keeper) }
                return EtcdLease(key: key, fencingToken: token, keeper: keeper, gateway: gateway, continuing: watch)
            case .startedAfterLook:
                keptWatch = watch
                look = try await lookAgain(
                    at: keyBytes, token: token, line: wholeLine, deadline: deadline, gateway: gateway, keeper: keeper)
            case .lookAgain:
                watch.cancel()
                look = try await lookAgain(
                    at: keyBytes, token: token, line: wholeLine, deadline: deadline, gateway: gateway, keeper: keeper)
            case .ownKeyDeleted, .leaseLost:
                throw placeLost(keeper)
            case .deadlinePassed:
                throw Busy(holder: EtcdLockHolder(ahead), timedOut: true)
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    /// Is this writer's key (created at `token`) still there, and who is ahead of it now?
    private func lookAgain(
        at keyBytes: Data, token: Int64, line wholeLine: RequestOp, deadline: ContinuousClock.Instant?, gateway: EtcdGateway,
        keeper: LeaseKeeper
    ) async throws -> TxnResponse {
        let look: TxnResponse = try await retrying(until: deadline) { () throws(EtcdLockError) in
            try await gateway.call(
                "/v3/kv/txn",
                TxnRequest(
                    compare: [Compare(key: keyBytes, create_revision: EtcdInt64(token))],
                    success: [RequestOp(request_range: RangeRequest(key: keyBytes)), wholeLine], failure: []),
                deadline: deadline)
        }
        guard look.succeeded == true else { throw placeLost(keeper) }
        return look
    }

    /// This program's name, as the key tells others who waits or holds.
    static let programName: String? = {
        guard let first = CommandLine.arguments.first, !first.isEmpty else { return nil }
        return String(first.split(separator: "/").last ?? Substring(first))
    }()

    /// Runs `call` again, every 200 ms, while it fails in a way that may pass (an
    /// election, a member restarting), until `deadline` (without one, for twice the
    /// lease TTL); a refused connection or TLS handshake fails at once.
    private func retrying<R>(
        until deadline: ContinuousClock.Instant?, _ call: () async throws(EtcdLockError) -> R
    ) async throws(EtcdLockError) -> R {
        let giveUp = deadline ?? .now + etcd.leaseTTL * 2
        while true {
            do throws(EtcdLockError) {
                return try await call()
            } catch {
                guard error.isTransient, !Task.isCancelled, ContinuousClock.now + LeaseKeeper.retryPause < giveUp else { throw error }
                try? await Task.sleep(for: LeaseKeeper.retryPause)
            }
        }
    }

    /// A look reads at most this many keys of the line, oldest first; a writer further
    /// back counts down the ones it saw, then looks again.
    static let lineLimit: Int64 = 1000

    /// A waiter's view of the line at one look.
    private struct Line: Sendable {
        /// The keys ahead of this writer's, by name, counted down by ``waitForTurn``.
        var ahead: Set<Data>
        /// Every key ahead is in `ahead` (the look read as far as this writer's own key).
        let allKnown: Bool
        let own: Data
        /// The oldest key (the holder), and the youngest key ahead of this writer's.
        let holder: KeyValue?
        let justAhead: KeyValue?

        /// The line as a look read it (oldest first); `token` is this writer's key's create revision.
        init(_ answer: RangeResponse, token: Int64, own: Data) {
            let keys = answer.kvs ?? []
            let older = keys.filter { $0.createRevision < token }
            ahead = Set(older.map(\.key))
            allKnown = answer.more != true || keys.contains { $0.key == own }
            self.own = own
            holder = keys.first
            justAhead = older.last
        }
    }

    private enum WaitEnd: Sendable { case first, startedAfterLook, lookAgain, ownKeyDeleted, leaseLost, deadlinePassed, cancelled }

    /// Waits on `watch`, which counts the keys ahead down, until it ends the wait (this
    /// writer is first, or must look again), the lease is lost, or the deadline passes.
    /// The watch goes on unless the caller cancels it.
    private func waitForTurn(_ watch: LineWatch, keeper: LeaseKeeper, deadline: ContinuousClock.Instant?) async -> WaitEnd {
        let end = await withTaskGroup(of: WaitEnd.self) { group in
            group.addTask {
                switch await watch.waitEnd() {
                case .first: .first
                case .startedAfterLook: .startedAfterLook
                case .lookAgain: .lookAgain
                case .ownKeyDeleted: .ownKeyDeleted
                case nil: .cancelled
                }
            }
            group.addTask {
                await keeper.waitUntilLost()
                return Task.isCancelled ? .cancelled : .leaseLost
            }
            if let deadline {
                group.addTask {
                    do { try await Task.sleep(until: deadline) } catch { return .cancelled }
                    return .deadlinePassed
                }
            }
            let end = await group.next() ?? .cancelled
            group.cancelAll()
            return Task.isCancelled ? .cancelled : end
        }
        switch end {
        case .first, .startedAfterLook: break
        default: watch.cancel()
        }
        return end
    }

    // MARK: Errors

    /// Another writer holds the line's first place (try, or a wait that timed out).
    private struct Busy: Error {
        let holder: EtcdLockHolder
        let timedOut: Bool
    }

    private func placeLost(_ keeper: LeaseKeeper) -> EtcdLockError {
        EtcdLockError(
            .unavailable,
            "the place in line for \(dataFile) on the etcd cluster was lost while waiting: "
                + "\(keeper.lossReason ?? "its key was deleted"); nothing is held; try again once the cluster is reachable")
    }

    private func unexpected(_ what: String) -> EtcdLockError {
        EtcdLockError(.unexpectedResponse, "the etcd cluster answered oddly: \(what)")
    }

    /// What the caller sees: a `LockError` for the failures a file lock has too.
    func translate(_ error: any Error, deadline: ContinuousClock.Instant?) -> any Error {
        if let busy = error as? Busy {
            if busy.timedOut {
                return LockError(
                    coordinated: .timedOut, lockFile: fileLock.lockFile,
                    message: "\(dataFile) is locked on the etcd cluster by \(busy.holder); gave up at the "
                        + "wait's deadline; that writer is alive (its lease is kept); wait for it to finish")
            }
            return LockError(
                coordinated: .busy, lockFile: fileLock.lockFile,
                message: "\(dataFile) is locked on the etcd cluster by \(busy.holder); "
                    + "that writer is alive (its lease is kept); wait for it to finish")
        }
        if error is CancellationError || Task.isCancelled {
            return LockError(
                coordinated: .cancelled, lockFile: fileLock.lockFile,
                message: "waiting for \(dataFile) on the etcd cluster was cancelled; nothing is held")
        }
        if let error = error as? EtcdLockError, error.code == .unreachable || error.code == .unavailable,
            let deadline, ContinuousClock.now >= deadline
        {
            return EtcdLockError(error.code, error.description + " (the wait's deadline passed meanwhile)")
        }
        return error
    }
}

/// Key ranges: every key that starts with a prefix.
enum KeyRange {
    /// The `range_end` that, with `key` = `prefix`, selects every key starting with
    /// `prefix`: the prefix with its last byte below 0xFF incremented.
    static func end(ofPrefix prefix: String) -> Data {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return Data([0])
    }
}
