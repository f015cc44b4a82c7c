#if canImport(Glibc)
import Glibc
#endif
import RVFLock
import SystemPackage
import RVFLockTestSupport
import Testing

/// Paths at the edges, within one process: long names with named temporaries
/// (issue 10, item 5) and a data file path ending in a slash (item 11).
@Suite struct PathEdgeTests {
    /// 230 bytes: the named temporary's name used to exceed NAME_MAX (255) by the
    /// pid and the random part; 250: the lock file's own name is 255 bytes.
    @Test(arguments: [230, 250])
    func namedTemporariesLockALongDataFileNameAndLeaveNothingBehind(length: Int) throws {
        let name = String(repeating: "n", count: length - 4) + ".rvf"
        #expect(name.utf8.count == length)
        let sandbox = LockSandbox(name: name)
        // The helper's /bin/true writes its output files here: a directory of their own.
        let scratch = LockSandbox()
        let lock = sandbox.lock { $0.usesNamedTemporaryFiles = true }

        let handle = try lock.tryAcquire()
        #expect(sandbox.directory.entries == [name + ".lock"])
        #expect(sandbox.lockRecord?.writerID == handle.writerID)
        // A second acquisition makes (and discards) a temporary too, and fails at once.
        let again = LockError.caught { () throws(LockError) in try lock.tryAcquire() }
        #expect(again?.code == .heldByThisProcess, "\(String(describing: again))")
        #expect(sandbox.directory.entries == [name + ".lock"])
        try handle.release()
        #expect(sandbox.directory.entries.isEmpty)

        // Breaking moves the judged file to a private name first: that name must fit too.
        try scratch.plantStaleReferenceLock()
        LockFiles.write(try #require(scratch.lockBytes), to: sandbox.lockFile)
        let removed = try lock.breakLock()
        #expect(removed?.isBreakable == true, "\(String(describing: removed))")
        #expect(sandbox.directory.entries.isEmpty)

        // Taking over a stale lock: break, then link the temporary.
        LockFiles.write(try #require(scratch.lockBytes), to: sandbox.lockFile)
        let taken = try lock.tryAcquire()
        #expect(sandbox.lockRecord?.writerID == taken.writerID)
        try taken.release()
        #expect(sandbox.directory.entries.isEmpty)
    }

    /// A lock this process holds, asked for again by another spelling of the same
    /// data file (a symbolic link, a `.` component), fails at once naming this
    /// process, as through the same path (issue 11, item 7).
    @Test func anotherPathToALockThisProcessHoldsFailsAtOnceNamingThisProcess() async throws {
        let sandbox = LockSandbox()
        LockFiles.write([], to: sandbox.dataFile)
        #expect(symlink("data.rvf", sandbox.directory.file("link.rvf")) == 0)
        let handle = try sandbox.lock().tryAcquire()
        // A wait for itself would end in .timedOut after 10 s, not in .heldByThisProcess.
        for path in [sandbox.directory.file("link.rvf"), sandbox.directory.path + "/./data.rvf"] {
            let other = WriterLock(dataFile: FilePath(path))
            var errors: [LockError?] = []
            errors.append(LockError.caught { () throws(LockError) in try other.tryAcquire() })
            errors.append(LockError.caught { () throws(LockError) in try other.acquire(timeout: .seconds(10)) })
            errors.append(LockError.caught { () throws(LockError) in try other.waitUntilAvailable(timeout: .seconds(10)) })
            do throws(LockError) {
                _ = try await other.acquire(timeout: .seconds(10))
                errors.append(nil)
            } catch {
                errors.append(error)
            }
            for error in errors {
                #expect(error?.code == .heldByThisProcess, "\(path): \(String(describing: error))")
                #expect(error?.holder?.writerID == handle.writerID)
            }
        }
        #expect(sandbox.lockRecord?.writerID == handle.writerID)
        try handle.release()
    }

    /// What the data file path names when it is not a file.
    enum DirectoryCase: String, Sendable, CaseIterable {
        /// `data.rvf` is a directory, named with and without a trailing slash.
        case directory
        /// `data.rvf` is a symbolic link to a directory.
        case linkToDirectory
    }

    /// A path that names a directory (`data.rvf/`, or a link to one) has no lock:
    /// every call refuses it with `.invalidPath` and creates nothing (issue 10, item 11).
    ///
    /// `FilePath` drops a trailing slash when it is made (`FilePath("data.rvf/")` is
    /// `data.rvf`), so through a `FilePath` a trailing slash can only be refused where
    /// it names a directory; a path given as text keeps it in mind (the next test).
    @Test(arguments: DirectoryCase.allCases)
    func aDataFilePathNamingADirectoryIsRefused(_ directoryCase: DirectoryCase) async throws {
        let sandbox = LockSandbox()
        switch directoryCase {
        case .directory:
            #expect(mkdir(sandbox.dataFile, 0o755) == 0)
        case .linkToDirectory:
            #expect(mkdir(sandbox.directory.file("target"), 0o755) == 0)
            #expect(symlink("target", sandbox.dataFile) == 0)
        }
        let before = sandbox.directory.entries.sorted()
        for path in [sandbox.dataFile, sandbox.dataFile + "/"] {
            for (call, error) in Self.errorsOfEveryCall(WriterLock(dataFile: FilePath(path))) {
                #expect(error?.code == .invalidPath, "\(path): \(call): \(String(describing: error))")
            }
        }
        #expect(sandbox.directory.entries.sorted() == before)
        #expect(TemporaryDirectoryListing.entries(of: sandbox.directory.file(directoryCase == .directory ? "data.rvf" : "target")).isEmpty)
    }

    /// `FilePath` drops a trailing slash, so a path given as text keeps it in mind:
    /// `data.rvf/` names a directory even where `data.rvf` is a file or missing.
    @Test(arguments: [false, true])
    func aTextPathEndingInASlashIsRefusedWhereverItPoints(_ dataFileExists: Bool) throws {
        let sandbox = LockSandbox()
        if dataFileExists { LockFiles.write([1, 2, 3], to: sandbox.dataFile) }
        let before = sandbox.directory.entries.sorted()
        for (call, error) in Self.errorsOfEveryCall(WriterLock(dataFile: sandbox.dataFile + "/")) {
            #expect(error?.code == .invalidPath, "\(call): \(String(describing: error))")
            #expect(error?.description.contains("names a directory") == true)
        }
        #expect(sandbox.directory.entries.sorted() == before)
    }

    /// What each way of using `lock` throws: taking it (without and with waiting),
    /// looking at it, breaking it, waiting for it.
    static func errorsOfEveryCall(_ lock: WriterLock) -> [(String, LockError?)] {
        [
            ("tryAcquire", LockError.caught { () throws(LockError) in try lock.tryAcquire() }),
            ("acquire", LockError.caught { () throws(LockError) in try lock.acquire(timeout: .seconds(1)) }),
            ("status", LockError.caught { () throws(LockError) in try lock.status() }),
            ("breakLock", LockError.caught { () throws(LockError) in try lock.breakLock() }),
            ("waitUntilAvailable", LockError.caught { () throws(LockError) in try lock.waitUntilAvailable(timeout: .seconds(1)) }),
        ]
    }
}

extension CrossProcessTests {
    /// Paths that change or differ between processes: a holder that changes
    /// directory (issue 10, item 2), and symbolic links to the data file (item 11).
    @Suite struct PathEdgeProcessTests {
        @Test func aHolderThatChangesDirectoryKeepsAndReleasesItsLockWhereItTookIt() async throws {
            let sandbox = LockSandbox()
            let elsewhere = sandbox.directory.file("elsewhere")
            #expect(mkdir(elsewhere, 0o755) == 0)
            let done = sandbox.directory.file("done")
            // Took "data.rvf" in the sandbox, then moved to elsewhere/, where "data.rvf" names another file.
            let holder = try CrossProcessTests.probe(
                "hold", "data.rvf",
                ["cwd=\(sandbox.directory.path)", "chdir=\(elsewhere)", "look-here=1", "check=1", "heartbeat-ms=50", "until=\(done)"],
                in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "chdir"), "holder: \(holder.output) \(holder.errorOutput)")
            #expect(await holder.waitForLine(startingWith: "here-status") == "here-status free")
            #expect(await holder.waitForLine(startingWith: "here-break") == "here-break none")

            // Several heartbeats reach the lock file in the directory where the lock was taken.
            var timestamps: Set<UInt64> = []
            let beating = await eventually {
                if let record = sandbox.lockRecord, record.pid == UInt32(holder.pid) { timestamps.insert(record.timestampNanoseconds) }
                return timestamps.count >= 4 || holder.exitStatusIfExited() != nil
            }
            #expect(beating && timestamps.count >= 4, "heartbeats seen: \(timestamps.count); holder: \(holder.output)")
            #expect(holder.exitStatusIfExited() == nil, "the holder stopped holding: \(holder.output) \(holder.errorOutput)")
            #expect(LockFiles.exists(sandbox.lockFile))

            LockFiles.write([], to: done)
            let code = await holder.waitForExit(timeout: .seconds(30))
            #expect(code == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "released")
            #expect(!sandbox.lockExists)
            #expect(!holder.output.contains("lost") && !holder.output.contains("check-failed"))
            // Nothing was created where it went.
            #expect(TemporaryDirectoryListing.entries(of: elsewhere).isEmpty)
        }

        struct LinkCase: Sendable, CustomTestStringConvertible {
            let holderUsesLink: Bool
            var testDescription: String { holderUsesLink ? "holder through the link" : "contender through the link" }
        }

        @Test(arguments: [LinkCase(holderUsesLink: true), LinkCase(holderUsesLink: false)])
        func aDataFileReachedThroughASymbolicLinkHasOneLock(_ linkCase: LinkCase) async throws {
            let sandbox = LockSandbox()
            LockFiles.write([], to: sandbox.dataFile)
            let link = sandbox.directory.file("link.rvf")
            #expect(symlink("data.rvf", link) == 0)
            let done = sandbox.directory.file("done")
            let (holderPath, contenderPath) = linkCase.holderUsesLink ? (link, sandbox.dataFile) : (sandbox.dataFile, link)

            let holder = try CrossProcessTests.probe("hold", holderPath, ["until=\(done)"], in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            #expect(sandbox.lockRecord?.pid == UInt32(holder.pid))
            #expect(!LockFiles.exists(link + ".lock"))

            let contender = try await CrossProcessTests.runProbe("try", contenderPath)
            #expect(contender.status == 3, "the contender took the lock of a held data file: \(contender)")
            #expect(contender.lines == ["busy \(holder.pid) \(Host.name)"])

            LockFiles.write([], to: done)
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(holder.outputLines.last == "released")
            #expect(!sandbox.lockExists)
            #expect(!LockFiles.exists(link + ".lock"))
        }

        @Test func aRelativeLinkIntoAnotherDirectoryLocksBesideTheTarget() async throws {
            let sandbox = LockSandbox()
            let a = sandbox.directory.file("a")
            let b = sandbox.directory.file("b")
            #expect(mkdir(a, 0o755) == 0 && mkdir(b, 0o755) == 0)
            LockFiles.write([], to: b + "/data.rvf")
            #expect(symlink("../b/data.rvf", a + "/link.rvf") == 0)
            let done = sandbox.directory.file("done")

            let holder = try CrossProcessTests.probe("hold", a + "/link.rvf", ["until=\(done)"], in: sandbox)
            _ = try #require(await holder.waitForLine(startingWith: "acquired"), "holder: \(holder.errorOutput)")
            #expect(LockFiles.record(at: b + "/data.rvf.lock")?.pid == UInt32(holder.pid))
            #expect(TemporaryDirectoryListing.entries(of: a) == ["link.rvf"])

            let contender = try await CrossProcessTests.runProbe("try", b + "/data.rvf")
            #expect(contender.status == 3, "\(contender)")
            #expect(contender.lines == ["busy \(holder.pid) \(Host.name)"])

            // Resolved from elsewhere, the same relative link still leads to b/.
            let status = try await CrossProcessTests.runProbe("status", a + "/link.rvf")
            #expect(status.lines.first?.hasPrefix("status held pid=\(holder.pid) ") == true, "\(status)")

            LockFiles.write([], to: done)
            #expect(await holder.waitForExit(timeout: .seconds(30)) == 0, "holder: \(holder.output) \(holder.errorOutput)")
            #expect(!LockFiles.exists(b + "/data.rvf.lock"))
            #expect(TemporaryDirectoryListing.entries(of: a) == ["link.rvf"])
        }
    }
}

/// The names in a directory that is not a ``TemporaryDirectory`` of its own.
enum TemporaryDirectoryListing {
    static func entries(of path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
