package import RVFLock
import RVFLockSpawn
import SystemPackage

/// The probes of `rvf-lock selftest`, each asking the file system, bare, for one
/// thing the protocol relies on, in a scratch directory inside DIR (so on DIR's
/// file system) that nothing else uses.
package struct SelftestChecks {
    package let scratch: String
    package let fileSystem: LockFileSystem

    /// The checks of a run working in `scratch`, on `fileSystem`.
    package init(scratch: String, fileSystem: LockFileSystem) {
        self.scratch = scratch
        self.fileSystem = fileSystem
    }

    private var parent: String { String(SelftestSystem.processID) }

    package func fileSystemCheck() -> SelftestCheck {
        let magic = fileSystem.magic.map { " (f_type 0x\(String($0, radix: 16)))" } ?? ""
        let locality =
            fileSystem.isLocal
            ? "local: every process that reaches it shares this machine's page cache"
            : "not local (network, cluster, FUSE, or a kind RVFLock does not know): other machines may reach it through their own caches"
        return .ok("file_system", "file system", "\(fileSystem.name)\(magic), \(locality)")
    }

    /// `O_TMPFILE`, then `linkat` of the unnamed file, then `link` of a named
    /// temporary (the library's fallback), then both onto a taken name.
    package func linkChecks() -> [SelftestCheck] {
        var checks: [SelftestCheck] = []
        let record = Array(repeating: UInt8(ascii: "R"), count: LockRecord.size)
        let taken = scratch + "/probe.lock"
        var unnamedLinked = false

        // O_TMPFILE and linkat: how the library creates a lock file where it can.
        var unnamed: FileDescriptor? = nil
        defer { SelftestSystem.close(unnamed) }
        do throws(ProbeFailure) {
            unnamed = try SelftestSystem.openUnnamedTemporary(in: scratch)
            checks.append(.ok("o_tmpfile", "O_TMPFILE", "an unnamed file can be created here"))
        } catch  where SelftestSystem.meansNoUnnamedTemporaries(error.errno) {
            checks.append(
                .notAvailable(
                    "o_tmpfile", "O_TMPFILE",
                    "\(error); the library uses named temporary files here instead"))
        } catch {
            checks.append(
                .failed(
                    "o_tmpfile", "O_TMPFILE",
                    "\(error), which the library does not take for \"no O_TMPFILE here\": acquisition would fail"))
        }
        if let unnamed {
            if !SelftestSystem.hasProcSelfFd {
                checks.append(
                    .notAvailable(
                        "linkat", "linkat of an unnamed file",
                        "no /proc/self/fd to name it through; the library uses named temporary files instead"))
            } else {
                do throws(ProbeFailure) {
                    try SelftestSystem.writeAll(unnamed, record)
                    try SelftestSystem.linkDescriptor(unnamed, to: taken)
                    let readBack = try SelftestSystem.readWholeFile(taken)
                    if readBack == record {
                        unnamedLinked = true
                        checks.append(
                            .ok(
                                "linkat", "linkat of an unnamed file",
                                "it got its name complete (\(record.count) bytes), in one step"))
                    } else {
                        checks.append(
                            .failed(
                                "linkat", "linkat of an unnamed file",
                                "the linked file held \(readBack.count) bytes, not the \(record.count) written"))
                    }
                } catch  where SelftestSystem.meansNoHardLinks(error.errno) {
                    checks.append(
                        .failed(
                            "linkat", "linkat of an unnamed file", "\(error)",
                            missing: .hardLinks, refusal: error.description))
                } catch {
                    checks.append(.failed("linkat", "linkat of an unnamed file", "\(error)"))
                }
            }
        } else {
            checks.append(.notAvailable("linkat", "linkat of an unnamed file", "not tried: no unnamed file to link"))
        }

        // A named temporary and link(2): the fallback, and what other platforms do.
        let temporary = scratch + "/.probe.tmp"
        let named = scratch + "/probe-named.lock"
        var namedLinked = false
        do throws(ProbeFailure) {
            let descriptor = try SelftestSystem.open(temporary, flags: SelftestSystem.createExclusively)
            defer { SelftestSystem.close(descriptor) }
            try SelftestSystem.writeAll(descriptor, record)
            try SelftestSystem.link(temporary, to: named)
            let readBack = try SelftestSystem.readWholeFile(named)
            if readBack == record {
                namedLinked = true
                checks.append(.ok("link", "link of a named temporary", "it got a second name, complete (\(record.count) bytes)"))
            } else {
                checks.append(
                    .failed(
                        "link", "link of a named temporary",
                        "the linked name held \(readBack.count) bytes, not the \(record.count) written"))
            }
        } catch  where SelftestSystem.meansNoHardLinks(error.errno) {
            checks.append(.failed("link", "link of a named temporary", "\(error)", missing: .hardLinks, refusal: error.description))
        } catch {
            checks.append(.failed("link", "link of a named temporary", "\(error)"))
        }

        // Both onto a taken name: the atomic "someone else has it" the protocol rests on.
        let target = unnamedLinked ? taken : named
        if unnamedLinked || namedLinked {
            var refused: [String] = []
            var failure: SelftestCheck?
            func judge(_ call: String, _ attempt: () throws(ProbeFailure) -> Void) {
                do throws(ProbeFailure) {
                    try attempt()
                    failure = .failed(
                        "link_taken_name", "link onto a taken name",
                        "\(call) onto a taken name succeeded instead of failing with EEXIST",
                        missing: .hardLinks, refusal: "\(call) succeeded onto a taken name")
                } catch  where error.errno == SelftestSystem.fileExists {
                    refused.append(call)
                } catch {
                    failure = .failed("link_taken_name", "link onto a taken name", "\(error), not EEXIST")
                }
            }
            if namedLinked {
                judge("link") { () throws(ProbeFailure) in try SelftestSystem.link(temporary, to: target) }
            }
            if unnamedLinked {
                judge("linkat") { () throws(ProbeFailure) in
                    let second = try SelftestSystem.openUnnamedTemporary(in: scratch)
                    defer { SelftestSystem.close(second) }
                    try SelftestSystem.linkDescriptor(second, to: target)
                }
            }
            if failure == nil && (try? SelftestSystem.readWholeFile(target)) != record {
                failure = .failed("link_taken_name", "link onto a taken name", "the file at the taken name changed")
            }
            checks.append(
                failure
                    ?? .ok(
                        "link_taken_name", "link onto a taken name",
                        refused.joined(separator: " and ") + " failed with EEXIST; the existing file was left intact"))
        } else {
            checks.append(.notAvailable("link_taken_name", "link onto a taken name", "not tried: no file could be linked"))
        }
        try? SelftestSystem.unlink(temporary)
        try? SelftestSystem.unlink(named)
        try? SelftestSystem.unlink(taken)
        return checks
    }

    /// `flock()` between two processes: exclusion, shared locks, release at death.
    package func flockChecks() throws(Interrupted) -> [SelftestCheck] {
        let title = "flock between processes"
        let path = scratch + "/flock-probe"
        let ours: FileDescriptor
        do throws(ProbeFailure) {
            ours = try SelftestSystem.open(path, flags: SelftestSystem.createExclusively)
        } catch {
            return [.failed("flock_exclusion", title, "cannot create a file to lock: \(error)")]
        }
        defer {
            SelftestSystem.close(ours)
            try? SelftestSystem.unlink(path)
        }
        let me = SelftestSystem.processID

        // Round 1: another process holds LOCK_EX.
        let holder: SelftestSystem.HelperProcess
        switch try startHolder(path, exclusive: true, title: title) {
        case .failure(let check): return [check]
        case .success(let started): holder = started
        }
        var exclusionFailure: SelftestCheck?
        for (operation, name) in [(SelftestSystem.flockExclusive, "LOCK_EX"), (SelftestSystem.flockShared, "LOCK_SH")] {
            guard exclusionFailure == nil else { break }
            switch SelftestSystem.tryFlock(ours, operation) {
            case nil:
                SelftestSystem.unlockFlock(ours)
                exclusionFailure = .failed(
                    "flock_exclusion", title,
                    "\(name)|LOCK_NB from pid \(me) was granted while pid \(holder.pid) held LOCK_EX on the same file",
                    missing: .fileLockExclusion, refusal: "flock \(name)|LOCK_NB granted to a second process")
            case SelftestSystem.wouldBlock?:
                continue
            case let error?:
                exclusionFailure = flockRefusal(error, key: "flock_exclusion", title: title, what: "\(name)|LOCK_NB")
            }
        }
        if let exclusionFailure {
            holder.killAndReap()
            return [
                exclusionFailure,
                .notAvailable(
                    "flock_release", "flock released when its holder dies",
                    "not tried: flock() does not exclude here, so no release can be seen"),
            ]
        }

        // Release at death: the kernel must free a dead holder's lock (this is how a crashed writer's lock is taken over).
        let death = SelftestSystem.monotonicNanoseconds()
        holder.killAndReap()
        var releaseCheck: SelftestCheck?
        while releaseCheck == nil {
            let waited = SelftestSystem.monotonicNanoseconds() - death
            switch SelftestSystem.tryFlock(ours, SelftestSystem.flockExclusive) {
            case nil:
                releaseCheck = .ok(
                    "flock_release", "flock released when its holder dies",
                    "LOCK_EX granted \(Measure.milliseconds(waited)) ms after the holder "
                        + "(pid \(holder.pid)) was killed with SIGKILL")
            case SelftestSystem.wouldBlock? where waited < 5_000_000_000:
                try SelftestSystem.sleep(milliseconds: 1)
            case SelftestSystem.wouldBlock?:
                releaseCheck = .failed(
                    "flock_release", "flock released when its holder dies",
                    "LOCK_EX still refused 5 s after the holder (pid \(holder.pid)) was killed and reaped",
                    missing: .fileLockReleaseAtExit, refusal: "flock: EWOULDBLOCK after the holder died")
            case let error?:
                releaseCheck = flockRefusal(
                    error, key: "flock_release", title: "flock released when its holder dies",
                    what: "LOCK_EX|LOCK_NB")
            }
        }
        SelftestSystem.unlockFlock(ours)

        // Round 2: another process holds LOCK_SH: LOCK_EX must be refused; LOCK_SH may be shared.
        let sharer: SelftestSystem.HelperProcess
        switch try startHolder(path, exclusive: false, title: title) {
        case .failure(let check): return [check, releaseCheck!]
        case .success(let started): sharer = started
        }
        var sharedNote = ""
        switch SelftestSystem.tryFlock(ours, SelftestSystem.flockExclusive) {
        case nil:
            SelftestSystem.unlockFlock(ours)
            return [
                .failed(
                    "flock_exclusion", title,
                    "LOCK_EX|LOCK_NB from pid \(me) was granted while pid \(sharer.pid) held LOCK_SH on the same file",
                    missing: .fileLockExclusion, refusal: "flock LOCK_EX|LOCK_NB granted over another process's LOCK_SH"),
                releaseCheck!,
            ]
        case SelftestSystem.wouldBlock?:
            break
        case let error?:
            return [flockRefusal(error, key: "flock_exclusion", title: title, what: "LOCK_EX|LOCK_NB"), releaseCheck!]
        }
        switch SelftestSystem.tryFlock(ours, SelftestSystem.flockShared) {
        case nil:
            sharedNote = "; LOCK_SH was shared, as it should be"
            SelftestSystem.unlockFlock(ours)
        case let error?:
            sharedNote =
                "; but LOCK_SH was not shared (\(SelftestSystem.errnoName(error))), so observers such as `status` may wait on each other"
        }
        sharer.closeInput()
        _ = try sharer.waitForExit(timeoutMilliseconds: 5000)

        let exclusion = SelftestCheck.ok(
            "flock_exclusion", title,
            "while pid \(holder.pid) held LOCK_EX, LOCK_EX|LOCK_NB and LOCK_SH|LOCK_NB from pid \(me) failed with EWOULDBLOCK; "
                + "while pid \(sharer.pid) held LOCK_SH, LOCK_EX|LOCK_NB failed with EWOULDBLOCK\(sharedNote)")
        return [exclusion, releaseCheck!]
    }

    private enum Started {
        case success(SelftestSystem.HelperProcess)
        case failure(SelftestCheck)
    }

    private func startHolder(_ path: String, exclusive: Bool, title: String) throws(Interrupted) -> Started {
        let helper: SelftestSystem.HelperProcess
        do throws(ProbeFailure) {
            helper = try SelftestSystem.startHelper(arguments: [
                SelftestSystem.helperCommandName, parent, "hold-flock", path, exclusive ? "ex" : "sh",
            ])
        } catch {
            return .failure(.failed("flock_exclusion", title, "cannot start a second process: \(error)"))
        }
        let operation = exclusive ? "LOCK_EX" : "LOCK_SH"
        guard let answer = try helper.readLine(timeoutMilliseconds: 20_000) else {
            helper.killAndReap()
            let output = helper.remainingOutput().split(separator: "\n").last.map { ": \($0)" } ?? ""
            return .failure(
                .failed("flock_exclusion", title, "the second process (pid \(helper.pid)) did not report taking \(operation)\(output)"))
        }
        if answer == "held" { return .success(helper) }
        if answer.hasPrefix("refused "), let code = CInt(answer.dropFirst("refused ".count)) {
            return .failure(
                flockRefusal(
                    code, key: "flock_exclusion", title: title,
                    what: "\(operation)|LOCK_NB on a file nobody else locked (pid \(helper.pid))"))
        }
        return .failure(.failed("flock_exclusion", title, "the second process (pid \(helper.pid)) could not lock: \(answer)"))
    }

    private func flockRefusal(_ code: CInt, key: String, title: String, what: String) -> SelftestCheck {
        let name = SelftestSystem.errnoName(code)
        if SelftestSystem.meansNoFileLocks(code) {
            return .failed(
                key, title, "\(what) failed with \(name): the file system refuses flock()",
                missing: .fileLocks, refusal: "flock: \(name)")
        }
        return .failed(key, title, "\(what) failed with \(name), not EWOULDBLOCK")
    }

    /// `flock()` on a descriptor opened read-only: NFS refuses a write lock there.
    package func readOnlyFlockCheck() -> SelftestCheck {
        let title = "flock on a read-only descriptor"
        let path = scratch + "/flock-read-only"
        do throws(ProbeFailure) {
            SelftestSystem.close(try SelftestSystem.open(path, flags: SelftestSystem.createExclusively))
            defer { try? SelftestSystem.unlink(path) }
            let descriptor = try SelftestSystem.open(path, flags: SelftestSystem.readOnly)
            defer { SelftestSystem.close(descriptor) }
            var refused: [String] = []
            for (operation, name) in [(SelftestSystem.flockExclusive, "LOCK_EX"), (SelftestSystem.flockShared, "LOCK_SH")] {
                if let error = SelftestSystem.tryFlock(descriptor, operation) {
                    refused.append("\(name): \(SelftestSystem.errnoName(error))")
                } else {
                    SelftestSystem.unlockFlock(descriptor)
                }
            }
            if refused.isEmpty { return .ok("flock_read_only", title, "LOCK_EX and LOCK_SH granted") }
            return .notAvailable(
                "flock_read_only", title,
                "refused (\(refused.joined(separator: ", "))), as NFS refuses a write lock on a descriptor "
                    + "not open for writing: here a lock file can only be judged through a descriptor open for writing")
        } catch {
            return .notAvailable("flock_read_only", title, "not tried: \(error)")
        }
    }

    /// Events of another process's create, close-after-write and unlink, as the library's waiters sleep on.
    package func fileEventsCheck() throws(Interrupted) -> SelftestCheck {
        let title = "file events (inotify)"
        let name = "events-probe"
        let watch: SelftestSystem.DirectoryWatch
        do throws(ProbeFailure) {
            watch = try SelftestSystem.DirectoryWatch(scratch)
        } catch {
            return .notAvailable("file_events", title, "\(error); waiters poll instead of waking on events")
        }
        let helper: SelftestSystem.HelperProcess
        do throws(ProbeFailure) {
            helper = try SelftestSystem.startHelper(arguments: [SelftestSystem.helperCommandName, parent, "touch", scratch + "/" + name])
        } catch {
            return .failed("file_events", title, "cannot start a second process: \(error)")
        }
        // Only once the helper has done everything is the time to wait for events
        // bounded; how long a process takes to start on a loaded machine is not.
        let answer = try helper.readLine(timeoutMilliseconds: 30_000) ?? "no answer"
        _ = try helper.waitForExit(timeoutMilliseconds: 5000)
        guard answer == "done" else {
            return .failed("file_events", title, "the second process (pid \(helper.pid)) could not create and remove a file: \(answer)")
        }
        let wanted = Set(SelftestSystem.FileEvent.allCases)
        let seen = try watch.collect(for: name, wanted: wanted, timeoutMilliseconds: 2000)
        let order = SelftestSystem.FileEvent.allCases
        let remoteNote = fileSystem.isLocal ? "" : " (changes made on other machines may never be reported here; waiters poll for those)"
        if seen.count == wanted.count {
            return .ok(
                "file_events", title,
                order.map(\.rawValue).joined(separator: ", ") + " by another process (pid \(helper.pid)) all arrived\(remoteNote)")
        }
        let missing = order.filter { !seen.contains($0) }.map(\.rawValue).joined(separator: ", ")
        let arrived = order.filter { seen.contains($0) }.map(\.rawValue).joined(separator: ", ")
        return .notAvailable(
            "file_events", title,
            "\(missing) by another process did not arrive within 2 s of it"
                + (arrived.isEmpty ? "" : " (\(arrived) did)") + "; waiters poll instead of waking at once")
    }

    /// statx birth times.
    package func birthTimeCheck() -> SelftestCheck {
        let title = "birth times (statx)"
        let path = scratch + "/birth-probe"
        do throws(ProbeFailure) {
            let descriptor = try SelftestSystem.open(path, flags: SelftestSystem.createExclusively)
            defer {
                SelftestSystem.close(descriptor)
                try? SelftestSystem.unlink(path)
            }
            if try SelftestSystem.reportsBirthTime(descriptor) {
                return .ok("birth_time", title, "reported (STATX_BTIME)")
            }
            return .notAvailable("birth_time", title, "not reported by this file system; the lock does not depend on them")
        } catch {
            return .notAvailable("birth_time", title, "\(error); the lock does not depend on them")
        }
    }

    /// Whether the library syncs lock files here, and what a sync costs.
    package func syncCheck() -> SelftestCheck {
        let title = "sync policy"
        let options = LockOptions()
        let syncs = fileSystem.syncsLockFiles(under: options)
        let why =
            fileSystem.isLocal
            ? "\(fileSystem.name) is local: every process reads this machine's page cache, synced or not"
            : "\(fileSystem.name) is not local: other machines read the server's copy, which only a sync brings up to date"
        let policy = "\(options.syncPolicy): lock files are \(syncs ? "" : "not ")synced here (\(why))"
        let path = scratch + "/sync-probe"
        do throws(ProbeFailure) {
            let descriptor = try SelftestSystem.open(path, flags: SelftestSystem.createExclusively)
            defer {
                SelftestSystem.close(descriptor)
                try? SelftestSystem.unlink(path)
            }
            try SelftestSystem.writeAll(descriptor, Array(repeating: 0, count: LockRecord.size))
            let before = SelftestSystem.monotonicNanoseconds()
            try SelftestSystem.fsync(descriptor)
            let took = SelftestSystem.monotonicNanoseconds() - before
            return .ok("sync", title, "\(policy); fsync of a new lock-sized file took \(Measure.milliseconds(took)) ms")
        } catch {
            return .failed("sync", title, "\(policy); but \(error)")
        }
    }
}
