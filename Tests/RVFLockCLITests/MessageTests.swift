#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing

/// The seconds in "for 2.5 s" (the holder's age in a message), or nil.
func holderAge(in message: String) -> Double? {
    guard let range = message.range(of: #"for [0-9.]+ s"#, options: .regularExpression) else { return nil }
    return Double(message[range].dropFirst(4).dropLast(2))
}

private let hasSetpriv = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
private let hasFlock = FileManager.default.isExecutableFile(atPath: "/usr/bin/flock")

extension CLITests {
    /// What the tool says is true: the holder's age when the wait ended, what a
    /// directory lacks, why an old lock file is still not breakable.
    @Suite struct Messages {
        private func startHolder(in dir: String) throws -> ChildProcess {
            try ChildProcess.rvfLock(
                ["exec", "-q", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                outputIn: dir, name: "holder")
        }

        @Test(arguments: [["exec", "-w", "0.8", "DIR/data.rvf", "true"], ["wait", "-w", "0.8", "DIR/data.rvf"]])
        func aTimeoutGivesTheHoldersAgeWhenTheWaitEnded(_ arguments: [String]) async throws {
            try await withSandbox { dir in
                let holder = try startHolder(in: dir)
                _ = try await waitForLine(in: "\(dir)/pid")
                let result = try await rvfLock(arguments.map { $0.replacingOccurrences(of: "DIR", with: dir) })
                #expect(result.status == 75)
                #expect(result.standardError.contains("gave up after waiting 0.8 s"), "\(result.standardError)")
                // Held since before the wait began, so at least as long as it lasted.
                let age = try #require(holderAge(in: result.standardError), "\(result.standardError)")
                #expect(age >= 0.8, "\(result.standardError)")
                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }

        @Test func aNamedPipeAtTheLockPathIsCalledTheSameByEveryCommand() async throws {
            try await withSandbox { dir in
                #expect(mkfifo("\(dir)/data.rvf.lock", 0o644) == 0)
                let exec = try await rvfLock(["exec", "-n", "\(dir)/data.rvf", "true"])
                #expect(exec.status == 66, "\(exec.standardError)")
                #expect(exec.standardError.contains("is a named pipe, not a lock file"), "\(exec.standardError)")
                let status = try await rvfLock(["status", "\(dir)/data.rvf"])
                #expect(status.standardOutput.contains("named pipe"), "\(status.standardOutput)")
                #expect(!status.standardOutput.contains("FIFO"), "\(status.standardOutput)")
            }
        }

        @Test func aDirectoryThatRefusesNewFilesIsNotCalledMissing() async throws {
            let result = try await rvfLock(["exec", "/proc/rvf-lock-test.rvf", "true"])
            #expect(result.status == 73, "\(result.standardError)")
            #expect(!result.standardError.contains("create the directory"), "\(result.standardError)")
            #expect(result.standardError.contains("does not let files be created"), "\(result.standardError)")
        }

        @Test(.enabled(if: getuid() != 0 || hasSetpriv, "running as root needs /usr/bin/setpriv to drop privileges"))
        func aDirectoryWithoutSearchPermissionIsSaidToNeedItNotWritePermission() async throws {
            try await withSandbox { dir in
                #expect(chmod(dir, 0o755) == 0)
                let closed = "\(dir)/closed"
                try FileManager.default.createDirectory(atPath: closed, withIntermediateDirectories: false)
                try Data("not a lock record\n".utf8).write(to: URL(fileURLWithPath: "\(closed)/data.rvf.lock"))
                #expect(chmod(closed, 0o644) == 0)  // readable, not searchable
                defer { chmod(closed, 0o755) }
                let asNobody = getuid() == 0 ? ["--reuid=65534", "--regid=65534", "--clear-groups", Tool.rvfLock] : []
                let result = try await CompletedProcess.run(
                    getuid() == 0 ? "/usr/bin/setpriv" : Tool.rvfLock,
                    asNobody + ["status", "\(closed)/data.rvf"])
                #expect(result.status == 77, "\(result.standardError)")
                #expect(!result.standardError.contains("must be writable"), "\(result.standardError)")
                #expect(result.standardError.contains("search permission"), "\(result.standardError)")
            }
        }

        @Test(.enabled(if: hasFlock, "needs /usr/bin/flock to hold a lock file as flock(1) users do"))
        func anOldLockFileHeldWithFlockIsSaidToBeInUseNotToTurnStale() async throws {
            try await withSandbox { dir in
                let lockFile = "\(dir)/data.rvf.lock"
                #expect(FileManager.default.createFile(atPath: lockFile, contents: nil))
                try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: lockFile)
                let holder = try ChildProcess(
                    "/usr/bin/flock", [lockFile, "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                    outputIn: dir, name: "flock")
                let commandPID = try #require(pid_t(try await waitForLine(in: "\(dir)/pid")))
                for arguments in [["exec", "-n", "\(dir)/data.rvf", "true"], ["break", "\(dir)/data.rvf"]] {
                    let result = try await rvfLock(arguments)
                    #expect(result.status == (arguments[0] == "exec" ? 75 : 1), "\(result.standardError)")
                    // 60 s when the file was made; a second or two more on a loaded machine.
                    let age = result.standardError.firstMatch(of: /last modified (\d+) s ago/).flatMap { Int($0.1) }
                    #expect(age.map { (60...70).contains($0) } == true, "\(result.standardError)")
                    #expect(result.standardError.contains("holds its kernel lock"), "\(result.standardError)")
                    #expect(!result.standardError.contains("once unmodified for 30 s"), "\(result.standardError)")
                }
                #expect(FileManager.default.fileExists(atPath: lockFile))
                // flock(1) ends when its command does (SIGKILL: the test runner's children may block SIGTERM).
                kill(commandPID, SIGKILL)
                #expect(await holder.waitForExit() == 128 + SIGKILL)
            }
        }
    }

    /// flock(1) habits, and one way of saying things.
    @Suite struct FlockHabits {
        @Test func aValueAttachedToAShortOptionIsRead() async throws {
            try await withSandbox { dir in
                let exec = try await rvfLock(["exec", "-w2", "-E3", "\(dir)/data.rvf", "sh", "-c", "echo \"$@\"", "sh", "-w5"])
                #expect(exec.status == 0, "\(exec.standardError)")
                // -w5 after FILE is the command's.
                #expect(exec.standardOutput == "-w5\n")
                let wait = try await rvfLock(["wait", "-w0", "\(dir)/data.rvf"])
                #expect(wait.status == 0, "\(wait.standardError)")
                let refused = try await rvfLock(["exec", "-w-1", "\(dir)/data.rvf", "true"])
                #expect(refused.status == 64)
                #expect(refused.standardError.contains("-w takes a number of seconds"), "\(refused.standardError)")
            }
        }

        @Test func aShellCommandLineGivenAsOneWordGetsTheSHDashCHint() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "echo hi >> \(dir)/data.rvf"])
                #expect(result.status == 127)
                #expect(result.standardError.contains("sh -c 'echo hi >> \(dir)/data.rvf'"), "\(result.standardError)")
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf"))
            }
        }

        @Test func noCommandAtAllIsAUsageError() async throws {
            let result = try await rvfLock([])
            #expect(result.status == 64)
            #expect(result.standardOutput.isEmpty)
            #expect(result.standardError.hasPrefix("rvf-lock: "), "\(result.standardError)")
        }

        /// ArgumentParser's errors and the tool's own start the same way.
        @Test(arguments: [
            ["exec", "--bogus", "d.rvf", "true"], ["exec"], ["status"], ["frobnicate"], ["wait", "-w", "soon", "d.rvf"],
            ["exec", "-w", "1", "-n", "d.rvf", "true"], ["status", ""], ["selftest", "-p", "1"], ["break", "/"],
        ])
        func everyErrorMessageStartsWithTheProgramName(_ arguments: [String]) async throws {
            let result = try await rvfLock(arguments)
            #expect(result.status != 0)
            #expect(result.standardError.hasPrefix("rvf-lock: "), "\(result.standardError)")
            #expect(!result.standardError.contains("Error:"), "\(result.standardError)")
        }

        @Test func helpAndVersionStillGoToStandardOutputAndExitZero() async throws {
            for arguments in [["--help"], ["exec", "--help"], ["help", "status"], ["--version"]] {
                let result = try await rvfLock(arguments)
                #expect(result.status == 0, "\(arguments)")
                #expect(!result.standardOutput.isEmpty, "\(arguments)")
                #expect(result.standardError.isEmpty, "\(arguments): \(result.standardError)")
            }
        }
    }

    /// A lock file given as FILE (`data.rvf.lock`, as flock(1) users write it) would lock
    /// `data.rvf.lock.lock` and exclude nobody: refused, unless --allow-lock-suffix says so.
    @Suite struct LockFileGivenAsFile {
        @Test func whileTheDataFileIsHeldItsLockFileGivenAsFileTakesNoLockAndRunsNothing() async throws {
            try await withSandbox { dir in
                let holder = try ChildProcess.rvfLock(
                    ["exec", "-q", "\(dir)/data.rvf", "--", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"],
                    outputIn: dir, name: "holder")
                _ = try await waitForLine(in: "\(dir)/pid")
                #expect(symlink("data.rvf.lock", "\(dir)/link.rvf") == 0)
                for file in ["\(dir)/data.rvf.lock", "\(dir)/link.rvf"] {
                    let exec = try await rvfLock(["exec", "-n", file, "touch", "\(dir)/ran"])
                    #expect(exec.status == 64, "\(exec.standardError)")
                    #expect(exec.standardError.contains("is a lock file, not a data file"), "\(exec.standardError)")
                    #expect(exec.standardError.contains("rvf-lock exec \(dir)/data.rvf COMMAND"), "\(exec.standardError)")
                    #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"))
                }
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock.lock"))

                // Said to be a data file: its own lock, data.rvf.lock.lock, is taken.
                let allowed = try await rvfLock([
                    "exec", "-n", "--allow-lock-suffix", "\(dir)/data.rvf.lock", "sh", "-c",
                    "test -f \(dir)/data.rvf.lock.lock && touch \(dir)/ran",
                ])
                #expect(allowed.status == 0, "\(allowed.standardError)")
                #expect(FileManager.default.fileExists(atPath: "\(dir)/ran"))
                let status = try await rvfLock(["status", "--allow-lock-suffix", "\(dir)/data.rvf.lock"])
                #expect(status.status == 0, "\(status.standardError)")
                holder.send(SIGTERM)
                #expect(await holder.waitForExit() == 128 + SIGTERM)
            }
        }
    }
}
