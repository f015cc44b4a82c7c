#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tool's one way to list a directory (completion's programs and files,
/// `/proc` for `exec`'s leftovers, selftest's clean-up).
enum DirectoryListing {
    /// The names in the directory at `path`, without `.` and `..`, in the order the
    /// file system gives them; nil if it cannot be opened.
    static func names(in path: String) -> [String]? {
        guard let stream = opendir(path) else { return nil }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = name(of: entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The name in a directory entry that `readdir` returned, read where it lies, up
    /// to its NUL. The kernel packs entries only as long as their names, so copying
    /// `d_name` whole (256 bytes) reads past the entry, and past the end of the
    /// stream's buffer for the last one: in the statically linked `rvf-lock`, whose
    /// heap can end right there, that was a crash (completing a program name on a
    /// `PATH` with `/usr/bin` in it).
    static func name(of entry: UnsafePointer<dirent>) -> String {
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
    }
}
