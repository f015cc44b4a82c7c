import ArgumentParser
import RVFLockCommandLine

extension CommandFailure {
    /// Prints the message and returns the error that makes ArgumentParser exit with the status.
    func reported() -> ExitCode {
        ExitCode(report())
    }
}
