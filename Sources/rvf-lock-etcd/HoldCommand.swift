#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import NIOCore
import NIOPosix
import RVFLock
import RVFLockCommandLine
import RVFLockEtcd
import Synchronization
import SystemPackage

/// `rvf-lock-etcd hold`: takes a data file's lease for `rvf-lock exec --etcd`,
/// which takes the lock file and runs the command, and tells it when the lease
/// is lost. Not for use by hand.
///
/// The two talk over a socket pair, whose end this program finds in
/// `RVF_LOCK_ETCD_FD`, in lines:
/// - to rvf-lock: `held TOKEN KEY` once the lease is had; `failed STATUS` when it
///   cannot be had (the message is on standard error already, and rvf-lock exits
///   with STATUS); `lost` when it is lost while held (message printed too);
/// - from rvf-lock: `started` once the command runs (nothing is answered; the read
///   sets up the socket's reading before `release` needs it);
///   `release` once the lock file is released and the command's
///   processes have ended, answered with `released` (held to the end, once its
///   key is deleted) or `lost`. The end of the socket without `release` means rvf-lock
///   was killed: its command's processes may still hold the lock file (they keep
///   its kernel lock), so the lease is kept until the lock file is free.
struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Hold a data file's etcd lease for rvf-lock exec --etcd (started by it).",
        shouldDisplay: false
    )

    /// The variable that names the inherited socket's descriptor.
    static let descriptorVariable = "RVF_LOCK_ETCD_FD"

    @OptionGroup var settings: EtcdSettings

    @Option(name: [.customShort("w"), .customLong("wait")], help: ArgumentHelp("Wait at most SECONDS.", valueName: "SECONDS"))
    var waitSeconds: Double?

    @Flag(name: [.customShort("n"), .customLong("no-wait")], help: "Do not wait.")
    var noWait = false

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Say nothing while waiting, nor when the lease is taken.")
    var quiet = false

    @Argument(help: ArgumentHelp("The data file.", valueName: "FILE"))
    var file: String

    func run() async throws {
        guard let text = EtcdSettings.environment(Self.descriptorVariable), let descriptor = CInt(text), descriptor >= 0 else {
            throw ExitCode(
                CommandFailure(
                    ExitStatus.usage,
                    "hold is started by rvf-lock exec --etcd, which passes "
                        + "\(Self.descriptorVariable); run rvf-lock exec --etcd instead"
                ).report())
        }
        throw ExitCode(await hold(link: descriptor))
    }

    private enum Event: Sendable {
        case acquired(EtcdLease)
        case failed(status: Int32)
        case rvfLockEnded(released: Bool)
        case lost
    }

    private func hold(link descriptor: CInt) async -> Int32 {
        let lock: EtcdWriterLock
        do throws(CommandFailure) { lock = try settings.lock(for: file) } catch {
            Self.send("failed \(error.report())\n", to: descriptor)
            return error.exitStatus
        }
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            // The socket as a connected socket's channel, the kind the HTTP client's
            // connections are already: a pipe's channel is a type of its own, and its
            // making asks the runtime for conformances, each a search of the whole program.
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .withConnectedSocket(descriptor) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            Self.send("failed \(ExitStatus.software)\n", to: descriptor)
            return CommandFailure(ExitStatus.software, "cannot talk to rvf-lock over its socket: \(error)").report()
        }
        let waitSeconds = self.waitSeconds
        let noWait = self.noWait
        let quiet = self.quiet
        let file = self.file
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let (events, mailbox) = AsyncStream<Event>.makeStream()
                let reader = Task {
                    // Bytes, not a String: String's search for a substring costs, the first time
                    // in a process, a tenth of a millisecond or more of run-time generic
                    // set-up, on the handoff's path.
                    var received: [UInt8] = []
                    var released = false
                    do {
                        for try await chunk in inbound {
                            received += chunk.readableBytesView
                            released = received.split(separator: UInt8(ascii: "\n")).contains { $0.elementsEqual("release".utf8) }
                            if released { break }
                        }
                    } catch {}
                    mailbox.yield(.rvfLockEnded(released: released))
                }
                defer { reader.cancel() }
                let reporter = WaitingReporter(file: file, quiet: quiet)
                let acquisition = Task {
                    do {
                        let lease = try await lock.acquireLease(
                            timeout: noWait ? lock.etcd.requestTimeout * 2 : waitSeconds.map { .seconds($0) },
                            waiting: !noWait, onWaiting: reporter.report)
                        // Told here, at once, rather than by the loop below: on the event loop
                        // (EventLoopExecutor) the loop would run only after the lease's watch of
                        // its own key, started with it, had set up its connection. Written to an
                        // rvf-lock that went away meanwhile, it is lost, and the loop releases.
                        try? await outbound.write(ByteBuffer(string: "held \(lease.fencingToken) \(lease.key)\n"))
                        lease.prepareRelease()
                        mailbox.yield(.acquired(lease))
                    } catch {
                        let status = ExitStatus.of(error)
                        let conflict = status == ExitStatus.temporaryFailure
                        if !(quiet && conflict) && !Task.isCancelled { StandardError.line("\(error)") }
                        mailbox.yield(.failed(status: status))
                    }
                }
                var lease: EtcdLease?
                var rvfLockGone = false
                for await event in events {
                    switch event {
                    case .acquired(let acquired):
                        lease = acquired
                        if rvfLockGone {
                            await acquired.release()
                            return ExitStatus.success
                        }
                        acquired.onLoss { mailbox.yield(.lost) }
                    case .failed(let status):
                        if !rvfLockGone { try? await outbound.write(ByteBuffer(string: "failed \(status)\n")) }
                        return status
                    case .lost:
                        if let lease {
                            StandardError.line(
                                "the etcd lease of \(file) (key \(lease.key), fencing token \(lease.fencingToken)) "
                                    + "was lost: \(lease.lossReason ?? "unknown reason"); another writer may get the lock "
                                    + "now: stopping the command")
                        }
                        try? await outbound.write(ByteBuffer(string: "lost\n"))
                    case .rvfLockEnded(let released):
                        rvfLockGone = true
                        guard let lease else {
                            // rvf-lock went away while waiting (a signal): give up the place in line.
                            acquisition.cancel()
                            continue
                        }
                        if !released && lease.isHeld {
                            // rvf-lock was killed: what its command started may still write under
                            // the lock file's kernel lock. Keep the lease until that is gone.
                            _ = try? await lock.fileLock.waitUntilAvailable()
                        }
                        // Held to the end? (isHeld also catches a loss the keep-alive has not
                        // noticed yet, after this process was paused.)
                        // rvf-lock hears that the lease was held to the end once its key is deleted (so
                        // that rvf-lock's next run in a loop does not queue before the deletion), but
                        // not after the revocation; a lost lease it hears of at once, since asking a
                        // cluster without quorum may take up to the TTL.
                        let heldToTheEnd = lease.isHeld
                        if !heldToTheEnd {
                            if released { try? await outbound.write(ByteBuffer(string: "lost\n")) }
                            await lease.release()
                            return ExitStatus.success
                        }
                        await lease.release(afterKeyDeleted: {
                            if released { try? await outbound.write(ByteBuffer(string: "released\n")) }
                        })
                        return ExitStatus.success
                    }
                }
                return ExitStatus.success
            }
        } catch {
            return ExitStatus.software
        }
    }

    private static func send(_ text: String, to descriptor: CInt) {
        _ = try? FileDescriptor(rawValue: descriptor).writeAll(Array(text.utf8))
    }
}

/// Says once, on standard error, who holds the lease this program waits for.
final class WaitingReporter: Sendable {
    private let file: String
    private let quiet: Bool
    private let announced = Mutex(false)

    init(file: String, quiet: Bool) {
        self.file = file
        self.quiet = quiet
    }

    var report: @Sendable (EtcdLockHolder) -> Void {
        { [self] holder in
            guard !quiet,
                !announced.withLock({
                    let was = $0; $0 = true; return was
                })
            else { return }
            StandardError.line("waiting for \(file) on etcd: the writer ahead is \(holder)")
        }
    }
}
