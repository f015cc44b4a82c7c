#if canImport(Glibc)
import Glibc
#endif
@testable import rvf_lock
import Testing

/// How the tool reads a name out of a directory entry (`DirectoryListing`), which
/// completion, `exec`'s look at `/proc` and selftest's clean-up go through.
@Suite struct DirectoryListingTests {
    /// The last entry of a `readdir` buffer is as long as its name, not 256 bytes;
    /// placed against a page that cannot be read, any read past it crashes the test
    /// (as the statically linked tool crashed completing a program in `/usr/bin`).
    @Test func aShortEntryEndingWhereReadableMemoryEndsIsReadWithoutReadingPastIt() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(region != MAP_FAILED)
        defer { munmap(region, 2 * page) }
        try #require(mprotect(region + page, page, PROT_NONE) == 0)

        // As getdents64 packs it: the header, "true", its NUL, padded to 8 bytes.
        let name = "true"
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let length = (nameOffset + name.utf8.count + 1 + 7) & ~7
        let entry = region + page - length
        memset(entry, 0, length)
        name.withCString { (entry + nameOffset).copyMemory(from: $0, byteCount: name.utf8.count + 1) }

        #expect(DirectoryListing.name(of: entry.assumingMemoryBound(to: dirent.self)) == name)
    }

    @Test func listsADirectoryWithoutItsDotEntries() throws {
        var template = Array("/tmp/rvf-lock-listing-XXXXXX".utf8CString)
        let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer {
            for name in ["a", "bb"] { unlink(directory + "/" + name) }
            rmdir(directory)
        }
        for name in ["a", "bb"] { close(open(directory + "/" + name, O_CREAT | O_WRONLY, 0o600)) }

        #expect(DirectoryListing.names(in: directory)?.sorted() == ["a", "bb"])
        #expect(DirectoryListing.names(in: directory + "/missing") == nil)
    }
}
