// What a caller names when using this library, available from `import RVFLock`
// alone: paths (`FilePath`), the errno of a failed system call (`Errno`, in
// `LockError.errno`), and the logger of `LockOptions.logger`. Only these
// types, not their whole modules, so that `import RVFLock` does not bring all of
// swift-system and swift-log into a caller's scope.
@_exported public import struct SystemPackage.FilePath
@_exported public import struct SystemPackage.Errno
@_exported public import struct Logging.Logger
