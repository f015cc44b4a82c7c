#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RVFLockReference
import RVFLockTestSupport

/// The reference implementation driven from the command line (`ReferenceProgram`'s
/// interop program: `hold PATH MS`, `try PATH`), built once per test run.
actor ReferenceHarness {
    static let shared = ReferenceHarness()

    /// Whether the harness can be built here; prints why not.
    static let isAvailable: Bool = {
        if let reason = ReferenceProgram.unavailability() {
            print("ReferenceInteropTests skipped: \(reason)")
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
    func executable() throws(ReferenceProgram.Failure) -> String {
        if let built { return built }
        let program = try ReferenceProgram.build(.interop, in: Self.buildDirectory)
        built = program.executable
        return program.executable
    }
}
