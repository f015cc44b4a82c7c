#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Subprocess
import SystemPackage
import RVFLockTestSupport
import Testing

/// Where a selftest runs: a fresh directory under /tmp (ext4 here) or /dev/shm (tmpfs).
struct SelftestPlace: Sendable, CustomTestStringConvertible {
    let parent: String
    var testDescription: String { parent }

    static let tmp = SelftestPlace(parent: "/tmp")
    static let shm = SelftestPlace(parent: "/dev/shm")

    var isAvailable: Bool {
        var info = stat()
        return stat(parent, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR && access(parent, W_OK) == 0
    }
}

/// Runs `body` with a fresh directory under `parent` holding one file of its own, removed afterwards.
func withSelftestDirectory<R>(in parent: String = "/tmp", _ body: (String) async throws -> R) async throws -> R {
    var template = Array("\(parent)/rvf-lock-selftest-test-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let path = String(cString: try #require(created))
    defer { try? FileManager.default.removeItem(atPath: path) }
    // Something of the user's that selftest must leave alone.
    try "precious\n".write(toFile: "\(path)/data.rvf", atomically: false, encoding: .utf8)
    return try await body(path)
}

/// The one JSON object `selftest --json` prints.
struct SelftestOutput {
    let object: [String: Any]

    init(_ finished: CompletedProcess) throws {
        let objects = try jsonObjects(finished.standardOutput)
        #expect(objects.count == 1, "stdout: \(finished.standardOutput) stderr: \(finished.standardError)")
        object = try #require(objects.first)
    }

    var checks: [[String: Any]] { object["checks"] as? [[String: Any]] ?? [] }

    func check(_ key: String) -> [String: Any]? { checks.first { $0["check"] as? String == key } }

    func result(_ key: String) -> String? { check(key)?["result"] as? String }

    var fileSystem: [String: Any] { object["file_system"] as? [String: Any] ?? [:] }
    var contention: [String: Any] { object["contention"] as? [String: Any] ?? [:] }
    var verdict: String { object["verdict"] as? String ?? "" }
}

/// `f_type` of the file system holding `path`, as coreutils' `stat -f` sees it: an oracle
/// independent of the library's `statfs` shim.
func fileSystemMagic(of path: String) async throws -> String {
    let result = try await CompletedProcess.run("/usr/bin/env", ["stat", "-f", "-c", "%t", path])
    return "0x" + result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Tiny C libraries preloaded into every process of a selftest, to show it file
/// systems this machine does not have. Each replaces one libc function for the
/// whole process tree (helpers inherit LD_PRELOAD); selftest only uses them on
/// files in DIR, so to it they look exactly like a file system that behaves so.
enum Shim {
    static let compiler = "/usr/bin/cc"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: compiler) }

    /// Whether the dynamic loader, which reads LD_PRELOAD, starts the `rvf-lock` under
    /// test: its ELF program headers name an interpreter (PT_INTERP). The statically
    /// linked binary that README.md installs has none, so no shim reaches it.
    static let reachesTheTool: Bool = {
        guard let data = FileManager.default.contents(atPath: Tool.rvfLock), data.count >= 64,
            data.prefix(4).elementsEqual([0x7F, 0x45, 0x4C, 0x46]), data[4] == 2  // 64-bit
        else { return false }
        func integer(at offset: Int, size: Int) -> Int {
            (0..<size).reduce(0) { value, byte in value | Int(data[offset + byte]) << (8 * byte) }
        }
        let headers = integer(at: 32, size: 8)
        let headerSize = integer(at: 54, size: 2)
        let count = integer(at: 56, size: 2)
        return (0..<count).contains { index in
            let start = headers + index * headerSize
            return start + 4 <= data.count && integer(at: start, size: 4) == 3  // PT_INTERP
        }
    }()

    /// flock() that grants every request and locks nothing: a FUSE or network file
    /// system that accepts flock() and excludes nothing.
    static let flockExcludesNothing = """
        int flock(int descriptor, int operation) { (void)descriptor; (void)operation; return 0; }
        """

    /// flock() that fails with EIO: an error no known file system limit explains.
    static let flockFailsWithEIO = """
        #include <errno.h>
        int flock(int descriptor, int operation) { (void)descriptor; (void)operation; errno = EIO; return -1; }
        """

    /// link() and linkat() refused with EPERM: a file system without hard links (vfat, some FUSE).
    static let noHardLinks = """
        #include <errno.h>
        int link(const char *from, const char *to) { (void)from; (void)to; errno = EPERM; return -1; }
        int linkat(int fromDirectory, const char *from, int toDirectory, const char *to, int flags) {
            (void)fromDirectory; (void)from; (void)toDirectory; (void)to; (void)flags; errno = EPERM; return -1;
        }
        """

    /// open() refusing O_TMPFILE with EOPNOTSUPP, as file systems without it do.
    static let noUnnamedTemporaries = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <stdarg.h>
        static int forward(const char *name, const char *path, int flags, mode_t mode) {
            if ((flags & O_TMPFILE) == O_TMPFILE) { errno = EOPNOTSUPP; return -1; }
            int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);
            return real(path, flags, mode);
        }
        int open(const char *path, int flags, ...) {
            va_list arguments; va_start(arguments, flags); mode_t mode = va_arg(arguments, mode_t); va_end(arguments);
            return forward("open", path, flags, mode);
        }
        int open64(const char *path, int flags, ...) {
            va_list arguments; va_start(arguments, flags); mode_t mode = va_arg(arguments, mode_t); va_end(arguments);
            return forward("open64", path, flags, mode);
        }
        """

    /// inotify watches that are accepted and never report anything: a file system
    /// whose changes do not pass through this kernel's notification hooks.
    static let noFileEvents = """
        #include <stdint.h>
        int inotify_add_watch(int descriptor, const char *path, uint32_t mask) {
            (void)descriptor; (void)path; (void)mask; return 1;
        }
        """

    /// Compiles `source` into a shared library in `directory`; its path.
    static func build(_ source: String, named name: String, in directory: String) async throws -> String {
        let sourcePath = "\(directory)/\(name).c"
        let libraryPath = "\(directory)/\(name).so"
        try source.write(toFile: sourcePath, atomically: false, encoding: .utf8)
        let result = try await CompletedProcess.run(compiler, ["-shared", "-fPIC", "-o", libraryPath, sourcePath, "-ldl"])
        try #require(result.status == 0, "cc failed: \(result.standardError)")
        return libraryPath
    }
}

/// Processes whose command line mentions `text` (helpers of a selftest in a directory).
func processes(mentioning text: String) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.filter { Int($0) != nil }.compactMap { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !processIsGone(pid_t(pid)!) else { return nil }
        let commandLine = String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        return commandLine.contains(text) ? "\(pid): \(commandLine)" : nil
    }
}

/// The checks every local file system here must pass.
let requiredSelftestChecks = [
    "directory", "file_system", "o_tmpfile", "linkat", "link", "link_taken_name",
    "flock_exclusion", "flock_release", "flock_read_only", "file_events", "sync", "contention",
]

extension CLITests {
    /// `rvf-lock selftest`: real probes and real worker processes in real directories.
    @Suite struct Selftest {
        // One test per place, so that a place this machine lacks shows as a skipped test.
        @Test(.enabled(if: SelftestPlace.tmp.isAvailable, "needs /tmp to be a writable directory"))
        func aDirectoryOnTheTemporaryFileSystemPassesAndIsLeftAsItWas() async throws {
            try await selftestPasses(in: .tmp)
        }

        @Test(.enabled(if: SelftestPlace.shm.isAvailable, "needs /dev/shm (tmpfs) to be a writable directory"))
        func aDirectoryOnTmpfsPassesAndIsLeftAsItWas() async throws {
            try await selftestPasses(in: .shm)
        }

        /// A selftest in a fresh directory under `place` passes, names the file system
        /// and its sync policy, and leaves the directory as it was.
        func selftestPasses(in place: SelftestPlace) async throws {
            try await withSelftestDirectory(in: place.parent) { dir in
                let before = listing(of: dir)
                let result = try await rvfLock(["selftest", "--json", "--seconds", "1.5", dir])
                #expect(result.status == 0, "\(result.standardOutput)\n\(result.standardError)")
                let output = try SelftestOutput(result)
                #expect(output.object["trusted"] as? Bool == true)
                #expect(output.object["exit_status"] as? Int == 0)
                #expect(output.object["directory"] as? String == dir)
                #expect(output.verdict.hasPrefix("TRUSTED"))

                #expect(output.fileSystem["magic"] as? String == (try await fileSystemMagic(of: dir)))
                if place.parent == "/dev/shm" { #expect(output.fileSystem["name"] as? String == "tmpfs") }
                #expect(output.fileSystem["local"] as? Bool == true)
                // Local: the automatic policy does not sync lock files, and the sync line says so.
                #expect(output.fileSystem["syncs_lock_files"] as? Bool == false)
                #expect((output.check("sync")?["detail"] as? String)?.contains("automatic: lock files are not synced here") == true)

                for key in requiredSelftestChecks {
                    #expect(output.result(key) == "ok", "\(key): \(output.check(key) ?? [:])")
                }
                let contention = output.contention
                let acquisitions = try #require(contention["acquisitions"] as? Int)
                #expect(acquisitions > 0)
                #expect(contention["overlaps"] as? Int == 0)
                #expect(contention["counter"] as? Int == acquisitions)
                #expect((contention["per_process"] as? [Int])?.reduce(0, +) == acquisitions)
                #expect((contention["per_process"] as? [Int])?.count == 4)
                #expect(contention["problems"] as? [String] == [])

                #expect(listing(of: dir) == before)
                #expect(processes(mentioning: dir).isEmpty)
            }
        }

        @Test func textOutputIsOneLinePerCheckThenTheVerdict() async throws {
            try await withSelftestDirectory { dir in
                let result = try await rvfLock(["selftest", "-p", "3", "-s", "1", dir])
                #expect(result.status == 0, "\(result.standardOutput)\n\(result.standardError)")
                let lines = result.standardOutput.split(separator: "\n").map(String.init)
                let checkLines = lines.dropLast()
                #expect(checkLines.count == requiredSelftestChecks.count + 1)  // + birth times
                for line in checkLines {
                    #expect(line.hasPrefix("ok ") || line.hasPrefix("FAILED ") || line.hasPrefix("not available "), "\(line)")
                }
                #expect(lines.last?.hasPrefix("verdict: TRUSTED: the RVF lock can be trusted in \(dir)") == true)
                #expect(lines.contains { $0.hasPrefix("ok") && $0.contains("contention: 3 processes, 1 s:") })
                #expect(result.standardError.isEmpty)
            }
        }

        @Test(.enabled(if: Shim.reachesTheTool, "LD_PRELOAD shims reach only a dynamically linked rvf-lock; this one is static"))
        func aFileSystemWhoseFlockExcludesNothingIsNotTrustedAndExits69() async throws {
            try #require(Shim.isAvailable, "needs a C compiler at \(Shim.compiler) to build the flock shim")
            try await withSandbox { shims in
                let shim = try await Shim.build(Shim.flockExcludesNothing, named: "noflock", in: shims)
                try await withSelftestDirectory { dir in
                    let before = listing(of: dir)
                    let result = try await rvfLock(["selftest", "--json", "-s", "1.5", dir], environment: ["LD_PRELOAD": shim])
                    #expect(result.status == 69, "\(result.standardOutput)\n\(result.standardError)")
                    let output = try SelftestOutput(result)
                    #expect(output.result("flock_exclusion") == "failed")
                    #expect(output.check("flock_exclusion")?["missing"] as? String == "fileLockExclusion")
                    #expect((output.check("flock_exclusion")?["detail"] as? String)?.contains("was granted while pid") == true)
                    #expect(output.object["trusted"] as? Bool == false)
                    #expect(
                        output.verdict.contains("cannot hold an RVF writer lock: its file locks (flock) do not exclude other processes"))
                    #expect(listing(of: dir) == before)
                }
            }
        }

        @Test(.enabled(if: Shim.reachesTheTool, "LD_PRELOAD shims reach only a dynamically linked rvf-lock; this one is static"))
        func aFileSystemWithoutHardLinksIsNotTrustedAndExits69() async throws {
            try #require(Shim.isAvailable, "needs a C compiler at \(Shim.compiler) to build the link shim")
            try await withSandbox { shims in
                let shim = try await Shim.build(Shim.noHardLinks, named: "nolink", in: shims)
                try await withSelftestDirectory { dir in
                    let before = listing(of: dir)
                    let result = try await rvfLock(["selftest", "--json", "-s", "0.5", dir], environment: ["LD_PRELOAD": shim])
                    #expect(result.status == 69, "\(result.standardOutput)\n\(result.standardError)")
                    let output = try SelftestOutput(result)
                    #expect(output.result("linkat") == "failed")
                    #expect(output.result("link") == "failed")
                    #expect(output.check("link")?["missing"] as? String == "hardLinks")
                    #expect(output.result("contention") == "failed")
                    #expect(output.verdict.contains("cannot hold an RVF writer lock: it has no hard links"))
                    #expect(output.verdict.contains("EPERM"))
                    #expect(listing(of: dir) == before)
                }
            }
        }

        @Test(.enabled(if: Shim.reachesTheTool, "LD_PRELOAD shims reach only a dynamically linked rvf-lock; this one is static"))
        func anUnexplainedFailureIsNotTrustedAndExits1() async throws {
            try #require(Shim.isAvailable, "needs a C compiler at \(Shim.compiler) to build the flock shim")
            try await withSandbox { shims in
                let shim = try await Shim.build(Shim.flockFailsWithEIO, named: "flockeio", in: shims)
                try await withSelftestDirectory { dir in
                    let before = listing(of: dir)
                    let result = try await rvfLock(["selftest", "--json", "-s", "0.5", dir], environment: ["LD_PRELOAD": shim])
                    #expect(result.status == 1, "\(result.standardOutput)\n\(result.standardError)")
                    let output = try SelftestOutput(result)
                    #expect(output.result("flock_exclusion") == "failed")
                    #expect(output.check("flock_exclusion")?["missing"] is NSNull)
                    #expect((output.check("flock_exclusion")?["detail"] as? String)?.contains("EIO") == true)
                    #expect(output.verdict.hasPrefix("NOT TRUSTED"))
                    #expect(listing(of: dir) == before)
                }
            }
        }

        @Test(.enabled(if: Shim.reachesTheTool, "LD_PRELOAD shims reach only a dynamically linked rvf-lock; this one is static"))
        func withoutOTmpfileTheFallbackIsReportedAndTrusted() async throws {
            try #require(Shim.isAvailable, "needs a C compiler at \(Shim.compiler) to build the open shim")
            try await withSandbox { shims in
                let shim = try await Shim.build(Shim.noUnnamedTemporaries, named: "notmpfile", in: shims)
                try await withSelftestDirectory { dir in
                    let result = try await rvfLock(["selftest", "--json", "-s", "1.5", dir], environment: ["LD_PRELOAD": shim])
                    #expect(result.status == 0, "\(result.standardOutput)\n\(result.standardError)")
                    let output = try SelftestOutput(result)
                    #expect(output.result("o_tmpfile") == "not_available")
                    #expect(
                        (output.check("o_tmpfile")?["detail"] as? String)?.contains("EOPNOTSUPP; the library uses named temporary files")
                            == true)
                    #expect(output.result("linkat") == "not_available")
                    #expect(output.result("link") == "ok")
                    #expect(output.result("contention") == "ok")
                    #expect(output.object["trusted"] as? Bool == true)
                }
            }
        }

        @Test(.enabled(if: Shim.reachesTheTool, "LD_PRELOAD shims reach only a dynamically linked rvf-lock; this one is static"))
        func withoutFileEventsWaitersPollAndTheLockIsStillTrusted() async throws {
            try #require(Shim.isAvailable, "needs a C compiler at \(Shim.compiler) to build the inotify shim")
            try await withSandbox { shims in
                let shim = try await Shim.build(Shim.noFileEvents, named: "noevents", in: shims)
                try await withSelftestDirectory { dir in
                    let result = try await rvfLock(["selftest", "--json", "-s", "1.5", dir], environment: ["LD_PRELOAD": shim])
                    #expect(result.status == 0, "\(result.standardOutput)\n\(result.standardError)")
                    let output = try SelftestOutput(result)
                    #expect(output.result("file_events") == "not_available")
                    #expect(
                        (output.check("file_events")?["detail"] as? String)?.contains(
                            "create, close-write, unlink by another process did not arrive") == true)
                    // The library's waiters fall back to polling: the contention still passes.
                    #expect(output.result("contention") == "ok")
                    #expect(output.verdict.contains("file events do not arrive, so waiters poll"))
                }
            }
        }

        @Test(.enabled(if: Capabilities.canRunWithoutWritePermission, "running as root needs /usr/bin/setpriv to drop privileges"))
        func anUnwritableDirectoryExits77AndSaysSo() async throws {
            try await withSelftestDirectory { dir in
                #expect(chmod(dir, 0o755) == 0)
                let launcher = getuid() == 0 ? "/usr/bin/setpriv" : Tool.rvfLock
                let asUser = getuid() == 0 ? ["--reuid=65534", "--regid=65534", "--clear-groups", Tool.rvfLock] : []
                if getuid() != 0 { #expect(chmod(dir, 0o555) == 0) }
                defer { chmod(dir, 0o755) }
                let before = listing(of: dir)
                let result = try await CompletedProcess.run(launcher, asUser + ["selftest", dir])
                #expect(result.status == 77, "\(result.standardOutput)\n\(result.standardError)")
                #expect(result.standardOutput.contains("FAILED        directory: cannot create files in \(dir) (mkdir: EACCES)"))
                #expect(result.standardOutput.contains("verdict: cannot test \(dir): this user may not create files there"))
                #expect(listing(of: dir) == before)
            }
        }

        @Test(.enabled(if: Capabilities.canMountReadOnlyFileSystem, "needs root and unshare to mount a read-only file system"))
        func aReadOnlyFileSystemExits73AndSaysSo() async throws {
            try await withSandbox { dir in
                let script = "mount -t tmpfs -o ro tmpfs \"$1\" || exit 99; exec \"$2\" selftest --json \"$1\""
                let (_, result) = try await inPrivateMountNamespace(in: dir, script)
                #expect(result.status == 73, "\(result.standardOutput)\n\(result.standardError)")
                let output = try SelftestOutput(result)
                #expect(output.result("directory") == "failed")
                #expect(output.verdict.contains("read-only"))
                #expect(output.object["exit_status"] as? Int == 73)
            }
        }

        @Test func aMissingDirectoryOrAFileExits66AndBadOptionsExit64() async throws {
            try await withSelftestDirectory { dir in
                let missing = try await rvfLock(["selftest", "\(dir)/missing"])
                #expect(missing.status == 66)
                #expect(missing.standardError.contains("\(dir)/missing does not exist"))
                #expect(missing.standardOutput.isEmpty)

                let file = try await rvfLock(["selftest", "\(dir)/data.rvf"])
                #expect(file.status == 66)
                #expect(file.standardError.contains("is a file, not a directory"))

                for arguments in [["-p", "1"], ["-p", "65"], ["-s", "0"], ["-s", "nan"], ["--bogus"], [dir, dir]] {
                    let usage = try await rvfLock(["selftest"] + arguments)
                    #expect(usage.status == 64, "\(arguments): \(usage.standardError)")
                }
            }
        }

        @Test func sigintStopsItAndItsProcessesAndLeavesTheDirectoryAsItWas() async throws {
            try await withSandbox { logs in
                try await withSelftestDirectory { dir in
                    let before = listing(of: dir)
                    let selftest = try ChildProcess.rvfLock(["selftest", "--seconds", "60", dir], outputIn: logs, name: "selftest")
                    // Interrupt it in the middle of the contention run: once its workers write their log.
                    let deadline = ContinuousClock.now + .seconds(30)
                    var running = false
                    while !running && ContinuousClock.now < deadline {
                        let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                        running = entries.contains { entry in
                            entry.hasPrefix(".rvf-lock-selftest.")
                                && ((try? FileManager.default.attributesOfItem(atPath: "\(dir)/\(entry)/contention.log")[.size] as? Int)
                                    ?? 0) > 0
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try #require(running, "the contention run never started: \(selftest.errorOutput)")
                    #expect(processes(mentioning: dir).count >= 4)

                    selftest.send(SIGINT)
                    let status = await selftest.waitForExit(timeout: .seconds(30))
                    #expect(status == 130, "\(selftest.errorOutput)")
                    #expect(selftest.errorOutput.contains("selftest interrupted by SIGINT; removed its files from \(dir)"))
                    #expect(listing(of: dir) == before)
                    // The workers die with it (they are killed and reaped before it exits).
                    #expect(processes(mentioning: dir).isEmpty, "\(processes(mentioning: dir))")
                }
            }
        }
    }
}
