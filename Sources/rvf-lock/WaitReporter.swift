#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import RVFLock
import SystemPackage

/// Shows, on standard error, what a wait is waiting for.
///
/// On a terminal, one line rewritten in place at each progress report; otherwise
/// one line when the wait starts, so that logs are not flooded; nothing when quiet.
/// Used only from the waiting thread (the library calls `onProgress` on the thread
/// that waits), so it needs no synchronisation.
final class WaitReporter {
    private let lockFile: FilePath
    private let quiet: Bool
    private let timeout: Duration?
    private let isTerminal = isatty(2) == 1
    private var hasAnnounced = false
    private var showsLine = false
    private var lastText = ""

    init(lockFile: FilePath, quiet: Bool, timeout: Duration?) {
        self.lockFile = lockFile
        self.quiet = quiet
        self.timeout = timeout
    }

    /// The library's `onProgress` callback.
    func report(_ progress: WaitProgress) {
        // Off a terminal only the first report is shown: build no text for the others,
        // since describing a holder costs more than a waiter's wake-up in a handoff.
        guard !quiet, isTerminal || !hasAnnounced else { return }
        let text = "waiting for \(lockFile): \(Self.describe(progress.status))"
        if isTerminal {
            // Redraw only when the text changes: the library reports at every poll.
            if text != lastText || !showsLine { StandardError.raw("\r\u{1B}[Krvf-lock: \(text)") }
            lastText = text
            showsLine = true
        } else if !hasAnnounced {
            let limit = timeout.map { " (at most \(Self.seconds($0)) s)" } ?? ""
            StandardError.line(text + limit)
        }
        hasAnnounced = true
    }

    /// Clears the status line, so that what follows starts on a clean line.
    func finish() {
        if showsLine { StandardError.raw("\r\u{1B}[K") }
        showsLine = false
    }

    /// "held by pid 4242 on build-7 for 12 s", or what else stands in the way.
    static func describe(_ status: LockStatus) -> String {
        switch status {
        case .held(let holder): "held by \(holder)"
        case .stale(let holder, _): "stale lock of \(holder), being removed"
        case .invalid(let invalid): "unreadable lock file (\(invalid))"
        case .free: "the lock keeps changing hands"
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        let thousandths = fraction / 1_000_000_000_000_000
        if thousandths == 0 { return "\(whole)" }
        var digits = String(thousandths)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }
}
