import SystemPackage

/// A failed system call: which one, on what, and the errno it returned.
///
/// Internal currency of `Internal/`; the public API turns it into a ``LockError``
/// that says what the failure means for the lock.
struct SystemCallError: Error, Sendable {
    let name: String
    let errno: Errno
}
