import FoundationEssentials
import Metrics
import RVFLock

// Taking the line's first place: etcd's lock recipe (concurrency.Mutex), with
// the checks folded into one transaction per step so that a handoff costs the
// waiter one round trip after the watch wakes it.

extension EtcdWriterLock {
    static let acquisitions = Counter(label: "rvflock_etcd_acquisitions")
    static let waits = Metrics.Timer(label: "rvflock_etcd_wait")

    func acquireLease(
        deadline: ContinuousClock.Instant?, waiting: Bool, onWaiting: (@Sendable (EtcdLockHolder) -> Void)?
    ) async throws -> EtcdLease {
        let started = ContinuousClock.now
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
        let keyBytes = Data(key.utf8)
        let details = EtcdLockHolder.Details(
            hostname: (try? Syscalls.hostname()) ?? "", pid: Syscalls.processID, program: Self.programName,
            file: fileLock.dataFile.string, since_ns: Syscalls.wallClockNanoseconds())
        let value = (try? JSONEncoder().encode(details)) ?? Data()

        // Create the key unless it exists (a retried request may have created it already).
        let put: TxnResponse = try await retrying(until: deadline) { () throws(EtcdLockError) in
            try await gateway.call(
                "/v3/kv/txn",
                TxnRequest(
                    compare: [Compare(key: keyBytes, create_revision: EtcdInt64(0))],
                    success: [RequestOp(request_put: PutRequest(key: keyBytes, value: value, lease: EtcdInt64(keeper.id)))],
                    failure: [RequestOp(request_range: RangeRequest(key: keyBytes))]), deadline: deadline)
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

        while true {
            try Task.checkCancellation()
            if keeper.isLost { throw placeLost(keeper) }
            // Is this key still there, and which key is just ahead of it?
            let check: TxnResponse = try await retrying(until: deadline) { () throws(EtcdLockError) in
                try await gateway.call(
                    "/v3/kv/txn",
                    TxnRequest(
                        compare: [Compare(key: keyBytes, create_revision: EtcdInt64(token))],
                        success: [
                            RequestOp(
                                request_range: RangeRequest(
                                    key: Data(prefix.utf8), range_end: KeyRange.end(ofPrefix: prefix), limit: EtcdInt64(1),
                                    sort_order: "DESCEND", sort_target: "CREATE", max_create_revision: EtcdInt64(token - 1)))
                        ],
                        failure: []), deadline: deadline)
            }
            guard check.succeeded == true else { throw placeLost(keeper) }
            guard let ahead = check.responses?.first?.response_range?.kvs?.first else {
                return EtcdLease(key: key, fencingToken: token, keeper: keeper, gateway: gateway)
            }
            guard waiting else {
                // Report the holder, not merely the writer just ahead.
                let first: RangeResponse? = try? await gateway.call(
                    "/v3/kv/range",
                    RangeRequest(
                        key: Data(prefix.utf8), range_end: KeyRange.end(ofPrefix: prefix), limit: EtcdInt64(1),
                        sort_order: "ASCEND", sort_target: "CREATE"), deadline: deadline)
                throw Busy(holder: EtcdLockHolder(first?.kvs?.first ?? ahead), timedOut: false)
            }
            onWaiting?(EtcdLockHolder(ahead))
            let revision = check.header?.revision?.value ?? token
            switch await waitForDeletion(of: ahead.key, after: revision, gateway: gateway, keeper: keeper, deadline: deadline) {
            case .deleted, .streamBroke:
                continue
            case .leaseLost:
                throw placeLost(keeper)
            case .deadlinePassed:
                throw Busy(holder: EtcdLockHolder(ahead), timedOut: true)
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    /// This program's name, as the key tells others who waits or holds.
    static let programName: String? = {
        guard let first = CommandLine.arguments.first, !first.isEmpty else { return nil }
        return String(first.split(separator: "/").last ?? Substring(first))
    }()

    private enum WaitEnd: Sendable { case deleted, streamBroke, leaseLost, deadlinePassed, cancelled }

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

    /// Watches `key` from the revision after `revision` until it is deleted; the
    /// deletion may have happened already (it is in the watch's history then).
    private func waitForDeletion(
        of key: Data, after revision: Int64, gateway: EtcdGateway, keeper: LeaseKeeper, deadline: ContinuousClock.Instant?
    ) async -> WaitEnd {
        await withTaskGroup(of: WaitEnd.self) { group in
            group.addTask {
                let request = WatchCreateRequest(
                    create_request: .init(
                        key: key, start_revision: EtcdInt64(revision + 1), filters: ["NOPUT"]))
                do throws(EtcdLockError) {
                    try await gateway.stream("/v3/watch", request) { (line) throws(EtcdLockError) -> Bool in
                        guard let answer = try? JSONDecoder().decode(WatchLine.self, from: line), let result = answer.result else {
                            throw EtcdLockError(.unexpectedResponse, "watch: \(EtcdGateway.excerpt(Array(line)))")
                        }
                        // Compacted past `revision` or cancelled: look again rather than trust the stream.
                        if result.canceled == true || (result.compact_revision?.value ?? 0) > 0 { return true }
                        return result.events?.contains { $0.type == "DELETE" } == true
                    }
                    return .deleted
                } catch {
                    if Task.isCancelled { return .cancelled }
                    // A member went away mid-watch: pause a moment, then look again.
                    try? await Task.sleep(for: LeaseKeeper.retryPause)
                    return .streamBroke
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
