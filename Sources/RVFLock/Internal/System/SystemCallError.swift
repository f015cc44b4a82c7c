package import SystemPackage

/// A failed system call: which one, on what, and the errno it returned.
///
/// Internal currency of `Internal/`; the public API turns it into a ``LockError``
/// that says what the failure means for the lock.
package struct SystemCallError: Error, Sendable {
    package let name: String
    package let errno: Errno

    init(name: String, errno: Errno) {
        self.name = name
        self.errno = errno
    }
}
