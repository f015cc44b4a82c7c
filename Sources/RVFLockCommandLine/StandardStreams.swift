import SystemPackage

/// Messages for people, on standard error.
///
/// Written with `write(2)` through `FileDescriptor`, because the C `stderr`
/// global is not safe to use from Swift 6 concurrency-checked code.
package enum StandardError {
    /// Writes "rvf-lock: " + `message` and a newline.
    package static func line(_ message: String) {
        raw("rvf-lock: \(message)\n")
    }

    /// Writes `text` as it is: no prefix, no newline (for the in-place status line).
    package static func raw(_ text: String) {
        _ = try? FileDescriptor.standardError.writeAll(Array(text.utf8))
    }
}

/// Results for programs, on standard output.
package enum StandardOutput {
    /// Writes `text` and a newline.
    package static func line(_ text: String) {
        _ = try? FileDescriptor.standardOutput.writeAll(Array((text + "\n").utf8))
    }
}
