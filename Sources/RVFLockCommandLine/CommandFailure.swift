/// A failure the user must hear about: one line for standard error, and the exit status.
package struct CommandFailure: Error {
    /// What the program exits with.
    package let exitStatus: Int32
    /// The line for standard error, without the program's prefix.
    package let message: String

    /// A failure that prints `message` and exits with `exitStatus`.
    package init(_ exitStatus: Int32, _ message: String) {
        self.exitStatus = exitStatus
        self.message = message
    }

    /// Prints the message and returns the exit status.
    package func report() -> Int32 {
        StandardError.line(message)
        return exitStatus
    }
}
