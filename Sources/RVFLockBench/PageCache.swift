#if canImport(Glibc)
import Glibc
#endif

/// The page cache's copy of a file, for item 7: how a program's start-up time
/// depends on how its binary came into the cache.
///
/// Measured here (same bytes, `rvf-lock exec -n FILE true` against `flock -n`):
/// a binary whose cache was filled by one large write (`cp`, `install` without
/// `-s`, as the README installs it) sits in large folios and ran at 1.42× flock(1);
/// one rewritten by `strip` (`install -s`) sits mostly in two-page folios,
/// 1.58–1.67×; one read back by
/// `execve`'s page faults (as after a reboot) sits in single pages, 1.74×. A fault
/// maps its neighbours a folio at a time, and the exit unmaps them the same way.
enum PageCache {
    /// How many of the file's pages are cached; nil if it cannot be mapped.
    static func cachedPages(of path: String) -> (cached: Int, total: Int)? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var information = stat()
        guard fstat(descriptor, &information) == 0, information.st_size > 0 else { return nil }
        let size = Int(information.st_size)
        guard let mapping = mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0), mapping != MAP_FAILED else { return nil }
        defer { munmap(mapping, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page
        var residency = [UInt8](repeating: 0, count: pages)
        guard mincore(mapping, size, &residency) == 0 else { return nil }
        return (residency.count { $0 & 1 != 0 }, pages)
    }

    /// Drops the file's clean pages from the cache (`POSIX_FADV_DONTNEED`); pages
    /// another process maps stay. True if the call succeeded.
    @discardableResult
    static func drop(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0
    }
}
