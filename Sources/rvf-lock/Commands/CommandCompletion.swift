import Glibc
import RVFLock

/// Shell completion of `exec`'s COMMAND, as util-linux's flock(1) completion does
/// it: the first word after FILE completes to a program (one on `PATH`, or a path
/// to an executable), the words after it to file names.
///
/// ArgumentParser gives a passthrough argument one completion for all its words,
/// so the generated scripts ask `rvf-lock` (`---completion`) each time, and this
/// decides by the word's position. The shells show the candidates as file names
/// (bash's `-o filenames`), so directories end in `/` here.
enum CommandCompletion {
    /// `exec`'s options that take a value in the next word.
    private static let optionsTakingValues = ["-w", "--wait", "-E", "--conflict-exit-code", "--kill-after"]

    /// The candidates for `words[index]`, which begins with `prefix`; `words` is the
    /// whole command line as the shell split it (`rvf-lock exec -n data.rvf ...`).
    @Sendable static func candidates(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        guard let commandStart = commandStart(in: words), index >= commandStart else { return files(prefix) }
        return index == commandStart ? programs(prefix) : files(prefix)
    }

    /// Where COMMAND starts in `words`: after `exec`, its options, FILE and an optional `--`.
    static func commandStart(in words: [String]) -> Int? {
        guard var index = words.firstIndex(of: "exec") else { return nil }
        index += 1
        while index < words.count {
            let word = words[index]
            if word == "--" { index += 1; break }
            guard word.hasPrefix("-"), word.count > 1 else { break }
            index += optionsTakingValues.contains(word) ? 2 : 1
        }
        // words[index] is FILE; an optional -- follows it.
        index += 1
        if index < words.count, words[index] == "--" { index += 1 }
        return index
    }

    /// Programs whose names start with `prefix`: on `PATH`, or, for a prefix with a
    /// `/`, executables and directories on the way to them.
    static func programs(_ prefix: String) -> [String] {
        if prefix.contains("/") {
            return descending(entries(matching: prefix).filter { $0.isDirectory || $0.isExecutable }) {
                $0.isDirectory || $0.isExecutable
            }
        }
        var names: [String] = []
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            for entry in entries(in: String(directory), startingWith: prefix, shownAs: "") where entry.isExecutable && !entry.isDirectory {
                names.append(entry.name)
            }
        }
        var seen: [String] = []
        for name in names.sorted() where seen.last != name { seen.append(name) }
        return seen
    }

    /// Files and directories whose paths start with `prefix`.
    static func files(_ prefix: String) -> [String] {
        descending(entries(matching: prefix)) { _ in true }
    }

    /// The completions for `found`; a single directory comes with what is in it.
    ///
    /// zsh adds a space after a lone candidate that a custom completion returns,
    /// even `dir/`; with the directory's entries beside it, every shell inserts the
    /// common `dir/` and waits for more, as it does for its own file completion.
    private static func descending(_ found: [Entry], keeping: (Entry) -> Bool) -> [String] {
        guard found.count == 1, let directory = found.first, directory.isDirectory else { return found.map(\.completion) }
        return [directory.completion] + entries(matching: directory.completion).filter(keeping).map(\.completion)
    }

    private struct Entry {
        let name: String
        /// The path as the user typed its directory: `sub/name`.
        let shownAs: String
        let isDirectory: Bool
        let isExecutable: Bool

        var completion: String { isDirectory ? shownAs + "/" : shownAs }
    }

    private static func entries(matching prefix: String) -> [Entry] {
        let slash = prefix.lastIndex(of: "/")
        let shownDirectory = slash.map { String(prefix[...$0]) } ?? ""
        let namePrefix = slash.map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
        let directory = shownDirectory.isEmpty ? "." : expandingHome(shownDirectory)
        return entries(in: directory, startingWith: namePrefix, shownAs: shownDirectory)
    }

    private static func entries(in directory: String, startingWith prefix: String, shownAs shownDirectory: String) -> [Entry] {
        var found: [Entry] = []
        for name in Syscalls.directoryNames(atPath: directory) ?? [] {
            guard name.hasPrefix(prefix) else { continue }
            // Hidden files only when asked for.
            guard !name.hasPrefix(".") || prefix.hasPrefix(".") else { continue }
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            found.append(
                Entry(
                    name: name, shownAs: shownDirectory + name,
                    isDirectory: info.st_mode & S_IFMT == S_IFDIR,
                    isExecutable: access(path, X_OK) == 0))
        }
        return found.sorted { $0.name < $1.name }
    }

    /// `~/x` as the shell would read it; completion sees the word before expansion.
    private static func expandingHome(_ directory: String) -> String {
        guard directory.hasPrefix("~/"), let home = getenv("HOME") else { return directory }
        return String(cString: home) + directory.dropFirst()
    }
}
