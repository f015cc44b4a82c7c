import Foundation
import RVFLockTestSupport
import Testing

/// The package root, from this file's location (Tests/RVFLockCLITests/this file).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The numbers in the paragraph that starts with "Exit status:" in `text`.
func exitCodes(inParagraphOf text: String) -> Set<Int>? {
    guard let start = text.range(of: "Exit status:") else { return nil }
    let rest = text[start.upperBound...]
    let paragraph = rest.range(of: "\n\n").map { rest[..<$0.lowerBound] } ?? rest
    var codes = Set<Int>()
    var digits = ""
    for character in paragraph + " " {
        if character.isASCII && character.isNumber {
            digits.append(character)
        } else {
            if let code = Int(digits) { codes.insert(code) }
            digits = ""
        }
    }
    return codes
}

extension CLITests {
    /// Each command's `--help` and `Documentation/rvf-lock.md` list the same exit
    /// codes, and those are the ones the command can return (read from
    /// `CommandFailure.init(_:conflictStatus:)` and `LockTarget`: a change there must
    /// change this list, the help and the documentation together).
    @Suite struct ExitCodeDocumentation {
        static let expected: [String: Set<Int>] = [
            // COMMAND's own status (and 128 + N) besides rvf-lock's own codes.
            "exec": [128, 75, 64, 66, 69, 70, 73, 77, 126, 127],
            "status": [0, 1, 2, 64, 66, 69, 70, 73, 75, 77],
            "wait": [0, 75, 64, 66, 69, 70, 73, 77],
            "break": [0, 1, 64, 66, 69, 70, 73, 75, 77],
        ]

        @Test func versionIsTheOneTheDocumentationStates() async throws {
            let result = try await rvfLock(["--version"])
            #expect(result.status == 0)
            let version = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            let documentation = try String(contentsOfFile: packageRoot + "/Documentation/rvf-lock.md", encoding: .utf8)
            let flowed = documentation.replacingOccurrences(of: "\n", with: " ")
            #expect(flowed.contains("`rvf-lock --version` prints `\(version)`"), "\(version)")
        }

        @Test(arguments: ["exec", "status", "wait", "break"])
        func helpAndDocumentationListTheSameExitCodes(_ command: String) async throws {
            let help = try await rvfLock([command, "--help"])
            #expect(help.status == 0)
            let fromHelp = try #require(exitCodes(inParagraphOf: help.standardOutput), "no Exit status in \(command) --help")

            let documentation = try String(contentsOfFile: packageRoot + "/Documentation/rvf-lock.md", encoding: .utf8)
            let heading = try #require(documentation.range(of: "### `rvf-lock \(command)"), "no section for \(command)")
            let section = documentation[heading.upperBound...]
            let sectionEnd = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
            let nextCommand = section.range(of: "\n### ")?.lowerBound ?? section.endIndex
            let text = String(section[..<min(sectionEnd, nextCommand)])
            let fromDocumentation = try #require(exitCodes(inParagraphOf: text), "no Exit status in the \(command) section")

            #expect(fromHelp == Self.expected[command])
            #expect(fromDocumentation == Self.expected[command])
        }
    }
}
