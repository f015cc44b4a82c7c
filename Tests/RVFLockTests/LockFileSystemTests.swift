#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import RVFLock
import RVFLockTestSupport
import SystemPackage
import Testing

/// `f_type` of the file system holding `path`, as coreutils' `stat -f` reads it:
/// an oracle independent of the library's statfs shim.
private func coreutilsMagic(of path: String) async throws -> UInt64? {
    let result = try await CompletedProcess.run("/usr/bin/env", ["stat", "-f", "-c", "%t", path])
    return UInt64(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
}

/// `LockFileSystem`: which file system a lock lives on, and whether its lock files are synced there.
@Suite struct LockFileSystemTests {
    @Test func itNamesTheFileSystemOfADirectoryAsTheKernelDoes() async throws {
        let directory = TemporaryDirectory()
        let fileSystem = try LockFileSystem(containing: FilePath(directory.path))
        #expect(fileSystem.magic == (try await coreutilsMagic(of: directory.path)))
        #expect(fileSystem.description == fileSystem.name)

        var shm = stat()
        if stat("/dev/shm", &shm) == 0 {
            let tmpfs = try LockFileSystem(containing: "/dev/shm")
            #expect(tmpfs.magic == (try await coreutilsMagic(of: "/dev/shm")))
            if tmpfs.magic == 0x0102_1994 {
                #expect(tmpfs.name == "tmpfs" && tmpfs.isLocal)
            }
        }
    }

    @Test func kindsRememberedByMountStayApartForEachMount() async throws {
        let directory = TemporaryDirectory()
        var mounts: [(path: String, magic: UInt64?)] = [(directory.path, try await coreutilsMagic(of: directory.path))]
        var shm = stat()
        if stat("/dev/shm", &shm) == 0 { mounts.append(("/dev/shm", try await coreutilsMagic(of: "/dev/shm"))) }
        mounts.append(("/proc", try await coreutilsMagic(of: "/proc")))
        // Twice round: the second time every kind comes from what the first remembered.
        for _ in 0..<2 {
            for (path, magic) in mounts {
                let descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory, .closeOnExec])
                defer { try? descriptor.close() }
                let (_, mount) = try Syscalls.identityAndMount(descriptor)
                #expect(FileSystemType.of(descriptor, onMount: mount).magic == magic, "\(path) on mount \(String(describing: mount))")
            }
        }
    }

    @Test func aWriterLockReportsTheFileSystemOfItsDirectory() throws {
        let directory = TemporaryDirectory()
        let lock = WriterLock(dataFile: FilePath(directory.file("data.rvf")))
        #expect(try lock.fileSystem() == (try LockFileSystem(containing: FilePath(directory.path))))
        // A relative data file without a directory is in the current one.
        #expect(try WriterLock(dataFile: "data.rvf").fileSystem() == (try LockFileSystem(containing: ".")))
    }

    @Test func aMissingDirectoryIsASystemCallFailureNamingIt() throws {
        let directory = TemporaryDirectory()
        let missing = FilePath(directory.file("missing"))
        #expect {
            _ = try LockFileSystem(containing: missing)
        } throws: { error in
            guard let error = error as? LockError else { return false }
            return error.code == .systemCallFailed && error.systemCall == "statfs" && error.errno == .noSuchFileOrDirectory
                && error.description.contains(missing.string)
        }
    }

    @Test func theSyncPolicyFollowsTheFileSystemsLocality() {
        var options = LockOptions()
        let ext4 = LockFileSystem(type: FileSystemType(magic: 0xEF53))
        let nfs = LockFileSystem(type: FileSystemType(magic: 0x6969))
        let unknown = LockFileSystem(type: FileSystemType(magic: 0x1234_5678))
        #expect(ext4.name == "ext4" && ext4.isLocal && !ext4.syncsLockFiles(under: options))
        #expect(nfs.name == "nfs" && !nfs.isLocal && nfs.syncsLockFiles(under: options))
        #expect(unknown.name == "0x12345678" && !unknown.isLocal && unknown.syncsLockFiles(under: options))
        options.syncPolicy = .always
        #expect(ext4.syncsLockFiles(under: options))
        options.syncPolicy = .never
        #expect(!nfs.syncsLockFiles(under: options))
    }

    @Test func requirementsSayWhatIsMissingInTheLibrarysError() {
        for requirement in LockFileSystem.Requirement.allCases {
            let error = LockError.unsupportedFileSystem(
                "data.rvf.lock", fileSystem: "fuse", missing: requirement.description, systemCall: "flock", errno: .noLocks)
            #expect(error.code == .unsupportedFileSystem)
            #expect(error.description.contains("cannot hold an RVF writer lock: \(requirement) (flock: "))
        }
    }
}
