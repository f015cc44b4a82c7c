#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockTestSupport

/// The reference implementation, compiled into a small command-line harness
/// (`Fixtures/reference-harness.rs`) once per test run.
actor ReferenceHarness {
    static let shared = ReferenceHarness()

    static let rustc = Host.executable(named: "rustc", extraDirectories: [NSHomeDirectory() + "/.cargo/bin"])

    /// Whether the harness can be built here; prints why not.
    static let isAvailable: Bool = {
        guard let rustc else {
            print("ReferenceInteropTests skipped: rustc not found on PATH or in ~/.cargo/bin")
            return false
        }
        // A rustup proxy without a default toolchain is there but cannot compile.
        let scratch = TemporaryDirectory("rvflock-rustc-check")
        let version = try? ChildProcess.runBlocking(rustc, ["--version"], outputIn: scratch.path)
        guard version?.code == 0 else {
            print(
                "ReferenceInteropTests skipped: `rustc --version` failed (exit \(String(describing: version?.code))); "
                    + "a rustup proxy without a default toolchain?")
            return false
        }
        guard TestResources.referenceSource != nil else {
            // Says where it looked in the package's terms, never this machine's folders.
            let place =
                ProcessInfo.processInfo.environment[TestResources.referenceDirectoryVariable] == nil
                ? "../shared beside the package" : "the folder \(TestResources.referenceDirectoryVariable) names"
            print(
                "ReferenceInteropTests skipped: no seed/locking.rs in \(place); "
                    + "to run them, put the reference in ../shared beside the package, or set "
                    + "\(TestResources.referenceDirectoryVariable) to the folder holding seed/locking.rs")
            return false
        }
        return true
    }()

    /// Where the build goes: one folder per test run, removed when the test process exits.
    private static let buildDirectory: String = {
        let path = TemporaryDirectory.create("rvflock-refharness")
        // Other users run the harness too (a second user in a shared directory).
        chmod(path, 0o755)
        atexit { try? FileManager.default.removeItem(atPath: ReferenceHarness.buildDirectory) }
        return path
    }()

    private var built: String?

    /// The harness executable, built on first use.
    func executable() async throws -> String {
        if let built { return built }
        guard let rustc = Self.rustc, let locking = TestResources.referenceSource else {
            throw HarnessError.unavailable
        }
        let template = try String(contentsOfFile: TestResources.fixtures + "/reference-harness.rs", encoding: .utf8)
        let absoluteLocking = URL(fileURLWithPath: locking).standardizedFileURL.path
        let directory = Self.buildDirectory
        let source = directory + "/main.rs"
        try template.replacingOccurrences(of: "@LOCKING_RS@", with: absoluteLocking)
            .write(toFile: source, atomically: true, encoding: .utf8)
        let binary = directory + "/refharness"
        let result = try await CompletedProcess.run(rustc, ["--edition", "2021", "-O", "-o", binary, source])
        guard result.status == 0 else { throw HarnessError.buildFailed(result.standardError) }
        built = binary
        return binary
    }

    enum HarnessError: Error, CustomStringConvertible {
        case unavailable
        case buildFailed(String)

        var description: String {
            switch self {
            case .unavailable: "rustc or the reference source is missing"
            case .buildFailed(let log): "rustc failed to build the reference harness:\n\(log)"
            }
        }
    }
}
