#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import rvf_lock
import RVFLockTestSupport
import Testing

extension CLITests {
    /// How `rvf-lock exec` reads its command line: options before FILE, COMMAND after it, `--` optional.
    @Suite struct ExecArguments {
        @Test func runsCommandGivenWithoutDoubleDash() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "sh", "-c", "echo \"$@\"; exit 5", "sh", "-l", "-n", "--"])
                #expect(result.status == 5)
                #expect(result.standardOutput == "-l -n --\n")
            }
        }

        @Test func optionsAfterCommandBelongToTheCommand() async throws {
            try await withSandbox { dir in
                // `rvf-lock exec data.rvf ls -l`: -l is ls's, not rvf-lock's.
                let result = try await rvfLock(["exec", "-n", "\(dir)/data.rvf", "--", "sh", "-c", "echo \"$@\"", "sh", "-w", "1", "-q"])
                #expect(result.status == 0)
                #expect(result.standardOutput == "-w 1 -q\n")
            }
        }

        @Test func refusesAnOptionBetweenFileAndCommand() async throws {
            try await withSandbox { dir in
                let result = try await rvfLock(["exec", "\(dir)/data.rvf", "-n", "touch", "\(dir)/ran"])
                #expect(result.status == 64)
                #expect(result.standardError.contains("options go before FILE"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/ran"))
                #expect(!FileManager.default.fileExists(atPath: "\(dir)/data.rvf.lock"))
            }
        }

        @Test func refusesAMissingCommand() async throws {
            try await withSandbox { dir in
                for arguments in [
                    ["exec", "\(dir)/data.rvf"], ["exec", "\(dir)/data.rvf", "--"], ["exec", "-n", "--", "\(dir)/data.rvf"],
                ] {
                    let result = try await rvfLock(arguments)
                    #expect(result.status == 64, "\(arguments)")
                    #expect(result.standardError.contains("missing COMMAND"), "\(arguments): \(result.standardError)")
                }
            }
        }

        /// The fast parser (no ArgumentParser, for start-up time) and ArgumentParser
        /// must read every command line the same way, or the fast parser must decline it.
        @Test func fastParserAgreesWithArgumentParser() throws {
            let lines: [[String]] = [
                ["d.rvf", "true"], ["d.rvf", "--", "true"], ["-n", "d.rvf", "true"], ["-n", "d.rvf", "--", "ls", "-l"],
                ["--no-wait", "d.rvf", "ls", "-l", "--", "-n"], ["-w", "2.5", "d.rvf", "sh", "-c", "x"],
                ["--wait", "0", "-q", "-E", "9", "d.rvf", "cmd"], ["-E", "0", "-q", "-n", "d.rvf", "cmd"],
                ["--kill-after", "0.5", "--kill-leftovers", "d.rvf", "cmd", "--kill-after"],
                ["--quiet", "--conflict-exit-code", "255", "--", "d.rvf", "--", "--"], ["-q", "--", "-d.rvf", "x"],
                ["d.rvf", "-", "x"], ["", "x"], ["d.rvf", "x", "-w", "1"],
                ["--etcd", "http://e1:2379,http://e2:2379", "-n", "d.rvf", "x"], ["-w", "3", "--etcd", "e1", "d.rvf", "--", "x"],
                ["--etcd", "--", "d.rvf", "x"], ["--etcd", "e1", "--etcd", "e2", "d.rvf", "x"],
                // Declined by the fast parser, or refused by both:
                ["-nq", "d.rvf", "x"], ["--wait=2", "d.rvf", "x"], ["-w", "-1", "d.rvf", "x"], ["-w", "abc", "d.rvf", "x"],
                ["-w", "1", "-n", "d.rvf", "x"], ["-n", "-n", "d.rvf", "x"], ["-E", "256", "d.rvf", "x"], ["--help"],
                ["d.rvf"], ["d.rvf", "--"], ["d.rvf", "-n", "x"], ["-x", "d.rvf", "cmd"], ["-", "x"],
                ["--kill-after", "nan", "d.rvf", "x"],
                ["-n", "--", "d.rvf"], ["-w"], ["--"], [],
            ]
            var fastParsed = 0
            for line in lines {
                let fast = ExecOptions(fastParsing: line[...])
                let slow: ExecOptions? = try? ExecCommand.options(parsing: line)
                if let fast {
                    fastParsed += 1
                    #expect(fast == slow, "\(line): fast \(fast), ArgumentParser \(String(describing: slow))")
                }
            }
            // The check has teeth: most ordinary lines take the fast path.
            #expect(fastParsed >= 12)
        }
    }
}
