import Subprocess
import SystemPackage

/// A process run to its end, and what it printed: the one way every test target
/// runs a program to completion (swift-subprocess, so that the wait never blocks
/// a thread of the test runner's pool).
public struct CompletedProcess: Sendable, CustomStringConvertible {
    /// The exit status as a shell shows it: the exit code, or 128 + the signal number.
    public let status: Int32
    public let standardOutput: String
    public let standardError: String

    /// Standard output's lines, without their newlines.
    public var lines: [String] { standardOutput.split(separator: "\n").map(String.init) }

    public var description: String {
        "exit \(status), stdout: \(standardOutput.debugDescription), stderr: \(standardError.debugDescription)"
    }

    /// Runs `executable` with this process's environment plus `environment`, in
    /// `workingDirectory` (this process's if nil), and waits for it.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil
    ) async throws -> CompletedProcess {
        var overrides: [Environment.Key: String?] = [:]
        for (key, value) in environment { overrides[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(overrides),
            workingDirectory: workingDirectory.map { FilePath($0) },
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 20))
        let status: Int32
        switch result.terminationStatus {
        case .exited(let code): status = code
        case .signaled(let signal): status = 128 + signal
        }
        return CompletedProcess(
            status: status, standardOutput: result.standardOutput,
            standardError: result.standardError)
    }
}
