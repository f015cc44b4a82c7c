#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockSpawn

/// The programs item 7 (issue 8's cost) runs: the `rvf-lock` binary under test,
/// util-linux `flock(1)` beside it, `true`, and our stamping command.
struct CommandTools {
    let rvfLock: String
    let flock: String
    let trueCommand: String
    /// `rvflock-bench-stamp`, built beside this executable.
    let stamp: String

    /// Finds every tool, or says which is missing and what to do about it.
    static func locate(
        rvfLock: String?, flock: String?, besideExecutable executable: String
    )
        -> (tools: CommandTools?, unavailable: String?)
    {
        guard let rvfLock else {
            return (nil, "no rvf-lock binary given: pass --rvf-lock PATH (Scripts/bench.sh builds one in release)")
        }
        guard access(rvfLock, X_OK) == 0 else { return (nil, "\(rvfLock) is not an executable file") }
        guard let flock = flock ?? Spawn.executable(named: "flock"), access(flock, X_OK) == 0 else {
            return (nil, "flock(1) is not on PATH (it is in util-linux); pass --flock PATH")
        }
        guard let trueCommand = Spawn.executable(named: "true") else { return (nil, "true(1) is not on PATH") }
        let stamp = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("rvflock-bench-stamp").path
        guard access(stamp, X_OK) == 0 else {
            return (nil, "\(stamp) is missing: build the product rvflock-bench-stamp too (Scripts/bench.sh does)")
        }
        return (CommandTools(rvfLock: rvfLock, flock: flock, trueCommand: trueCommand, stamp: stamp), nil)
    }
}
