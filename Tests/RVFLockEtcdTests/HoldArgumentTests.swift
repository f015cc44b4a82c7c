@testable import rvf_lock_etcd
import Testing

/// How `rvf-lock-etcd hold` reads the command line rvf-lock gives it: without
/// ArgumentParser for rvf-lock's own form, exactly as ArgumentParser would.
@Suite struct HoldArgumentTests {
    /// What a parse made of a command line, field by field.
    struct Parsed: Equatable, CustomStringConvertible {
        let endpoints, prefix, name: String?
        let ttlSeconds: Int?
        let waitSeconds: Double?
        let noWait, quiet: Bool
        let file: String

        init(_ hold: HoldCommand) {
            endpoints = hold.settings.endpoints
            prefix = hold.settings.prefix
            name = hold.settings.name
            ttlSeconds = hold.settings.ttlSeconds
            waitSeconds = hold.waitSeconds
            noWait = hold.noWait
            quiet = hold.quiet
            file = hold.file
        }

        var description: String {
            "\(endpoints ?? "-") \(prefix ?? "-") \(name ?? "-") \(ttlSeconds.map(String.init) ?? "-") "
                + "\(waitSeconds.map { "\($0)" } ?? "-") \(noWait) \(quiet) \(file)"
        }
    }

    @Test func theFastParserReadsWhatArgumentParserReads() {
        let lines: [[String]] = [
            // What rvf-lock writes (EtcdCoordinator), in every combination it uses:
            ["--etcd", "http://e1:2379,http://e2:2379", "--", "/srv/d.rvf"],
            ["--etcd", "e1", "-w", "2.5", "--", "d.rvf"], ["--etcd", "e1", "-n", "--", "d.rvf"],
            ["--etcd", "e1", "-q", "--", "-d.rvf"], ["--etcd", "e1", "-w", "0", "-n", "-q", "--", "--"],
            ["--etcd", "e1", "-w", "1e3", "-q", "--", ""],
            // Long forms and other orders:
            ["--wait", "3", "--no-wait", "--quiet", "--etcd", "e1", "--", "d.rvf"], ["--", "d.rvf"],
            // Declined by the fast parser, or refused by both:
            ["--etcd", "e1", "d.rvf"], ["--etcd=e1", "--", "d.rvf"], ["-nq", "--", "d.rvf"],
            ["--etcd", "e1", "--etcd", "e2", "--", "d.rvf"], ["-n", "-n", "--", "d.rvf"], ["-w", "-1", "--", "d.rvf"],
            ["-w", "abc", "--", "d.rvf"], ["--etcd", "--", "d.rvf"], ["--etcd-ttl", "5", "--", "d.rvf"],
            ["--", "d.rvf", "extra"], ["--"], ["--help"], ["-x", "--", "d.rvf"], [],
        ]
        var fastParsed = 0
        for line in lines {
            let fast = HoldCommand(fastParsing: line[...]).map(Parsed.init)
            let slow = (try? HoldCommand.parsedByArgumentParser(line)).map(Parsed.init)
            if let fast {
                fastParsed += 1
                #expect(fast == slow, "\(line): fast \(fast), ArgumentParser \(slow.map(\.description) ?? "refused")")
            }
        }
        // The check has teeth: every form rvf-lock writes takes the fast path.
        #expect(fastParsed >= 8)
    }
}
