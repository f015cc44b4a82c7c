/// The command line as the parsers read it.
enum CommandArguments {
    /// `arguments` (without the program name) with a short option's attached value
    /// made a word of its own: `-w2` becomes `-w 2`, as flock(1) users write it.
    ///
    /// ArgumentParser reads `-w2` as the flags `-w` and `-2`. Only the short options
    /// that take a value are split (`exec`: `-w`, `-E`; `wait`: `-w`; `selftest`: `-p`,
    /// `-s`), and for `exec` only before FILE: what follows FILE is COMMAND's.
    static func separatingAttachedValues(_ arguments: [String]) -> [String] {
        guard let subcommand = arguments.first else { return arguments }
        // Strings and switches, not a dictionary: a short-lived process pays for each generic type at first use.
        let letters: String
        switch subcommand {
        case "exec": letters = "wE"
        case "wait": letters = "w"
        case "selftest": letters = "ps"
        default: return arguments
        }
        let longOptionsTakingValues = ["--wait", "--conflict-exit-code", "--kill-after", "--processes", "--seconds"]
        var result = [subcommand]
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" || !argument.hasPrefix("-") || argument == "-" {
                // FILE, or the end of options: for exec, the rest is COMMAND's.
                if subcommand == "exec" || argument == "--" {
                    result += arguments[index...]
                    return result
                }
                result.append(argument)
                index += 1
                continue
            }
            let letter = argument.dropFirst().first!
            if longOptionsTakingValues.contains(argument) || (argument.count == 2 && letters.contains(letter)) {
                // The value is the next word, whatever it looks like (-w -1 is refused with a reason later).
                result += arguments[index..<min(index + 2, arguments.count)]
                index += 2
            } else if !argument.hasPrefix("--") && letters.contains(letter) {
                result += ["-\(letter)", String(argument.dropFirst(2))]
                index += 1
            } else {
                result.append(argument)
                index += 1
            }
        }
        return result
    }
}
