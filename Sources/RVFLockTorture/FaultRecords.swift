/// A SIGKILL the parent sent, and whom it hit.
struct KillRecord: Sendable {
    let time: UInt64
    let writer: Int
    /// The holding the worker was in by the event log when it was killed; nil for a contender.
    let holding: HoldingKey?
    /// The process killed was the holding's `rvf-lock exec`, not the worker: its writer lived on.
    let viaExec: Bool
}

/// A SIGSTOP/SIGCONT pair sent to a holder.
struct PauseRecord: Sendable {
    let writer: Int
    let holding: HoldingKey
    let stoppedAt: UInt64
    var resumedAt: UInt64
}

/// One thing planted at the lock path, and how it went away.
struct PlantRecord: Sendable {
    let kind: PlantKind
    let plantedAt: UInt64
    var resolvedAt: UInt64
    /// Removed by the parent (the operator) rather than by a worker.
    var neededOperator: Bool
    /// Still there when the run ended, removed by the parent then: neither outcome.
    var removedAtEnd: Bool
}
