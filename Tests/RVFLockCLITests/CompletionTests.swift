#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import Testing

/// The shells the completion tests type into, and the pseudo-terminal driver they need.
enum CompletionShell {
    static let driver = packageRoot + "/Scripts/complete-in-shell.py"

    static func path(of program: String) -> String? {
        for directory in ["/usr/bin", "/bin", "/usr/local/bin"] where access("\(directory)/\(program)", X_OK) == 0 {
            return "\(directory)/\(program)"
        }
        return nil
    }

    /// Nil when `shell` and python3 (which drives it on a pseudo-terminal) are both there.
    static func missing(_ shell: String) -> String? {
        let absent = [shell, "python3"].filter { path(of: $0) == nil }
        return absent.isEmpty ? nil : absent.joined(separator: " and ")
    }
}

extension CLITests {
    /// The shell completions generated from the argument parser (installed by
    /// `Scripts/install-extras.sh`), tried in real interactive shells on a
    /// pseudo-terminal: a line is typed, TAB pressed, and the line read back.
    @Suite struct Completion {
        /// What each line must become after one TAB, in a directory holding `alpha.rvf`,
        /// `subfile` and `subdir/`, with `rvfcompletiontestprog` on PATH.
        static let cases: [(typed: String, completed: String)] = [
            ("rvf-lock ex", "rvf-lock exec "),
            ("rvf-lock status alp", "rvf-lock status alpha.rvf "),
            ("rvf-lock status alpha.rvf alp", "rvf-lock status alpha.rvf alpha.rvf "),
            ("rvf-lock wait -w 2 alp", "rvf-lock wait -w 2 alpha.rvf "),
            ("rvf-lock break alp", "rvf-lock break alpha.rvf "),
            // exec: FILE, then a program, then that program's arguments as files (as flock(1)'s completion does).
            ("rvf-lock exec -n alp", "rvf-lock exec -n alpha.rvf "),
            ("rvf-lock exec alpha.rvf rvfcompletiontestpr", "rvf-lock exec alpha.rvf rvfcompletiontestprog "),
            ("rvf-lock exec alpha.rvf -- rvfcompletiontestpr", "rvf-lock exec alpha.rvf -- rvfcompletiontestprog "),
            ("rvf-lock exec alpha.rvf rvfcompletiontestprog alp", "rvf-lock exec alpha.rvf rvfcompletiontestprog alpha.rvf "),
            ("rvf-lock exec alpha.rvf ./bi", "rvf-lock exec alpha.rvf ./bin/"),
            // DIR: directories only (subfile would make "su" ambiguous).
            ("rvf-lock selftest su", "rvf-lock selftest subdir/"),
            // The hidden helper is never offered.
            ("rvf-lock _sel", "rvf-lock _sel"),
        ]

        /// Generates `shell`'s script, loads it in `shell` as that shell's users do, and types every case.
        func completeEveryCase(in shell: String, scriptName: String, setup: (String) -> String) async throws {
            try await withSandbox { dir in
                let manager = FileManager.default
                for file in ["alpha.rvf", "subfile"] { #expect(manager.createFile(atPath: "\(dir)/\(file)", contents: nil)) }
                try manager.createDirectory(atPath: "\(dir)/subdir", withIntermediateDirectories: false)
                try manager.createDirectory(atPath: "\(dir)/bin", withIntermediateDirectories: false)
                #expect(
                    manager.createFile(
                        atPath: "\(dir)/bin/rvfcompletiontestprog", contents: Data("#!/bin/sh\n".utf8),
                        attributes: [.posixPermissions: 0o755]))
                try manager.createDirectory(atPath: "\(dir)/completions", withIntermediateDirectories: false)

                let script = try await rvfLock(["--generate-completion-script", shell])
                #expect(script.status == 0, "\(script.standardError)")
                let scriptPath = "\(dir)/completions/\(scriptName)"
                try script.standardOutput.write(toFile: scriptPath, atomically: false, encoding: .utf8)

                // The shell finds rvf-lock (which the completion runs for COMMAND) and the test program on PATH.
                let path = "\(Tool.binDirectory):\(dir)/bin:/usr/bin:/bin"
                let result = try await CompletedProcess.run(
                    "/usr/bin/env",
                    ["PATH=\(path)", "python3", CompletionShell.driver, shell, setup(scriptPath)]
                        + Self.cases.map(\.typed),
                    workingDirectory: dir)
                #expect(result.status == 0, "\(result.standardError)")
                let lines = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String]
                let completed = try #require(lines, "driver printed: \(result.standardOutput) \(result.standardError)")
                try #require(completed.count == Self.cases.count)
                for (expected, actual) in zip(Self.cases, completed) {
                    #expect(actual == expected.completed, "\(shell): typed \"\(expected.typed)\" + TAB")
                }
            }
        }

        @Test(.enabled(if: CompletionShell.missing("bash") == nil, "needs bash and python3 (apt-get install bash python3)"))
        func bashCompletesCommandsFilesProgramsAndDirectories() async throws {
            try await completeEveryCase(in: "bash", scriptName: "rvf-lock") { "source '\($0)'" }
        }

        @Test(.enabled(if: CompletionShell.missing("zsh") == nil, "needs zsh and python3 (apt-get install zsh python3)"))
        func zshCompletesCommandsFilesProgramsAndDirectories() async throws {
            // As installed: _rvf-lock in a directory of fpath, loaded by compinit.
            try await completeEveryCase(in: "zsh", scriptName: "_rvf-lock") { path in
                "fpath=('\((path as NSString).deletingLastPathComponent)' $fpath); autoload -Uz compinit; compinit -u -D"
            }
        }

        @Test(.enabled(if: CompletionShell.missing("fish") == nil, "needs fish and python3 (apt-get install fish python3)"))
        func fishCompletesCommandsFilesProgramsAndDirectories() async throws {
            try await completeEveryCase(in: "fish", scriptName: "rvf-lock.fish") { "source '\($0)'" }
        }
    }
}
