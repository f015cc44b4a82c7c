extension ExecOptions {
    /// Parses `exec`'s arguments (what follows `exec`) without ArgumentParser, for
    /// the forms people and scripts write: separate short or long options, each
    /// once, values in the next argument, then FILE, an optional `--` and COMMAND.
    ///
    /// Nil for anything else (`--help`, `-nq`, `--wait=2`, a repeated or unknown
    /// option, a value that does not parse, a command line that fails validation):
    /// ArgumentParser then parses it, and reports any error with its usage text.
    init?(fastParsing arguments: ArraySlice<String>) {
        var options = ExecOptions(file: "", command: [])
        // Which options were seen, as bits: each may appear once on this path.
        var seen: UInt16 = 0
        var index = arguments.startIndex
        var file: String?
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("-"), argument.utf8.count > 1 else {
                file = argument
                break
            }
            if argument == "--" {
                guard index < arguments.endIndex else { return nil }
                file = arguments[index]
                index += 1
                break
            }
            // A switch, not a table: a dictionary's generic metadata costs more at start-up than this whole parse.
            let option: FastOption
            switch argument {
            case "-w", "--wait": option = .wait
            case "-n", "--no-wait": option = .noWait
            case "-E", "--conflict-exit-code": option = .conflictExitCode
            case "-q", "--quiet": option = .quiet
            case "-v", "--verbose": option = .verbose
            case "--kill-after": option = .killAfter
            case "--kill-leftovers": option = .killLeftovers
            case "--allow-lock-suffix": option = .allowLockSuffix
            case "--etcd": option = .etcd
            default: return nil
            }
            guard seen & option.rawValue == 0 else { return nil }
            seen |= option.rawValue
            var value = ""
            if option.takesValue {
                guard index < arguments.endIndex, !arguments[index].hasPrefix("-") else { return nil }
                value = arguments[index]
                index += 1
            }
            switch option {
            case .wait:
                guard let seconds = Double(value) else { return nil }
                options.waitSeconds = seconds
            case .noWait: options.noWait = true
            case .conflictExitCode:
                guard let code = Int32(value) else { return nil }
                options.conflictExitCode = code
            case .quiet: options.quiet = true
            case .verbose: options.verbose = true
            case .allowLockSuffix: options.allowsLockSuffix = true
            case .killAfter:
                guard let seconds = Double(value) else { return nil }
                options.killAfterSeconds = seconds
            case .killLeftovers: options.killLeftovers = true
            case .etcd: options.etcd = value
            }
        }
        // A lone "-" is left to ArgumentParser, whatever it makes of it.
        guard let file, file != "-" else { return nil }
        options.file = file
        do throws(UsageError) {
            options.command = try Self.command(after: file, Array(arguments[index...]))
            self = try options.validated()
        } catch {
            return nil
        }
    }

    private enum FastOption: UInt16 {
        case wait = 1, noWait = 2, conflictExitCode = 4, quiet = 8, killAfter = 16, killLeftovers = 32, verbose = 64,
            allowLockSuffix = 128, etcd = 256

        var takesValue: Bool { self == .wait || self == .conflictExitCode || self == .killAfter || self == .etcd }
    }
}
