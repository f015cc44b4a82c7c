import Foundation
import Testing

extension CLITests {
    /// The shell completions generated from the argument parser (installed by
    /// `Scripts/install-extras.sh`).
    @Suite struct Completion {
        @Test func theBashCompletionLoadsAndOffersTheCommandsButNotTheInternalOne() async throws {
            try await withSandbox { dir in
                let script = try await rvfLock(["--generate-completion-script", "bash"])
                #expect(script.status == 0)
                try script.standardOutput.write(toFile: "\(dir)/rvf-lock.bash", atomically: false, encoding: .utf8)
                let complete = """
                    source "$1" || exit 90
                    complete -p rvf-lock >/dev/null || exit 91
                    COMP_WORDS=(rvf-lock ""); COMP_CWORD=1; COMP_LINE="rvf-lock "; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
                    _rvf-lock rvf-lock "" rvf-lock
                    echo "${COMPREPLY[*]}"
                    """
                let result = try await runToCompletion("/bin/bash", ["-c", complete, "bash", "\(dir)/rvf-lock.bash"])
                #expect(result.status == 0, "\(result.standardError)")
                let offered = Set(result.standardOutput.split(whereSeparator: \.isWhitespace).map(String.init))
                #expect(offered.isSuperset(of: ["exec", "status", "wait", "break"]), "\(offered)")
                #expect(!offered.contains("_trampoline"), "\(offered)")
            }
        }
    }
}
