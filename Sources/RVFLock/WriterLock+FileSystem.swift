import SystemPackage

extension WriterLock {
    /// The file system holding this lock's lock file (that is, the data file's directory).
    ///
    /// - Throws: ``LockError/Code/systemCallFailed`` when the directory cannot be reached.
    public func fileSystem() throws(LockError) -> LockFileSystem {
        let directory = lockFile.removingLastComponent()
        return try LockFileSystem(containing: directory.isEmpty ? "." : directory)
    }
}
