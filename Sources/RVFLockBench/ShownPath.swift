#if canImport(Glibc)
import Glibc
#endif

/// A path as the results show it: relative to the working directory (the
/// repository's top, where `Scripts/bench.sh` runs the tool) when it lies inside
/// it, so that committed results name no machine's folders.
func shownPath(_ path: String) -> String {
    guard let directory = getcwd(nil, 0) else { return path }
    defer { free(directory) }
    let root = String(cString: directory)
    guard root != "/", path.hasPrefix(root + "/") else { return path }
    return String(path.dropFirst(root.count + 1))
}
