#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport
import RVFLockSpawn

/// Where the tests find the probe executable and the fixture files.
enum TestResources {
    /// The package root, from this file's location.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        // This file, then Support, RVFLockTests and Tests.
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The folder of the reference-written lock files and `vectors.json`.
    static let fixtures: String = {
        if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) { return url.path }
        return packageRoot + "/Tests/RVFLockTests/Fixtures"
    }()

    /// The `rvflock-probe` executable, built beside the test bundle because the test target depends on it.
    static let probe: String = {
        var candidates: [String] = []
        if let runner = CommandLine.arguments.first, let resolved = realpath(runner, nil) {
            candidates.append(URL(fileURLWithPath: String(cString: resolved)).deletingLastPathComponent().path)
            free(resolved)
        }
        candidates.append(Bundle.module.bundleURL.deletingLastPathComponent().path)
        for directory in candidates where access(directory + "/rvflock-probe", X_OK) == 0 {
            return directory + "/rvflock-probe"
        }
        if let fromSwiftPM = binPathFromSwiftPM(), access(fromSwiftPM + "/rvflock-probe", X_OK) == 0 {
            return fromSwiftPM + "/rvflock-probe"
        }
        preconditionFailure("rvflock-probe not found beside the test bundle (looked in \(candidates)); build with --build-tests")
    }()

    /// The `rvf-lock` executable, built beside the probe because the test target depends on it.
    static let rvfLock: String = {
        let path = URL(fileURLWithPath: probe).deletingLastPathComponent().path + "/rvf-lock"
        precondition(access(path, X_OK) == 0, "rvf-lock not found beside rvflock-probe (\(path)); build with --build-tests")
        return path
    }()

    private static func binPathFromSwiftPM() -> String? {
        guard let swift = Spawn.executable(named: "swift") else { return nil }
        let scratch = TemporaryDirectory("rvflock-binpath")
        guard
            let result = try? ChildProcess.runBlocking(
                swift, ["build", "--package-path", packageRoot, "--show-bin-path"], outputIn: scratch.path),
            result.code == 0
        else { return nil }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
