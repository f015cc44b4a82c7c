import ArgumentParser

/// Which lock a row of the handoff and contention tables measures.
///
/// Kernel `flock(2)` is the yardstick of issue 9: the same worker processes,
/// hold times and measurements as RVFLock, with the lock a blocking
/// `flock(LOCK_EX)` on a plain file. The link floor is RVFLock's handoff as bare
/// system calls (``LinkFloorContender``), measured in the handoff table and, at 8 and
/// 32 processes, the contention table. The reference runs in a harness of its own
/// (`Sources/RVFLockReference/Rust/bench.rs`) and cannot wait, so it has no worker mode here.
enum Implementation: String, Codable, CaseIterable, ExpressibleByArgument {
    case rvflock
    case kernelFlock = "kernel-flock"
    case linkFloor = "link-floor"
    case reference

    /// How the report names it.
    var displayName: String {
        switch self {
        case .rvflock: "RVFLock"
        case .kernelFlock: "kernel flock"
        case .linkFloor: "floor: the handoff's system calls"
        case .reference: "reference"
        }
    }
}
