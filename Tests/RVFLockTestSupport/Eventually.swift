import Foundation

/// Polls `condition` until it holds, the timeout passes, or the test is cancelled
/// (by its time limit); true when it held. For waiting on other processes, with a
/// generous timeout: never a timing assertion.
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(5), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline && !Task.isCancelled {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// The line another process writes to `path` (`echo VALUE > path`), without its
/// newline, once all of it is there: the shell creates the file before it writes,
/// so a file that exists may still be empty. Nil if no whole line came in time.
public func eventuallyLine(in path: String, timeout: Duration = .seconds(30)) async -> String? {
    var line: String?
    _ = await eventually(timeout: timeout) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") else { return false }
        line = String(text.dropLast())
        return true
    }
    return line
}
