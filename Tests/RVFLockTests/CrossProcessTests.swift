#if canImport(Glibc)
import Glibc
#endif
import RVFLockTestSupport
import Testing

/// Tests that start worker processes (the `rvflock-probe` executable, the
/// reference harness). They run one at a time, so that their timing does not
/// suffer from each other's load on a small machine; the races of many processes
/// at once are a second such line (``ManyProcessTests``) beside this one.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CrossProcessTests {
    /// Starts `rvflock-probe MODE FILE key=value...`.
    ///
    /// - Parameters:
    ///   - environment: variables to set on top of the test runner's (`HOSTNAME`).
    ///   - closedStandardDescriptors: standard descriptors the probe starts without; with 1
    ///     closed, pass `report=\(ChildProcess.outputPathPlaceholder)` so that its lines still
    ///     reach ``ChildProcess/output``.
    ///   - user: run the probe as this user (root only).
    static func probe(
        _ mode: String, _ dataFile: String, _ settings: [String] = [],
        in sandbox: LockSandbox, keepsStandardInputOpen: Bool = false, name: String? = nil,
        environment: [String: String] = [:], closedStandardDescriptors: Set<CInt> = [],
        user: ChildProcess.User? = nil
    ) throws -> ChildProcess {
        try ChildProcess(
            TestResources.probe, [mode, dataFile] + settings,
            environment: environment,
            keepsStandardInputOpen: keepsStandardInputOpen,
            closedStandardDescriptors: closedStandardDescriptors, user: user,
            outputIn: sandbox.directory.path, name: name ?? "probe-\(mode)")
    }

    /// Runs `rvflock-probe MODE FILE key=value...` to its end.
    static func runProbe(
        _ mode: String, _ dataFile: String, _ settings: [String] = [], environment: [String: String] = [:]
    ) async throws -> CompletedProcess {
        try await CompletedProcess.run(TestResources.probe, [mode, dataFile] + settings, environment: environment)
    }

    /// Kills `process` with SIGKILL, as a crash would, and waits until it is gone.
    static func crash(_ process: ChildProcess) async {
        process.send(SIGKILL)
        _ = await process.waitForExit(timeout: .seconds(10))
    }
}
