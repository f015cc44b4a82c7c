package import RVFLock
import RVFLockCommandLine

/// One check of `rvf-lock selftest`: what was measured, and what it means for the lock.
package struct SelftestCheck {
    package enum Result {
        case ok
        case notAvailable
        case failed

        var text: String {
            switch self {
            case .ok: "ok"
            case .notAvailable: "not available"
            case .failed: "FAILED"
            }
        }

        var json: String {
            switch self {
            case .ok: "ok"
            case .notAvailable: "not_available"
            case .failed: "failed"
            }
        }
    }

    /// A stable identifier, for `--json`.
    package let key: String
    /// What is checked, for people.
    let title: String
    package let result: Result
    /// What was measured, and what it means.
    package let detail: String
    /// For a failure caused by the file system lacking what the protocol needs: what it lacks.
    package var missing: LockFileSystem.Requirement? = nil
    /// The refusing system call and errno behind ``missing`` ("flock: ENOLCK"), where there is one.
    package var refusal: String? = nil
    /// For a failure because the library refused the file system (``LockError/Code/unsupportedFileSystem``): its message.
    package var unsupportedMessage: String? = nil

    package static func ok(_ key: String, _ title: String, _ detail: String) -> SelftestCheck {
        SelftestCheck(key: key, title: title, result: .ok, detail: detail)
    }

    package static func notAvailable(_ key: String, _ title: String, _ detail: String) -> SelftestCheck {
        SelftestCheck(key: key, title: title, result: .notAvailable, detail: detail)
    }

    package static func failed(
        _ key: String, _ title: String, _ detail: String,
        missing: LockFileSystem.Requirement? = nil, refusal: String? = nil
    ) -> SelftestCheck {
        SelftestCheck(key: key, title: title, result: .failed, detail: detail, missing: missing, refusal: refusal)
    }

    /// "ok             flock between processes: ..."
    package var line: String {
        result.text.padding(toLength: 14) + title + ": " + detail
    }

    package var json: String {
        let fields: [(String, String)] = [
            ("check", JSON.string(key)),
            ("title", JSON.string(title)),
            ("result", JSON.string(result.json)),
            ("detail", JSON.string(detail)),
            ("missing", missing.map { JSON.string($0.rawValue) } ?? JSON.null),
        ]
        return JSON.object(fields)
    }
}

/// The answer of a selftest: can the lock be trusted in the directory, why, and the exit status.
package struct SelftestVerdict {
    package let trusted: Bool
    package let exitStatus: Int32
    package let text: String

    package init(trusted: Bool, exitStatus: Int32, text: String) {
        self.trusted = trusted
        self.exitStatus = exitStatus
        self.text = text
    }
}

/// Collects the checks of one selftest, printing each as it completes (or, with
/// `--json`, everything as one object at the end), and draws the verdict.
package final class SelftestReport {
    package let directory: String
    package let json: Bool
    package var fileSystem: LockFileSystem?
    private(set) var checks: [SelftestCheck] = []
    /// The contention run's numbers, for `--json`.
    package var contention: ContentionSummary?

    package init(directory: String, json: Bool) {
        self.directory = directory
        self.json = json
    }

    package func add(_ check: SelftestCheck) {
        checks.append(check)
        if !json { StandardOutput.line(check.line) }
    }

    /// Whether a check of this key found what it looked for.
    package func passed(_ key: String) -> Bool {
        checks.contains { $0.key == key && $0.result == .ok }
    }

    /// The verdict from the checks made: the file system's lack first (69), then
    /// any other failure (1), else trusted (0), with what the user should know.
    package func verdict() -> SelftestVerdict {
        let name = fileSystem?.name ?? "unknown"
        if let lacking = checks.first(where: { $0.result == .failed && $0.missing != nil }), let missing = lacking.missing {
            let refusal = lacking.refusal.map { " (\($0))" } ?? ""
            return SelftestVerdict(
                trusted: false, exitStatus: ExitStatus.unavailable,
                text: "NOT TRUSTED: \(directory) is on a file system (\(name)) that cannot hold an RVF writer lock: "
                    + "\(missing)\(refusal); put the data files on a file system where this selftest passes "
                    + "(local ones such as ext4, xfs, btrfs, tmpfs)")
        }
        if let refused = checks.first(where: { $0.result == .failed && $0.unsupportedMessage != nil }),
            let message = refused.unsupportedMessage
        {
            return SelftestVerdict(trusted: false, exitStatus: ExitStatus.unavailable, text: "NOT TRUSTED: " + message)
        }
        if let failure = checks.first(where: { $0.result == .failed }) {
            return SelftestVerdict(
                trusted: false, exitStatus: ExitStatus.checkFailed,
                text: "NOT TRUSTED: the \(failure.title) check failed in \(directory) (\(name)), which no known file "
                    + "system limit explains; do not rely on the lock there, and report this output")
        }
        var notes: [String] = []
        if !passed("file_events") {
            notes.append("file events do not arrive, so waiters poll (every \(Self.pollInterval) s at most) instead of waking at once")
        }
        if let fileSystem, !fileSystem.isLocal {
            notes.append(
                "this run tested processes on this machine only; between machines the lock also relies on "
                    + "the server's file locks and on clocks agreeing to well within 300 s, which no test here can see: "
                    + "run `rvf-lock selftest` on each machine that shares \(directory)")
        }
        let locality = fileSystem.map { $0.isLocal ? "local" : "not local" } ?? "unknown"
        return SelftestVerdict(
            trusted: true, exitStatus: ExitStatus.success,
            text: "TRUSTED: the RVF lock can be trusted in \(directory) (\(name), \(locality))"
                + notes.map { "; " + $0 }.joined())
    }

    private static var pollInterval: String {
        let interval = LockOptions().maximumPollInterval.components
        let milliseconds = interval.seconds * 1000 + interval.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : "\(Double(milliseconds) / 1000)"
    }

    /// Prints the verdict line, or the whole JSON object.
    package func finish(with verdict: SelftestVerdict) {
        guard json else {
            StandardOutput.line("verdict: " + verdict.text)
            return
        }
        let fileSystemJSON =
            fileSystem.map { fileSystem in
                JSON.object([
                    ("name", JSON.string(fileSystem.name)),
                    ("magic", fileSystem.magic.map { JSON.string("0x" + String($0, radix: 16)) } ?? JSON.null),
                    ("local", String(fileSystem.isLocal)),
                    ("syncs_lock_files", String(fileSystem.syncsLockFiles(under: LockOptions()))),
                ])
            } ?? JSON.null
        StandardOutput.line(
            JSON.object([
                ("directory", JSON.string(directory)),
                ("file_system", fileSystemJSON),
                ("checks", "[" + checks.map(\.json).joined(separator: ",") + "]"),
                ("contention", contention?.json ?? JSON.null),
                ("trusted", String(verdict.trusted)),
                ("verdict", JSON.string(verdict.text)),
                ("exit_status", String(verdict.exitStatus)),
            ]))
    }
}

extension JSON {
    /// An object from fields already written as JSON values, in the given order.
    package static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(string($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }
}

extension String {
    /// The string, padded with spaces to at least `length` characters.
    func padding(toLength length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }
}

/// Durations for the report, with as many decimals as make them readable.
package enum Measure {
    /// "0.012", "1.25", "37.4": milliseconds, three significant digits or one decimal.
    package static func milliseconds(_ nanoseconds: UInt64) -> String {
        let value = Double(nanoseconds) / 1e6
        let decimals = value < 1 ? 3 : value < 10 ? 2 : 1
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        // String(Double) drops trailing zeros but may use exponents for tiny values.
        if text.contains("e") { text = "0" }
        return text
    }
}
