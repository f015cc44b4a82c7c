#if canImport(Glibc)
import Glibc
#endif

/// What the floor measurements need to make system calls without the library:
/// the flags Glibc's Swift module hides (they exist only under `_GNU_SOURCE`),
/// with their Linux values, and one check of a call's result.
enum BareSystemCalls {
    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`).
    static let openTemporaryFile: CInt = 0o20_200_000
    /// `O_PATH`.
    static let openPath: CInt = 0o10_000_000
    /// `AT_EMPTY_PATH`.
    static let emptyPath: CInt = 0x1000

    /// `result`, or a failure naming `call` and errno when it is negative.
    @discardableResult
    static func check(_ result: CInt, _ call: String) throws(BenchFailure) -> CInt {
        guard result >= 0 else { throw BenchFailure("\(call) failed in a floor benchmark: errno \(errno)") }
        return result
    }
}
