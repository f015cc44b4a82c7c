#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing

/// A command line that must fail, what the sandbox holds first, and the status it must fail with.
struct BadInput: Sendable, CustomTestStringConvertible {
    enum Setup: Sendable {
        case nothing
        case dataFileIsDirectory
        case lockPathIsDirectory
        case lockPathIsSymlinkToFile
        case lockPathIsDanglingSymlink
    }

    let arguments: [String]
    let setup: Setup
    let status: Int32

    init(_ arguments: [String], _ setup: Setup, _ status: Int32) {
        self.arguments = arguments
        self.setup = setup
        self.status = status
    }

    init(_ arguments: [String], _ status: Int32) {
        self.init(arguments, .nothing, status)
    }

    var testDescription: String {
        let shown = arguments.map { $0.count > 40 ? String($0.prefix(12)) + "…(\($0.count))" : $0 }
        return "\(setup): rvf-lock \(shown.joined(separator: " ")) → \(status)"
    }

    /// Every bad input the issue lists, for each command it applies to. `DIR` is the sandbox.
    static let all: [BadInput] = {
        var cases: [BadInput] = [
            // Usage: 64.
            BadInput(["exec", "DIR/data.rvf"], 64),
            BadInput(["exec", "DIR/data.rvf", "--"], 64),
            BadInput(["exec", "--bogus", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["exec", "-w", "soon", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["exec", "-w=-1", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["exec", "-w", "-1", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["exec", "-E", "-1", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["wait", "-w", "-1", "DIR/data.rvf"], 64),
            BadInput(["exec", "-w", "1", "-n", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["exec", "-E", "300", "DIR/data.rvf", "--", "true"], 64),
            BadInput(["exec", "", "--", "true"], 64),
            BadInput(["status"], 64),
            BadInput(["status", "--bogus", "DIR/data.rvf"], 64),
            BadInput(["wait"], 64),
            BadInput(["break", "--bogus", "DIR/data.rvf"], 64),
            BadInput(["frobnicate", "DIR/data.rvf"], 64),
            BadInput([], 64),
            // Seconds beyond what a Duration holds, or no number at all: refused, never a crash (SIGILL).
            BadInput(["exec", "-w", "1e30", "DIR/data.rvf", "--", "touch", "DIR/ran"], 64),
            BadInput(["exec", "-w", "1e21", "DIR/data.rvf", "--", "touch", "DIR/ran"], 64),
            BadInput(["exec", "-w", "inf", "DIR/data.rvf", "--", "touch", "DIR/ran"], 64),
            BadInput(["exec", "-w", "nan", "DIR/data.rvf", "--", "touch", "DIR/ran"], 64),
            BadInput(["exec", "-w", "1000000001", "DIR/data.rvf", "--", "touch", "DIR/ran"], 64),
            BadInput(["exec", "--kill-after", "1e30", "DIR/data.rvf", "--", "touch", "DIR/ran"], 64),
            BadInput(["wait", "-w", "1e30", "DIR/data.rvf"], 64),
            BadInput(["wait", "-w", "-inf", "DIR/data.rvf"], 64),
            BadInput(["selftest", "-s", "1e30", "DIR"], 64),
            BadInput(["selftest", "-s", "nan", "DIR"], 64),
        ]
        // A lock file given as FILE: the data file is DIR/data.rvf (exit 64, naming it), for every command.
        for command in [
            ["exec", "DIR/data.rvf.lock", "--", "touch", "DIR/ran"], ["status", "DIR/data.rvf.lock"],
            ["wait", "DIR/data.rvf.lock"], ["break", "DIR/data.rvf.lock"],
        ] {
            cases.append(BadInput(command, 64))
        }
        // A lock file name longer than NAME_MAX (255): one status, 73, from every command.
        let long = "DIR/" + String(repeating: "x", count: 252)
        for command in [
            ["exec", long, "--", "touch", "DIR/ran"], ["status", long], ["wait", long], ["break", long],
            ["exec", long + "yyyyyyyy", "--", "touch", "DIR/ran"], ["status", long + "yyyyyyyy"],
        ] {
            cases.append(BadInput(command, 73))
        }
        let commands: [[String]] = [
            ["exec", "DIR/data.rvf", "--", "touch", "DIR/ran"], ["wait", "DIR/data.rvf"], ["break", "DIR/data.rvf"],
        ]
        for command in commands {
            cases.append(BadInput(command, .dataFileIsDirectory, 66))
            cases.append(BadInput(command, .lockPathIsDirectory, 66))
            cases.append(BadInput(command, .lockPathIsSymlinkToFile, 66))
            cases.append(BadInput(command, .lockPathIsDanglingSymlink, 66))
            cases.append(BadInput(command.map { $0.replacingOccurrences(of: "DIR/data.rvf", with: "DIR/missing/data.rvf") }, 66))
        }
        // A trailing slash names a directory (the reference would use data.rvf/.lock), never data.rvf.lock.
        for command in commands + [["status", "DIR/data.rvf"]] {
            cases.append(BadInput(command.map { $0 == "DIR/data.rvf" ? "DIR/data.rvf/" : $0 }, 66))
        }
        cases.append(BadInput(["status", "DIR/data.rvf"], .dataFileIsDirectory, 66))
        cases.append(BadInput(["status", "DIR/missing/data.rvf"], 66))
        // status reports an odd lock path as an invalid lock rather than refusing it.
        cases.append(BadInput(["status", "DIR/data.rvf"], .lockPathIsDirectory, 2))
        cases.append(BadInput(["status", "DIR/data.rvf"], .lockPathIsSymlinkToFile, 2))
        return cases
    }()
}

extension CLITests {
    /// Bad command lines and paths: a clear message, a sysexits status, and no file created, changed or removed.
    @Suite struct BadInputs {
        @Test(arguments: BadInput.all)
        func failsCleanlyAndTouchesNothing(_ input: BadInput) async throws {
            try await withSandbox { dir in
                let manager = FileManager.default
                switch input.setup {
                case .nothing:
                    break
                case .dataFileIsDirectory:
                    try manager.createDirectory(atPath: "\(dir)/data.rvf", withIntermediateDirectories: false)
                case .lockPathIsDirectory:
                    try manager.createDirectory(atPath: "\(dir)/data.rvf.lock", withIntermediateDirectories: false)
                case .lockPathIsSymlinkToFile:
                    try "precious\n".write(toFile: "\(dir)/target", atomically: false, encoding: .utf8)
                    try manager.createSymbolicLink(atPath: "\(dir)/data.rvf.lock", withDestinationPath: "target")
                case .lockPathIsDanglingSymlink:
                    try manager.createSymbolicLink(atPath: "\(dir)/data.rvf.lock", withDestinationPath: "nowhere")
                }
                let before = listing(of: dir)

                let arguments = input.arguments.map { $0.replacingOccurrences(of: "DIR", with: dir) }
                let result = try await rvfLock(arguments)

                #expect(result.status == input.status, "stderr: \(result.standardError)")
                #expect(listing(of: dir) == before)
                if input.status == 66 {
                    // Path errors: one line, naming the path.
                    #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
                    #expect(result.standardError.contains(dir))
                } else if input.status == 64 {
                    #expect(!result.standardError.isEmpty)
                    if input.arguments.contains(where: { $0.hasSuffix(".rvf.lock") }) {
                        #expect(result.standardError.contains("the data file is \(dir)/data.rvf"), "\(result.standardError)")
                        #expect(result.standardError.contains("--allow-lock-suffix"), "\(result.standardError)")
                    }
                } else if input.status == 73 {
                    #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
                    #expect(result.standardError.contains("too long"), "\(result.standardError)")
                }
                if input.setup == .lockPathIsSymlinkToFile {
                    #expect(try String(contentsOfFile: "\(dir)/target", encoding: .utf8) == "precious\n")
                }
            }
        }

        @Test(arguments: [
            (["exec", "-w", "-1", "DIR/data.rvf", "--", "true"], "-w takes a number of seconds from 0 to"),
            (["exec", "--wait", "-2.5", "DIR/data.rvf", "--", "true"], "-w takes a number of seconds from 0 to"),
            (["wait", "-w", "-1", "DIR/data.rvf"], "-w takes a number of seconds from 0 to"),
            (["exec", "-E", "-1", "DIR/data.rvf", "--", "true"], "-E takes an exit code from 0 to 255"),
        ])
        func aNegativeNumberIsReadAndRefusedWithWhatIsWrong(_ arguments: [String], _ expected: String) async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(arguments.map { $0.replacingOccurrences(of: "DIR", with: dir) })
                #expect(result.status == 64)
                #expect(result.standardError.contains(expected), "\(result.standardError)")
                #expect(!result.standardError.contains("Missing value"), "\(result.standardError)")
            }
        }

        @Test(.enabled(if: Capabilities.canRunWithoutWritePermission, "running as root needs /usr/bin/setpriv to drop privileges"))
        func anUnwritableDirectoryExits77AndChangesNothing() async throws {
            try await withSandbox { dir in
                #expect(chmod(dir, 0o755) == 0)
                let locked = "\(dir)/locked"
                try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
                let deadPID = try await pidOfExitedProcess(in: dir)
                _ = try writeStaleLock(for: "\(locked)/stale.rvf", deadPID: deadPID)
                let asUser: [String]
                let launcher: String
                if getuid() == 0 {
                    launcher = "/usr/bin/setpriv"
                    asUser = ["--reuid=65534", "--regid=65534", "--clear-groups", Tool.rvfLock]
                } else {
                    #expect(chmod(locked, 0o555) == 0)
                    launcher = Tool.rvfLock
                    asUser = []
                }
                defer { chmod(locked, 0o755) }
                let before = listing(of: dir)

                let exec = try await CompletedProcess.run(launcher, asUser + ["exec", "\(locked)/data.rvf", "--", "touch", "\(dir)/ran"])
                #expect(exec.status == 77, "\(exec.standardError)")
                #expect(exec.standardError.contains("\(locked)/data.rvf.lock"))
                #expect(exec.standardError.split(separator: "\n").count == 1)

                let breaking = try await CompletedProcess.run(launcher, asUser + ["break", "\(locked)/stale.rvf"])
                #expect(breaking.status == 77, "\(breaking.standardError)")

                // Reading needs no write permission.
                let status = try await CompletedProcess.run(launcher, asUser + ["status", "\(locked)/stale.rvf"])
                #expect(status.status == 2)

                #expect(listing(of: dir) == before)
            }
        }

        @Test(.enabled(if: Capabilities.canMountReadOnlyFileSystem, "needs root and unshare to mount a read-only file system"))
        func aReadOnlyFileSystemExits73() async throws {
            try await withSandbox { dir in
                let script = "mount -t tmpfs -o ro tmpfs \"$1\" || exit 99; exec \"$2\" exec \"$1/data.rvf\" -- true"
                let (mountPoint, result) = try await inPrivateMountNamespace(in: dir, script)
                #expect(result.status == 73, "\(result.standardError)")
                #expect(result.standardError.contains("\(mountPoint)/data.rvf.lock"))
            }
        }

        @Test(.enabled(if: Capabilities.canMountReadOnlyFileSystem, "needs root and unshare to mount a read-only file system"))
        func breakingAStaleLockOnAReadOnlyFileSystemExits73() async throws {
            try await withSandbox { dir in
                // An old invalid lock file, which break would remove, then the file system made read-only.
                let script = """
                    mount -t tmpfs tmpfs "$1" || exit 99
                    printf 'not a lock record' > "$1/data.rvf.lock" && touch -d '1 hour ago' "$1/data.rvf.lock" || exit 98
                    mount -o remount,ro "$1" || exit 97
                    exec "$2" break "$1/data.rvf"
                    """
                let (mountPoint, result) = try await inPrivateMountNamespace(in: dir, script)
                #expect(result.status == 73, "\(result.standardError)")
                #expect(result.standardError.contains("\(mountPoint)/data.rvf.lock"))
                #expect(result.standardError.contains("read-only"))
            }
        }
    }
}
