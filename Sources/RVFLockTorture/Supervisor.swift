#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockReference
import RVFLockSpawn
import RVFLock

/// The parent of a torture run: starts the workers and readers, injects faults,
/// follows the event log to know who holds the lock, and collects what happened.
/// Single-threaded: everything happens in ``run()``'s loop.
final class Supervisor {
    struct Configuration: Sendable {
        var workers: Int
        var seconds: Double
        var files: TortureFiles
        var seed: UInt64
        var faults: FaultSet
        var staleMilliseconds = 1500
        var otherHostMilliseconds = 3000
        var heartbeatMilliseconds = 250
        var readers = 2
        /// Workers write without the lock: the verifier must then find overlaps (`--self-check-without-lock`).
        var workersSkipLock = false
        /// Closed-stdout workers put the lock file on descriptor 1: the lock file check must fail.
        var lockFileOnStandardOutput = false
        /// Workers are not told the reference's alias: they must break its live locks.
        var workersIgnoreAlias = false
        /// The hostname alias-reference holders write, which the workers also have in `$HOSTNAME`.
        var referenceAlias = "rvflock-torture-alias"
        /// The etcd profile: exec workers take the lease on this cluster first (`rvf-lock exec --etcd`).
        var etcdEndpoints: String?
        /// The other-host threshold of workers that cannot probe the reference holder's pid
        /// (other host, other PID namespace) when reference holders run: above any reference holding.
        var blindOtherHostMilliseconds = 20_000
    }

    /// Where a worker runs.
    enum Placement: String, Sendable {
        case plain
        /// Its own UTS namespace with another hostname: a contender "on another host" sharing the file system.
        case otherHost
        /// Its own PID namespace (and /proc): its pid means nothing to the others.
        case pidNamespace
        /// Holds through `rvf-lock exec`, with a grandchild writing (see `ExecWorkerCommand`).
        case exec
        /// Takes the lock by a relative path and changes directory while holding.
        case chdir
        /// Started with standard output closed; prints while holding.
        case closedStdout
        /// Started with standard input and output closed; prints while holding.
        case closedStdoutAndStdin
        /// Not a worker: the slot of the reference holders, one process per holding.
        case aliasReference

        /// Workers for which the reference's alias record names another host, or whose pid probe means nothing.
        var cannotProbeReference: Bool { self == .otherHost || self == .pidNamespace }
    }

    struct Slot {
        let index: Int
        var incarnation = 0
        let placement: Placement
        let namedTemporaries: Bool
        /// The process the parent waits for (for namespaced workers, the `unshare` wrapper).
        var pid: pid_t = 0
        var running = false
    }

    let configuration: Configuration
    private(set) var slots: [Slot] = []
    private var random: SeededGenerator
    private var tail: FileTail
    private(set) var events: [TortureEvent] = []
    /// Who holds the lock according to the log: writer index -> holding.
    private var holders: [Int: HoldingKey] = [:]
    private(set) var kills: [KillRecord] = []
    private(set) var pauses: [PauseRecord] = []
    private(set) var plants: [PlantRecord] = []
    private(set) var plantsSkippedBusy = 0
    private(set) var unexpectedExits: [String] = []
    private(set) var hungWorkers = 0
    private(set) var respawns = 0
    private(set) var namespaceSkipReason: String?
    private var unshare: String?
    /// Exec workers: the rvf-lock executable, and why there are none if there are none.
    private var rvfLock: String?
    private(set) var execSkipReason: String?
    /// Alias reference holders: the compiled holder and the folder it was built in, why
    /// there are none if there are none, the slot they log under, and when the next one is due.
    private var referenceProgram: ReferenceProgram?
    private var referenceBuildDirectory: String?
    private(set) var referenceSkipReason: String?
    private(set) var referenceSlot: Int?
    private var nextReferenceAt: UInt64 = 0
    /// The chdir workers' decoy directories, and what changed in them by the end.
    private var decoy: ChdirDecoy?
    private(set) var decoyDisturbances: [String] = []
    /// The pid logged with each writer's current holding: the rvf-lock process for exec workers.
    private var holderPIDs: [Int: pid_t] = [:]
    private var readerPids: [pid_t] = []
    /// The other user's breaker, and why there is none if there is none.
    private var breakerPid: pid_t?
    private(set) var otherUserSkipReason: String?
    var breakerOutput: String { configuration.files.directory + "/breaker.out" }
    private let log: AppendLog
    private let startedAt = Syscalls.monotonicNanoseconds()
    private(set) var deadline: UInt64 = 0
    private var plantCycle: [PlantKind] = []

    private enum ActiveFault {
        case none
        case huntingHolder(kill: Bool, onlyExec: Bool, until: UInt64)
        case paused(PauseRecord, signalPID: pid_t, resumeAt: UInt64)
        case planting(PlantKind, until: UInt64)
        case planted(PlantKind, PlantedIdentity, at: UInt64, operatorAt: UInt64)
        /// A reference holder runs; no other fault meanwhile (it would delete a planted file at once).
        case referenceHolding
    }
    private var fault = ActiveFault.none
    private var nextFaultAt: UInt64 = 0

    init(_ configuration: Configuration) {
        self.configuration = configuration
        random = SeededGenerator(seed: configuration.seed, stream: 0xFA17)
        tail = FileTail(path: configuration.files.eventLog)
        log = AppendLog(path: configuration.files.eventLog)
    }

    var elapsedSeconds: Double { Double(Syscalls.monotonicNanoseconds() - startedAt) / 1e9 }

    // MARK: Running

    func run() throws {
        checkNamespaces()
        checkExec()
        checkReference()
        defer { if let referenceBuildDirectory { try? FileManager.default.removeItem(atPath: referenceBuildDirectory) } }
        if configuration.faults.contains(.chdir) { decoy = try ChdirDecoy(files: configuration.files) }
        deadline = Syscalls.monotonicNanoseconds() + UInt64(configuration.seconds * 1e9)
        for index in 0..<configuration.workers {
            slots.append(
                Slot(
                    index: index, placement: placement(of: index),
                    namedTemporaries: configuration.faults.contains(.temporaries) && index % 4 == 1))
            try start(index)
        }
        if referenceProgram != nil {
            referenceSlot = slots.count
            slots.append(Slot(index: slots.count, incarnation: -1, placement: .aliasReference, namedTemporaries: false))
            nextReferenceAt = Syscalls.monotonicNanoseconds() + 2_000_000_000 + random.next() % 4_000_000_000
        }
        for index in 0..<configuration.readers {
            readerPids.append(
                try ProcessSpawner.spawn(
                    [
                        ProcessSpawner.currentExecutable, "reader", "--index", "\(index)", "--dir", configuration.files.directory,
                        "--until", "\(deadline + 1_500_000_000)",
                    ],
                    output: configuration.files.directory + "/reader-\(index).out"))
        }
        try startBreaker()
        scheduleNextFault()
        while Syscalls.monotonicNanoseconds() < deadline {
            followLog()
            try reapExited()
            try advanceFault()
            let hunting: Bool
            if case .huntingHolder = fault { hunting = true } else { hunting = false }
            Syscalls.sleep(nanoseconds: hunting ? 1_000_000 : 20_000_000)
        }
        try shutDown()
        followLog()
        decoyDisturbances = decoy?.disturbances() ?? []
    }

    /// Which slot runs where: of every 8, two exec workers (3, 7), one under another hostname (2),
    /// one in another PID namespace (5), one chdir worker (6), two with standard output closed
    /// (0 with standard input closed too, 4), and one plain (1; an exec worker too in the etcd
    /// profile), each where its fault is chosen and possible; plain otherwise.
    private func placement(of index: Int) -> Placement {
        let faults = configuration.faults
        switch index % 8 {
        case 3 where rvfLock != nil, 7 where rvfLock != nil: return .exec
        case 1 where rvfLock != nil && configuration.etcdEndpoints != nil: return .exec
        case 2 where unshare != nil: return .otherHost
        case 5 where unshare != nil: return .pidNamespace
        case 6 where faults.contains(.chdir): return .chdir
        case 0 where faults.contains(.closedStdout): return .closedStdoutAndStdin
        case 4 where faults.contains(.closedStdout): return .closedStdout
        default: return .plain
        }
    }

    private func checkReference() {
        guard configuration.faults.contains(.aliasReference) else { return }
        var template = Array("/tmp/rvflock-torture-reference-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            referenceSkipReason = "mkdtemp failed: errno \(errno)"
            return
        }
        referenceBuildDirectory = String(cString: created)
        do {
            referenceProgram = try ReferenceProgram.build(.tortureHolder, in: String(cString: created))
        } catch {
            referenceSkipReason = error.description
        }
    }

    /// The environment changes for a worker: with reference holders, `$HOSTNAME` is their alias,
    /// which the library then treats as this host's (issue 10.3); a worker under another
    /// hostname has no `$HOSTNAME`, as another machine would not have this one's.
    private func environment(for placement: Placement) -> [String: String?] {
        guard referenceProgram != nil else { return [:] }
        if placement == .otherHost || configuration.workersIgnoreAlias { return ["HOSTNAME": nil] }
        return ["HOSTNAME": configuration.referenceAlias]
    }

    /// Starts the other user's breaker: `nobody`, through setpriv, in the directory made
    /// writable by every user (without the sticky bit, as a group-shared directory is).
    private func startBreaker() throws {
        guard configuration.faults.contains(.otherUser) else { return }
        guard getuid() == 0 else {
            otherUserSkipReason = "not root: cannot run a process as another user"
            return
        }
        guard let setpriv = Spawn.executable(named: "setpriv") else {
            otherUserSkipReason = "no setpriv(1) on PATH"
            return
        }
        chmod(configuration.files.directory, 0o777)
        breakerPid = try ProcessSpawner.spawn(
            [
                setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", ProcessSpawner.currentExecutable, "breaker",
                "--dir", configuration.files.directory, "--until", "\(deadline)", "--seed", "\(configuration.seed)",
                "--stale-ms", "\(configuration.staleMilliseconds)", "--other-ms", "\(configuration.otherHostMilliseconds)",
            ],
            output: breakerOutput, environment: environment(for: .plain))
    }

    private func checkExec() {
        guard configuration.faults.contains(.exec) else { return }
        let candidate = (ProcessSpawner.currentExecutable as NSString).deletingLastPathComponent + "/rvf-lock"
        guard access(candidate, X_OK) == 0 else {
            execSkipReason = "no rvf-lock beside \(ProcessSpawner.currentExecutable) (build it into the same folder)"
            return
        }
        rvfLock = candidate
    }

    private func checkNamespaces() {
        guard configuration.faults.contains(.namespaces) else { return }
        guard getuid() == 0 else {
            namespaceSkipReason = "not root: cannot create UTS and PID namespaces"
            return
        }
        guard let unshare = Spawn.executable(named: "unshare") else {
            namespaceSkipReason = "no unshare(1) on PATH"
            return
        }
        guard (try? Spawn.run(unshare, arguments: [unshare, "--uts", "--pid", "--fork", "--mount-proc", "--kill-child", "/bin/true"])) == 0
        else {
            namespaceSkipReason = "unshare --uts --pid --fork --mount-proc failed (no namespace support here?)"
            return
        }
        self.unshare = unshare
    }

    private func start(_ index: Int) throws {
        let slot = slots[index]
        if slot.placement == .exec, let rvfLock {
            let arguments =
                [
                    ProcessSpawner.currentExecutable, "exec-worker", "--index", "\(index)", "--incarnation", "\(slot.incarnation)",
                    "--dir", configuration.files.directory, "--until", "\(deadline)", "--seed", "\(configuration.seed)",
                    "--rvf-lock", rvfLock,
                ] + (configuration.etcdEndpoints.map { ["--etcd", $0] } ?? [])
            slots[index].pid = try ProcessSpawner.spawn(
                arguments, output: configuration.files.workerOutput(index, slot.incarnation), environment: environment(for: slot.placement))
            slots[index].running = true
            return
        }
        // Workers that cannot probe the reference holder's pid judge its record by age only,
        // as another host does with the 300 s default: their threshold stays above its holdings.
        let otherHostMilliseconds =
            referenceProgram != nil && slot.placement.cannotProbeReference
            ? max(configuration.otherHostMilliseconds, configuration.blindOtherHostMilliseconds) : configuration.otherHostMilliseconds
        var arguments = [
            ProcessSpawner.currentExecutable, "worker", "--index", "\(index)", "--incarnation", "\(slot.incarnation)",
            "--dir", configuration.files.directory, "--until", "\(deadline)", "--seed", "\(configuration.seed)",
            "--stale-ms", "\(configuration.staleMilliseconds)", "--other-ms", "\(otherHostMilliseconds)",
            "--heartbeat-ms", "\(configuration.heartbeatMilliseconds)",
        ]
        if slot.namedTemporaries { arguments.append("--named-temp") }
        if configuration.workersSkipLock { arguments.append("--unlocked") }
        if referenceProgram != nil { arguments += ["--reference-alias", configuration.referenceAlias] }
        var closed = ProcessSpawner.ClosedStreams.none
        switch slot.placement {
        case .plain, .exec, .aliasReference:
            break
        case .otherHost:
            arguments = [unshare!, "--uts"] + arguments + ["--hostname", "torture-other-\(index)"]
        case .pidNamespace:
            arguments = [unshare!, "--pid", "--fork", "--mount-proc", "--kill-child"] + arguments
        case .chdir:
            arguments.append("--chdir")
        case .closedStdout, .closedStdoutAndStdin:
            arguments.append(configuration.lockFileOnStandardOutput ? "--lock-file-on-stdout" : "--careless-stdout")
            closed = .init(input: slot.placement == .closedStdoutAndStdin, output: true)
        }
        slots[index].pid = try ProcessSpawner.spawn(
            arguments, output: configuration.files.workerOutput(index, slot.incarnation), closed: closed,
            environment: environment(for: slot.placement))
        slots[index].running = true
    }

    private func respawn(_ index: Int) throws {
        holders[index] = nil
        slots[index].running = false
        guard Syscalls.monotonicNanoseconds() + 500_000_000 < deadline else { return }
        slots[index].incarnation += 1
        respawns += 1
        try start(index)
    }

    /// The process to signal for a worker: the worker itself, also behind an `unshare --fork` wrapper;
    /// for an exec worker, the rvf-lock of its current holding (none when it holds nothing).
    private func signalTarget(_ index: Int) -> pid_t? {
        let slot = slots[index]
        guard slot.running else { return nil }
        if slot.placement == .exec { return holders[index] == nil ? nil : holderPIDs[index] }
        return slot.placement == .pidNamespace ? ProcessSpawner.firstChild(of: slot.pid) : slot.pid
    }

    private func followLog() {
        for line in tail.readNewLines() {
            guard let event = TortureEvent(line: line) else { continue }
            events.append(event)
            switch event {
            case .acquired(_, let key, let pid, _, _):
                holders[key.writer] = key
                holderPIDs[key.writer] = pid
            case .releasing(_, let key) where holders[key.writer] == key: holders[key.writer] = nil
            default: break
            }
        }
    }

    private func reapExited() throws {
        var status: CInt = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            guard let index = slots.firstIndex(where: { $0.pid == pid && $0.running }) else { continue }
            let exitedNormally = status & 0x7F == 0 && (status >> 8) & 0xFF == 0
            if slots[index].placement == .aliasReference {
                // One process per holding: done when it ends, never respawned.
                slots[index].running = false
                if !exitedNormally {
                    let output =
                        (try? String(contentsOfFile: configuration.files.workerOutput(index, slots[index].incarnation), encoding: .utf8))
                        ?? ""
                    unexpectedExits.append(
                        "reference holder \(index).\(slots[index].incarnation) exited with status \(status): \(output.suffix(300))")
                }
                continue
            }
            if exitedNormally && Syscalls.monotonicNanoseconds() + 1_000_000_000 >= deadline {
                slots[index].running = false
                continue
            }
            let output =
                (try? String(contentsOfFile: configuration.files.workerOutput(index, slots[index].incarnation), encoding: .utf8)) ?? ""
            unexpectedExits.append(
                "worker \(index).\(slots[index].incarnation) (\(slots[index].placement.rawValue)) exited with status \(status): \(output.suffix(300))"
            )
            try respawn(index)
        }
    }

    // MARK: Faults

    private func scheduleNextFault() {
        nextFaultAt = Syscalls.monotonicNanoseconds() + 500_000_000 + random.next() % 1_500_000_000
    }

    private func advanceFault() throws {
        let now = Syscalls.monotonicNanoseconds()
        switch fault {
        case .none:
            guard now >= nextFaultAt else { return }
            if referenceSlot != nil && now >= nextReferenceAt {
                try startReferenceHolder()
                return
            }
            var choices: [String] = []
            if configuration.faults.contains(.kill) { choices += ["kill-holder", "kill-holder", "kill-any"] }
            // The rvf-lock of an exec worker's holding, so that its writer goes on without it.
            if configuration.faults.contains(.kill) && rvfLock != nil { choices += ["kill-exec-holder", "kill-exec-holder"] }
            if configuration.faults.contains(.stop) { choices.append("stop") }
            if configuration.faults.contains(.plant) { choices += ["plant", "plant"] }
            guard !choices.isEmpty else {
                // Only reference holders, if any: keep the schedule going for them.
                if referenceSlot == nil { nextFaultAt = UInt64.max } else { scheduleNextFault() }
                return
            }
            switch choices[Int(random.next() % UInt64(choices.count))] {
            case "kill-holder": fault = .huntingHolder(kill: true, onlyExec: false, until: now + 3_000_000_000)
            case "kill-exec-holder": fault = .huntingHolder(kill: true, onlyExec: true, until: now + 3_000_000_000)
            case "stop": fault = .huntingHolder(kill: false, onlyExec: false, until: now + 3_000_000_000)
            case "kill-any":
                try killContender()
                scheduleNextFault()
            default:
                if plantCycle.isEmpty { plantCycle = PlantKind.allCases.shuffled(using: &random) }
                fault = .planting(plantCycle.removeLast(), until: now + 3_000_000_000)
            }
        case .referenceHolding:
            guard let referenceSlot, !slots[referenceSlot].running else { return }
            fault = .none
            nextReferenceAt = now + 8_000_000_000 + random.next() % 8_000_000_000
            scheduleNextFault()
        case .huntingHolder(let kill, let onlyExec, let until):
            let candidates = holders.keys.sorted().filter {
                slots[$0].running && slots[$0].placement != .aliasReference && (!onlyExec || slots[$0].placement == .exec)
            }
            guard let writer = candidates.randomElement(using: &random), let target = signalTarget(writer) else {
                if now >= until {
                    fault = .none
                    scheduleNextFault()
                }
                return
            }
            let holding = holders[writer]
            if kill {
                try killWorker(writer, target: target, holding: holding)
                fault = .none
                scheduleNextFault()
            } else if let holding {
                Glibc.kill(target, SIGSTOP)
                // kill() returns before a worker running on another CPU has stopped; the pause
                // starts when /proc shows it stopped.
                ProcessSpawner.waitUntilStopped(target)
                let pause = PauseRecord(writer: writer, holding: holding, stoppedAt: Syscalls.monotonicNanoseconds(), resumedAt: 0)
                log.append("# STOP \(pause.stoppedAt) w\(writer) \(holding)\n")
                let pausedFor = UInt64(configuration.staleMilliseconds + 1000) * 1_000_000
                fault = .paused(pause, signalPID: target, resumeAt: now + pausedFor)
            }
        case .paused(var pause, let target, let resumeAt):
            guard now >= resumeAt else { return }
            resume(&pause, target)
            fault = .none
            scheduleNextFault()
        case .planting(let kind, let until):
            // Under contention the lock path is free only between a release and the next
            // link(), so keep trying for a while within this tick.
            let scratch = configuration.files.directory + "/plant-scratch"
            var planted: PlantedIdentity?
            let tickEnd = now + 50_000_000
            while planted == nil && Syscalls.monotonicNanoseconds() < tickEnd {
                planted = kind.plant(at: configuration.files.lockFile, scratch: scratch, random: &random)
                if planted == nil { Syscalls.sleep(nanoseconds: 100_000) }
            }
            if let identity = planted {
                let plantedAt = Syscalls.monotonicNanoseconds()
                log.append("# PLANT \(plantedAt) \(kind.rawValue)\n")
                let operatorDelay: UInt64 =
                    switch kind.expectation {
                    case .brokenAfterThreshold, .brokenOnceWatchedPastThreshold:
                        UInt64(configuration.staleMilliseconds) * 1_000_000 + 5_000_000_000
                    case .brokenAtOnce: 5_000_000_000
                    case .notARegularFile: 1_000_000_000
                    }
                fault = .planted(kind, identity, at: plantedAt, operatorAt: plantedAt + operatorDelay)
            } else if now >= until {
                plantsSkippedBusy += 1
                fault = .none
                scheduleNextFault()
            }
        case .planted(let kind, let identity, let plantedAt, let operatorAt):
            if PlantedIdentity(path: configuration.files.lockFile) != identity {
                plants.append(PlantRecord(kind: kind, plantedAt: plantedAt, resolvedAt: now, neededOperator: false, removedAtEnd: false))
                log.append("# PLANT-BROKEN \(now) \(kind.rawValue)\n")
            } else if now >= operatorAt {
                removePlanted(kind)
                plants.append(
                    PlantRecord(
                        kind: kind, plantedAt: plantedAt, resolvedAt: Syscalls.monotonicNanoseconds(), neededOperator: true,
                        removedAtEnd: false))
                log.append("# PLANT-REMOVED-BY-OPERATOR \(now) \(kind.rawValue)\n")
            } else {
                return
            }
            fault = .none
            scheduleNextFault()
        }
    }

    /// Starts one reference holder under the alias, holding beyond the other-host threshold
    /// (so that a judge taking the alias for another host would break it), if it can
    /// finish before the deadline; it gives up when the lock is never free for 3 s.
    private func startReferenceHolder() throws {
        guard let referenceSlot, let referenceProgram else { return }
        let holdMilliseconds = UInt64(configuration.otherHostMilliseconds) + 500 + random.next() % 1000
        let giveUpMilliseconds: UInt64 = 3000
        guard Syscalls.monotonicNanoseconds() + (holdMilliseconds + giveUpMilliseconds + 2000) * 1_000_000 < deadline else {
            nextReferenceAt = UInt64.max
            return
        }
        slots[referenceSlot].incarnation += 1
        let incarnation = slots[referenceSlot].incarnation
        let files = configuration.files
        slots[referenceSlot].pid = try ProcessSpawner.spawn(
            [
                referenceProgram.executable, files.dataFile, files.eventLog, "\(referenceSlot)", "\(incarnation)",
                "\(holdMilliseconds)", "\(giveUpMilliseconds)",
            ],
            output: files.workerOutput(referenceSlot, incarnation), environment: ["HOSTNAME": configuration.referenceAlias])
        slots[referenceSlot].running = true
        log.append(
            "# REFERENCE \(Syscalls.monotonicNanoseconds()) w\(referenceSlot).\(incarnation) hold \(holdMilliseconds) ms as \(configuration.referenceAlias)\n"
        )
        fault = .referenceHolding
    }

    private func removePlanted(_ kind: PlantKind) {
        let path = configuration.files.lockFile
        if kind == .directory { rmdir(path) } else { unlink(path) }
    }

    private func resume(_ pause: inout PauseRecord, _ target: pid_t) {
        // Before SIGCONT: the resumed worker may run (and release) before this process runs again.
        pause.resumedAt = Syscalls.monotonicNanoseconds()
        Glibc.kill(target, SIGCONT)
        log.append("# CONT \(pause.resumedAt) w\(pause.writer)\n")
        pauses.append(pause)
    }

    /// Kills a worker that is not holding (as far as the log says), preferring one that uses
    /// named temporaries, which it may be in the middle of creating.
    private func killContender() throws {
        // An idle exec worker has no rvf-lock worth killing: its loop only starts the next one.
        let idle = slots.filter { $0.running && holders[$0.index] == nil && $0.placement != .exec && $0.placement != .aliasReference }
        let preferred = idle.filter(\.namedTemporaries)
        let pool = !preferred.isEmpty && random.chance(2, in: 3) ? preferred : idle
        guard let slot = pool.randomElement(using: &random), let target = signalTarget(slot.index) else { return }
        try killWorker(slot.index, target: target, holding: holders[slot.index])
    }

    private func killWorker(_ index: Int, target: pid_t, holding: HoldingKey?) throws {
        let time = Syscalls.monotonicNanoseconds()
        if slots[index].placement == .exec {
            // The holding's rvf-lock, not the worker: its writer lives on and keeps the lock,
            // and the worker's loop starts the next rvf-lock exec, which must wait for it.
            Glibc.kill(target, SIGKILL)
            log.append("# KILL-EXEC \(time) w\(index) \(holding.map(\.description) ?? "-") rvf-lock \(target)\n")
            kills.append(KillRecord(time: time, writer: index, holding: holding, viaExec: true))
            holders[index] = nil
            return
        }
        Glibc.kill(target, SIGKILL)
        log.append("# KILL \(time) w\(index) \(holding.map(\.description) ?? "-")\n")
        var status: CInt = 0
        while waitpid(slots[index].pid, &status, 0) < 0 && errno == EINTR {}
        kills.append(KillRecord(time: time, writer: index, holding: holding, viaExec: false))
        try respawn(index)
    }

    // MARK: Ending

    private func shutDown() throws {
        switch fault {
        case .paused(var pause, let target, _):
            resume(&pause, target)
        case .planted(let kind, let identity, let plantedAt, _):
            let now = Syscalls.monotonicNanoseconds()
            let stillThere = PlantedIdentity(path: configuration.files.lockFile) == identity
            if stillThere { removePlanted(kind) }
            plants.append(PlantRecord(kind: kind, plantedAt: plantedAt, resolvedAt: now, neededOperator: false, removedAtEnd: stillThere))
        default:
            break
        }
        fault = .none
        let graceEnd = Syscalls.monotonicNanoseconds() + 20_000_000_000
        var waiting = Set(slots.filter(\.running).map(\.pid)).union(readerPids).union(breakerPid.map { [$0] } ?? [])
        var status: CInt = 0
        while !waiting.isEmpty && Syscalls.monotonicNanoseconds() < graceEnd {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                waiting.remove(pid)
                if let index = slots.firstIndex(where: { $0.pid == pid && $0.running }) {
                    slots[index].running = false
                    if !(status & 0x7F == 0 && (status >> 8) & 0xFF == 0) {
                        unexpectedExits.append("worker \(index).\(slots[index].incarnation) ended with status \(status)")
                    }
                }
            } else {
                Syscalls.sleep(nanoseconds: 20_000_000)
            }
        }
        for pid in waiting {
            if slots.contains(where: { $0.pid == pid }) { hungWorkers += 1 }
            Glibc.kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// Named temporaries (`.data.rvf.lock.PID.HEX.tmp`) still in the directory.
    func leftoverTemporaries() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.files.directory)) ?? []
        return names.filter { $0.hasPrefix(configuration.files.temporaryPrefix) && $0.hasSuffix(".tmp") }.sorted()
    }
}
