import Glibc
import RVFLock
import RVFLockCommandLine
import SystemPackage

/// Shows, on standard error, what a wait is waiting for.
///
/// On a terminal, one line rewritten in place at each progress report. Off a
/// terminal nothing, as with flock(1), so that scripts and loops do not fill
/// their logs; with `--verbose`, one line when the wait starts. Nothing at all
/// when quiet. Used only from the waiting thread (the library calls `onProgress`
/// on the thread that waits), so it needs no synchronisation.
final class WaitReporter {
    private let lockFile: FilePath
    private let timeout: Duration?
    private let isTerminal = isatty(2) == 1
    /// Whether any line is shown: on a terminal or with --verbose, and not quiet.
    private let shows: Bool
    private var hasAnnounced = false
    private var showsLine = false
    private var lastText = ""

    init(lockFile: FilePath, quiet: Bool, verbose: Bool, timeout: Duration?) {
        self.lockFile = lockFile
        self.timeout = timeout
        shows = !quiet && (verbose || isTerminal)
    }

    /// The library's `onProgress` callback, or nil when nothing would be shown, so
    /// that the library need not describe the holder for nobody.
    var callback: ((WaitProgress) -> Void)? {
        shows ? { [self] progress in report(progress) } : nil
    }

    /// Shows a progress report.
    func report(_ progress: WaitProgress) {
        // Off a terminal only the first report is shown: build no text for the others,
        // since describing a holder costs more than a waiter's wake-up in a handoff.
        guard shows, isTerminal || !hasAnnounced else { return }
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
