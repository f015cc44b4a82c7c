#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLock
import RVFLockTestSupport
import Testing

extension CLITests {
    /// `rvf-lock exec`, run as a user runs it.
    @Suite struct Exec {
        @Test func passesOnTheCommandsExitStatusAndReleasesTheLock() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "--", "sh", "-c", "echo out; exit 7"])
                #expect(result.status == 7)
                #expect(result.standardOutput == "out\n")
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        @Test func reportsDeathBySignalAs128PlusTheSignal() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "--", "sh", "-c", "kill -TERM $$"])
                #expect(result.status == 128 + SIGTERM)
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        @Test func runsTheCommandWhileTheLockIsHeld() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "--", "sh", "-c", "cat \(dir)/data.rvf.lock | wc -c"])
                #expect(result.status == 0)
                #expect(result.standardOutput.trimmingCharacters(in: .whitespaces) == "104\n")
            }
        }

        @Test func forwardsSIGTERMToTheCommand() async throws {
            try await withSandbox { dir in
                let script =
                    "trap 'echo got-term > \(dir)/marker; exit 3' TERM; echo $$ > \(dir)/pid; "
                    + "while :; do sleep 0.05; done"
                let holder = try ChildProcess.rvfLock(
                    ["exec", "\(dir)/data.rvf", "--", "sh", "-c", script],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")
                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 3)
                #expect((try? String(contentsOfFile: "\(dir)/marker", encoding: .utf8)) == "got-term\n")
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        @Test func twoExecsNeverHoldTheLockAtOnce() async throws {
            try await withSandbox { dir in
                let log = "\(dir)/log"
                let workers = try ["a", "b", "c"].map { id in
                    let body = "echo +\(id) >> \(log); sleep 0.05; echo -\(id) >> \(log)"
                    let loop = "for i in 1 2 3 4 5; do \"$0\" exec -q \(dir)/data.rvf -- sh -c '\(body)' || exit 1; done"
                    return try ChildProcess("/bin/sh", ["-c", loop, Tool.rvfLock], outputIn: dir, name: "worker-\(id)")
                }
                for worker in workers {
                    #expect(await worker.waitForExit(timeout: .seconds(60)) == 0, "\(worker.errorOutput)")
                }
                let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
                #expect(lines.count == 30)
                for pair in stride(from: 0, to: lines.count - 1, by: 2) {
                    let entry = lines[pair]
                    let exit = lines[pair + 1]
                    #expect(
                        entry.hasPrefix("+") && exit == "-" + entry.dropFirst(),
                        "overlap at line \(pair + 1): \(lines[pair...].prefix(4))")
                }
            }
        }

        @Test func failsAtOnceWithNoWaitWhenTheLockIsHeld() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let keeper = try holder.keeperPID()

                let busy = try await rvfLock(["exec", "-n", "\(dir)/data.rvf", "--", "touch", "\(dir)/ran"])
                #expect(busy.status == 75)
                #expect(busy.standardError.contains("pid \(keeper) (rvf-lock)"), "\(busy.standardError)")
                let custom = try await rvfLock(["exec", "-n", "-E", "9", "\(dir)/data.rvf", "--", "touch", "\(dir)/ran"])
                #expect(custom.status == 9)
                let quiet = try await rvfLock(["exec", "-n", "-q", "\(dir)/data.rvf", "--", "touch", "\(dir)/ran"])
                #expect(quiet.status == 75)
                #expect(quiet.standardError.isEmpty)
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"))

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        @Test func givesUpAfterTheWaitTimeout() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let keeper = try holder.keeperPID()

                let started = ContinuousClock.now
                let result = try await rvfLock(["exec", "-w", "0.3", "\(dir)/data.rvf", "--", "touch", "\(dir)/ran"])
                let waited = ContinuousClock.now - started
                #expect(result.status == 75)
                #expect(waited >= .milliseconds(300))
                // Not a terminal: no waiting line (as flock(1)), only the failure, naming the holder.
                #expect(!result.standardError.contains("waiting for"), "\(result.standardError)")
                #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
                #expect(result.standardError.contains("pid \(keeper)"), "\(result.standardError)")
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"))

                // With -v, one line announces the wait, with the program name, then the failure.
                let verbose = try await rvfLock(["exec", "-v", "-w", "0.3", "\(dir)/data.rvf", "--", "touch", "\(dir)/ran"])
                #expect(verbose.status == 75)
                #expect(
                    verbose.standardError.hasPrefix("rvf-lock: waiting for \(dir)/data.rvf.lock: held by pid \(keeper)"),
                    "\(verbose.standardError)")
                #expect(verbose.standardError.components(separatedBy: "waiting for").count == 2)
                #expect(verbose.standardError.split(separator: "\n").allSatisfy { $0.hasPrefix("rvf-lock: ") })

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        @Test func waitsForTheHolderThenRuns() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; sleep 0.5"],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")
                let result = try await rvfLock(["exec", "-w", "20", "\(dir)/data.rvf", "--", "touch", "\(dir)/ran"])
                #expect(result.status == 0)
                #expect(FileManager.default.fileExists(atPath: "\(dir)/ran"))
                #expect(await holder.waitForExit() == 0)
            }
        }

        @Test func theCommandInheritsTheLocksDescriptorNamedInRVF_LOCK_FD() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "-q", "\(dir)/data.rvf", "sh", "-c", "echo $RVF_LOCK_FD > \(dir)/fd; echo $$ > \(dir)/pid; exec sleep 30"],
                    outputIn: dir, name: "holder")
                let commandPID = try #require(pid_t(try await waitForLine(in: "\(dir)/pid")))
                let advertised = try await waitForLine(in: "\(dir)/fd")
                let lockFile = "\(dir)/data.rvf.lock"

                // Exactly one descriptor of the lock, the one RVF_LOCK_FD names, 3 or above.
                let inherited = try descriptors(of: commandPID, referringTo: lockFile)
                #expect(inherited == [advertised])
                #expect((Int(advertised) ?? 0) >= 3)
                // rvf-lock's own stays close-on-exec: nothing else it starts gets it.
                let own = try #require(try descriptors(of: holder.pid, referringTo: lockFile).first)
                let flags = try String(contentsOfFile: "/proc/\(holder.pid)/fdinfo/\(own)", encoding: .utf8)
                    .split(separator: "\n").first { $0.hasPrefix("flags:") }
                let octal = try #require(flags.flatMap { Int($0.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8) })
                #expect(octal & Int(O_CLOEXEC) != 0)

                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        /// An rvf-lock that must wait starts its keeper before the wait and hands it the
        /// descriptor once the lock is held: COMMAND finds it as if rvf-lock had taken the
        /// lock at once, under rvf-lock's own number (one digit, for dash's `exec N>&-`),
        /// alone, and the record names that keeper.
        @Test func aCommandThatWaitedGetsTheDescriptorUnderRvfLocksOwnNumber() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let (waiter, waiting) = try await startWaiter(
                    running: [
                        "sh", "-c",
                        "echo $RVF_LOCK_FD > \(dir)/fd; eval \"exec $RVF_LOCK_FD<&$RVF_LOCK_FD\"; echo $$ > \(dir)/waiter; exec sleep 30",
                    ], in: dir)
                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)

                let commandPID = try #require(pid_t(try await waitForLine(in: "\(dir)/waiter")))
                let advertised = try await waitForLine(in: "\(dir)/fd")
                let lockFile = "\(dir)/data.rvf.lock"
                #expect(parentPID(of: commandPID) == waiting, "COMMAND's parent is not the keeper started before the wait")
                #expect(try descriptors(of: commandPID, referringTo: lockFile) == [advertised])
                #expect(try descriptors(of: waiter.pid, referringTo: lockFile) == [advertised])
                let record = try LockRecord(decoding: try #require(FileManager.default.contents(atPath: lockFile)))
                #expect(record.pid == UInt32(waiting), "the record names pid \(record.pid), not the keeper \(waiting)")

                waiter.send(SIGTERM)
                #expect(await waiter.waitForExit() == 128 + SIGTERM)
            }
        }

        /// Ctrl-C or `kill -9` ends a waiting rvf-lock as it ends any waiting process
        /// (its relay catches nothing before the lock is held); the keeper it started for
        /// the wait exits at once, and COMMAND never runs.
        @Test(arguments: [SIGINT, SIGKILL])
        func aWaitingRvfLockEndedBySignalLeavesNoKeeperAndNeverRunsTheCommand(_ signal: Int32) async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let (waiter, keeper) = try await startWaiter(running: ["touch", "\(dir)/ran"], in: dir)

                waiter.send(signal)
                #expect(await waiter.waitForExit() == 128 + signal)
                #expect(await waitUntilGone(keeper), "the keeper \(keeper) outlived the rvf-lock that started it")
                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"), "COMMAND ran though its rvf-lock never held the lock")
            }
        }

        /// rvf-lock's own sockets (the event channel, the keeper's go channel) stay among
        /// the 64 descriptors a process starts with, whether made after the lock (a holder)
        /// or before the wait (a waiter): beyond them the kernel grows the table, which
        /// rvf-lock's threads share, only after an RCU grace period (`exec` took 15.9
        /// instead of 2.2 ms with the sockets at 100, started with descriptors 0 to 2 only).
        @Test func rvfLocksOwnSocketsStayAmongTheFirst64Descriptors() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let (waiter, _) = try await startWaiter(running: ["true"], in: dir)
                for (name, pid) in [("holder", holder.pid), ("waiter", waiter.pid)] {
                    let sockets = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap { entry -> Int? in
                        let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(entry)")
                        return target?.hasPrefix("socket:") == true ? Int(entry) : nil
                    }
                    #expect(!sockets.isEmpty, "the \(name) has no socket")
                    #expect(sockets.allSatisfy { $0 < 64 }, "the \(name)'s sockets are descriptors \(sockets.sorted())")
                }
                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
                #expect(await waiter.waitForExit() == 0, "\(waiter.errorOutput)")
            }
        }

        @Test func stopsTheCommandAndExits70WhenTheLockIsLost() async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                let commandPID = try #require(pid_t(try await waitForLine(in: "\(dir)/pid")))
                let keeper = try holder.keeperPID()

                let broken = try await rvfLock(["break", "--force", "\(dir)/data.rvf"])
                #expect(broken.status == 0)
                #expect(broken.standardError.contains("pid \(keeper)"))

                #expect(await holder.waitForExit() == 70)
                #expect(holder.errorOutput.contains("removed or replaced"))
                #expect(await waitUntilGone(commandPID))
            }
        }

        @Test func exits127WhenTheCommandIsNotFound() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "--", "\(dir)/no-such-command"])
                #expect(result.status == 127)
                #expect(result.standardError.contains("no-such-command"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        @Test func exits126WhenTheCommandIsNotExecutable() async throws {
            try await withSandbox { dir in
                let script = "\(dir)/script"
                try "#!/bin/sh\nexit 0\n".write(toFile: script, atomically: false, encoding: .utf8)
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "--", script])
                #expect(result.status == 126)
                #expect(result.standardError.contains("script"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        /// `rvf-lock exec FILE -- sh -c 'echo $$ > pid; exec sleep 30'`: holds the lock
        /// until signalled, and tells the command's pid through `pid`.
        private func startHolder(in dir: String) throws -> ChildProcess {
            try ChildProcess.rvfLock(
                ["exec", "-q", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                outputIn: dir, name: "holder")
        }

        /// Starts `rvf-lock exec -q DIR/data.rvf COMMAND` while another holds the lock, and
        /// returns it once it waits, with its keeper, which it starts before the wait (its
        /// only child then).
        private func startWaiter(running command: [String], in dir: String) async throws -> (ChildProcess, keeper: pid_t) {
            let waiter = try ChildProcess.rvfLock(["exec", "-q", "\(dir)/data.rvf"] + command, outputIn: dir, name: "waiter")
            var children: [pid_t] = []
            _ = await eventually {
                children = childPIDs(of: waiter.pid)
                return !children.isEmpty
            }
            let keeper = try #require(
                children.count == 1 ? children.first : nil, "rvf-lock has children \(children) as it waits, not one keeper")
            return (waiter, keeper)
        }
    }
}
