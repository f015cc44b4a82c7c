import Subprocess
import SystemPackage

/// A process run to its end with swift-subprocess, and what it printed.
struct CompletedProcess: Sendable, CustomStringConvertible {
    /// The exit code, or 128 + the signal number when a signal ended it.
    let code: Int32
    let output: String
    let errorOutput: String

    var lines: [String] { output.split(separator: "\n").map(String.init) }

    var description: String { "exit \(code), stdout: \(output.debugDescription), stderr: \(errorOutput.debugDescription)" }

    /// Runs `executable` with this process's environment plus `environment`, and waits for it.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> CompletedProcess {
        var overrides: [Environment.Key: String?] = [:]
        for (key, value) in environment { overrides[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(overrides),
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 20))
        let code: Int32
        switch result.terminationStatus {
        case .exited(let exitCode): code = exitCode
        case .signaled(let signal): code = 128 + signal
        }
        return CompletedProcess(code: code, output: result.standardOutput, errorOutput: result.standardError)
    }
}
