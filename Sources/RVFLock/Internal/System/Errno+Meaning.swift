package import SystemPackage

// What an errno means for the protocol, decided once: the library acts on these
// classes, and `rvf-lock selftest` names a file system's refusals by them, so that
// selftest reports a missing ability exactly where the library would take another way.
extension Errno {
    /// The kernel or the file system lacks the call or one of its flags
    /// (`renameat2`'s flags, `O_TMPFILE`, `AT_EMPTY_PATH`): take another way.
    package var meansUnsupportedCall: Bool {
        self == .invalidArgument || self == .notSupported || self == .noFunction
    }

    /// `open(O_TMPFILE)` is not available here: also EISDIR, from kernels that take
    /// the flag for `O_DIRECTORY` alone.
    package var meansNoUnnamedFiles: Bool { meansUnsupportedCall || self == .isDirectory }

    /// `flock()` is refused for this file (NFS without lock support, some FUSE file
    /// systems): EBADF from those that refuse a descriptor they cannot lock.
    package var meansNoFileLocks: Bool {
        meansUnsupportedCall || self == .noLocks || self == .badFileDescriptor
    }

    /// `link`/`linkat` cannot work on this file system: it has no hard links (EPERM
    /// is what FAT and most FUSE file systems say).
    package var meansNoHardLinks: Bool {
        self == .notPermitted || self == .notSupported || self == .noFunction
    }
}
