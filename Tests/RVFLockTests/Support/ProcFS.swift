#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What `/proc` says about another process's open files and threads.
enum ProcFS {
    /// How many threads `pid` runs (`Threads:` in its status), nil if it is gone.
    static func threadCount(pid: pid_t) -> Int? {
        guard let bytes = LockFiles.read("/proc/\(pid)/status") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Where descriptor `descriptor` of `pid` points (`/dev/null`, a path), or nil if it is not open.
    static func link(pid: pid_t, descriptor: CInt) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = readlink("/proc/\(pid)/fd/\(descriptor)", &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether descriptor `descriptor` of `pid` is open on the file at `path` (the same inode).
    static func isOpen(pid: pid_t, descriptor: CInt, on path: String) -> Bool {
        var open = stat()
        var file = stat()
        guard stat("/proc/\(pid)/fd/\(descriptor)", &open) == 0, lstat(path, &file) == 0 else { return false }
        return open.st_dev == file.st_dev && open.st_ino == file.st_ino
    }

    /// The descriptors of `pid` open on the file at `path`.
    static func descriptors(of pid: pid_t, openOn path: String) -> [CInt] {
        guard let directory = opendir("/proc/\(pid)/fd") else { return [] }
        defer { closedir(directory) }
        var found: [CInt] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let descriptor = CInt(name), isOpen(pid: pid, descriptor: descriptor, on: path) {
                found.append(descriptor)
            }
        }
        return found
    }

    /// The open flags of descriptor `descriptor` of `pid` (`flags:` in fdinfo, octal).
    static func openFlags(pid: pid_t, descriptor: CInt) -> CInt? {
        guard let bytes = LockFiles.read("/proc/\(pid)/fdinfo/\(descriptor)") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("flags:") {
            return CInt(line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8)
        }
        return nil
    }
}
