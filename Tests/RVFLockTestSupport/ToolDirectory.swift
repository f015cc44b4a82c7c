import Foundation

/// The folder `RVFLOCK_TOOL_DIRECTORY` names, so that the same tests check the
/// programs built as users install them (`RVFLOCK_TOOL_DIRECTORY=/usr/local/bin
/// swift test --filter ...`); nil when it is not set. Stops the tests when the
/// folder lacks one of `programs`: they would otherwise test something else.
public func chosenToolDirectory(holding programs: [String]) -> String? {
    guard let chosen = ProcessInfo.processInfo.environment["RVFLOCK_TOOL_DIRECTORY"], !chosen.isEmpty else {
        return nil
    }
    for program in programs {
        precondition(
            FileManager.default.isExecutableFile(atPath: chosen + "/" + program),
            "RVFLOCK_TOOL_DIRECTORY names \(chosen), which holds no executable \(program)")
    }
    return chosen
}
