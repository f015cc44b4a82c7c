import RVFLockTestSupport

/// The etcd tests start their members and writers with the one process runner
/// of the test targets (``ChildProcess``), giving the command line as one array.
extension ChildProcess {
    /// Starts `commandLine[0]` (a path) with the rest as its arguments and
    /// `environment` added to this process's, in a session of its own when
    /// `newSession`, output into `directory` as `name`.RANDOM.out and .err.
    convenience init(
        _ commandLine: [String], environment: [String: String] = [:], newSession: Bool = false,
        outputIn directory: String, name: String
    ) throws {
        try self.init(
            commandLine[0], Array(commandLine.dropFirst()), environment: environment, newSession: newSession,
            outputIn: directory, name: name)
    }

    /// Runs `commandLine` to completion (at most `timeout`); its status and output.
    ///
    /// The wait goes on when the calling task is cancelled: a `withLock` body that
    /// revokes its own lease with `etcdctl` is cancelled by that loss while
    /// `etcdctl` is still running, and must still learn how it ended.
    static func run(
        _ commandLine: [String], environment: [String: String] = [:], in directory: String,
        timeout: Duration = .seconds(60)
    ) async throws -> Completed {
        let process = try ChildProcess(commandLine, environment: environment, outputIn: directory, name: "run")
        let status = await Task.detached { await process.waitForExit(timeout: timeout) }.value
        return Completed(status: status, output: process.output, error: process.errorOutput, arguments: commandLine)
    }
}
