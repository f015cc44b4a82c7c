#if canImport(Glibc)
import Glibc
#endif
@testable import RVFLock
import Testing

/// How a directory is listed (`Syscalls.directoryNames`, `Syscalls.entryName`): every
/// listing goes through it, the library's (`/proc`, a lock's directory) and the tool's
/// (completion's programs, `exec`'s look at `/proc`, selftest's clean-up).
@Suite struct DirectoryListingTests {
    /// The last entry of a `readdir` buffer is as long as its name, not 256 bytes;
    /// placed against a page that cannot be read, any read past it crashes the test.
    @Test func aShortEntryEndingWhereReadableMemoryEndsIsReadWithoutReadingPastIt() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(region != MAP_FAILED)
        defer { munmap(region, 2 * page) }
        try #require(mprotect(region + page, page, PROT_NONE) == 0)

        // As getdents64 packs it: the header, "data.rvf.lock", its NUL, padded to 8 bytes.
        let name = "data.rvf.lock"
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let length = (nameOffset + name.utf8.count + 1 + 7) & ~7
        let entry = region + page - length
        memset(entry, 0, length)
        name.withCString { (entry + nameOffset).copyMemory(from: $0, byteCount: name.utf8.count + 1) }

        #expect(Syscalls.entryName(entry.assumingMemoryBound(to: dirent.self)) == name)
    }

    @Test func listsADirectoryWithoutItsDotEntries() throws {
        var template = Array("/tmp/rvf-lock-listing-XXXXXX".utf8CString)
        let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer {
            for name in ["a", "bb"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        for name in ["a", "bb"] { close(open(directory + "/" + name, O_CREAT | O_WRONLY, 0o600)) }

        #expect(Syscalls.directoryNames(atPath: directory)?.sorted() == ["a", "bb"])
        #expect(Syscalls.directoryNames(atPath: directory + "/missing") == nil)
    }
}
