import Glibc
import RVFLockSpawn
import SystemPackage

/// A program of ours around the reference implementation (`seed/locking.rs`),
/// compiled with rustc: the one way the interop tests, the torture harness and the
/// benchmarks build theirs.
///
/// The programs are in `Rust/` beside this file, each a module with `pub fn main()`
/// that uses `crate::locking` (the reference) and, where it stamps times,
/// `crate::monotonic` (`Rust/monotonic.rs`). The crate root is generated in the
/// caller's folder with absolute `#[path]`s to the reference and to ours: the
/// reference is read where it is, never copied. The sources are found from where
/// this file was compiled, so the programs run from a build of this checkout.
package struct ReferenceProgram: Sendable {
    /// Which of our programs: a file of `Rust/`.
    package enum Kind: String, Sendable {
        /// The interop tests' driver: `hold PATH MS`, `try PATH`.
        case interop
        /// rvflock-bench's reference worker: uncontended, serve, contend, hold, wait.
        case bench
        /// rvflock-torture's alias reference holder.
        case tortureHolder = "torture_holder"
    }

    /// Why a program cannot be built.
    package enum Failure: Error, CustomStringConvertible {
        /// Not on this machine: no reference, no rustc, or a rustc that cannot run. Callers skip, with this reason.
        case unavailable(String)
        /// rustc ran and refused: the end of its output.
        case buildFailed(String)

        package var description: String {
            switch self {
            case .unavailable(let reason): reason
            case .buildFailed(let log): "rustc could not build the program around the reference:\n\(log)"
            }
        }
    }

    /// The compiled program.
    package let executable: String

    /// The environment variable naming the folder that holds the reference
    /// (`seed/locking.rs` inside it), where it is not `../shared` beside the package.
    package static let directoryVariable = "RVFLOCK_REFERENCE_DIR"

    /// This package's root folder, from where this file was compiled.
    package static let packageRoot: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        // …/Sources/RVFLockReference/ReferenceProgram.swift
        components.removeLast(3)
        return components.joined(separator: "/")
    }()

    /// Where the reference's `seed/locking.rs` is looked for: `$RVFLOCK_REFERENCE_DIR`
    /// if set, otherwise `../shared` beside the package.
    package static let referenceDirectory: String = {
        if let directory = getenv(directoryVariable).map({ String(cString: $0) }), !directory.isEmpty {
            return directory
        }
        var components = packageRoot.split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast()
        return components.joined(separator: "/") + "/shared"
    }()

    /// The reference's source, whether or not it is there.
    package static var referenceSource: String { referenceDirectory + "/seed/locking.rs" }

    /// rustc: on `PATH`, or in `~/.cargo/bin` where rustup puts it.
    package static let rustc: String? = {
        let home = getenv("HOME").map { String(cString: $0) }
        return Spawn.executable(named: "rustc", extraDirectories: home.map { [$0 + "/.cargo/bin"] } ?? [])
    }()

    /// Whether rustc runs at all: a rustup proxy without a default toolchain is there but cannot compile.
    private static let rustcRuns: Bool = {
        guard let rustc else { return false }
        return (try? Spawn.run(rustc, arguments: [rustc, "--version"])) == 0
    }()

    /// Why no program can be built around `reference` here, or nil when one can.
    /// Says where it looked in the package's terms, never this machine's folders.
    package static func unavailability(reference: String = referenceSource) -> String? {
        guard access(reference, R_OK) == 0 else {
            if reference != referenceSource { return "the reference \(reference) is not there" }
            let place =
                getenv(directoryVariable) == nil ? "../shared beside the package" : "the folder \(directoryVariable) names"
            return "no seed/locking.rs in \(place); to use the reference, put it in ../shared beside the package, "
                + "or set \(directoryVariable) to the folder holding seed/locking.rs"
        }
        guard rustc != nil else { return "rustc is not on PATH or in ~/.cargo/bin" }
        guard rustcRuns else { return "`rustc --version` failed: a rustup proxy without a default toolchain?" }
        return nil
    }

    /// Compiles `kind` around `reference` in `directory` (which must exist; the crate
    /// root, rustc's log and the program go there, named after `kind`).
    package static func build(
        _ kind: Kind, in directory: String, reference: String = referenceSource
    ) throws(Failure) -> ReferenceProgram {
        if let reason = unavailability(reference: reference) { throw .unavailable(reason) }
        guard let rustc else { throw .unavailable("rustc is not on PATH or in ~/.cargo/bin") }
        let sources = packageRoot + "/Sources/RVFLockReference/Rust"
        let program = "\(sources)/\(kind.rawValue).rs"
        guard access(program, R_OK) == 0 else { throw .unavailable("our program \(program) is not there") }
        let name = "reference-" + String(kind.rawValue.map { $0 == "_" ? "-" : $0 })
        let root = "\(directory)/\(name).rs"
        let log = "\(directory)/\(name).log"
        let executable = "\(directory)/\(name)"
        let crate = """
            // Generated by RVFLockReference: the reference as a module, our program as another.
            #[allow(dead_code)]
            #[path = "\(absolute(reference))"]
            mod locking;
            #[allow(dead_code)]
            #[path = "\(sources)/monotonic.rs"]
            mod monotonic;
            #[path = "\(program)"]
            mod program;
            fn main() { program::main() }

            """
        do {
            let file = try FileDescriptor.open(
                FilePath(root), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            defer { try? file.close() }
            _ = try file.writeAll(crate.utf8)
        } catch {
            throw .unavailable("could not write \(root): \(error)")
        }
        let status: Int32
        do {
            status = try Spawn.run(
                rustc, arguments: [rustc, "-O", "--edition", "2021", "-A", "warnings", "-o", executable, root], log: log)
        } catch {
            throw .unavailable("could not start \(rustc): \(error)")
        }
        guard status == 0 else { throw .buildFailed(tail(of: log)) }
        return ReferenceProgram(executable: executable)
    }

    /// `path` from the root: a crate root's `#[path]` is relative to the crate root's folder.
    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + path
    }

    /// The last 2,000 bytes of rustc's log: the errors, without pages of notes.
    private static func tail(of log: String) -> String {
        guard let file = try? FileDescriptor.open(FilePath(log), .readOnly) else { return "(no log at \(log))" }
        defer { try? file.close() }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while let count = try? buffer.withUnsafeMutableBytes({ try file.read(into: $0) }), count > 0 {
            bytes += buffer[..<count]
        }
        return String(decoding: bytes.suffix(2000), as: UTF8.self)
    }
}
