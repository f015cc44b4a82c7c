import Foundation
import Testing

extension CLITests {
    /// What is committed names no folder of the machine it was written on: skip
    /// reasons, documentation and benchmark results are read on other machines.
    @Suite struct MachinePaths {
        /// The folder holding the package (the parent of its root), as a path prefix;
        /// where that is a folder every machine has (a clone in /tmp, in a home
        /// directory), the package's own folder instead.
        static let machineFolder: String = {
            let parent = URL(fileURLWithPath: packageRoot).deletingLastPathComponent().path
            let everyMachineHas = ["/", "/tmp", "/var/tmp", "/home", "/root", "/usr", "/opt", "/srv"]
            return (everyMachineHas.contains(parent) ? URL(fileURLWithPath: packageRoot).path : parent) + "/"
        }()

        static func committedTexts() throws -> [String] {
            var paths = ["README.md", "Documentation/rvf-lock.md"]
            for directory in ["Tests", "Benchmarks/results", "Sources/RVFLock/RVFLock.docc"] {
                let enumerator = FileManager.default.enumerator(atPath: "\(packageRoot)/\(directory)")
                while let name = enumerator?.nextObject() as? String {
                    if [".swift", ".md", ".json"].contains(where: name.hasSuffix) { paths.append("\(directory)/\(name)") }
                }
            }
            return paths
        }

        @Test func noCommittedTextNamesTheFolderThePackageIsIn() throws {
            if Self.machineFolder == "/" { try Test.cancel("the package is at the top of the file system: no folder to look for") }
            let texts = try Self.committedTexts()
            #expect(texts.count > 50, "\(texts.count) files")
            for path in texts {
                let text = try String(contentsOfFile: "\(packageRoot)/\(path)", encoding: .utf8)
                // The JSON results escape slashes.
                let escaped = Self.machineFolder.replacingOccurrences(of: "/", with: "\\/")
                #expect(!text.contains(Self.machineFolder) && !text.contains(escaped), "\(path) names \(Self.machineFolder)")
            }
        }
    }
}
