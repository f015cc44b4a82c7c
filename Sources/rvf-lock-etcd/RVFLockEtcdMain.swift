import ArgumentParser
import Glibc
import NIOCore
import NIOPosix

/// The program's entry: a synchronous `main` that runs the command as a task on
/// the event loop (``EventLoopExecutor``) and waits for it, then exits.
///
/// Not an async `main`: Swift's drains its main queue with Dispatch's
/// `dispatch_main`, which ends the main thread with `pthread_exit`, and that
/// unwinds the thread's stack. The unwinder's first look-up of a frame sorts
/// every frame-description entry of a statically linked program: linked so, this
/// one spent 20-22 ms of CPU on a whole `rvf-lock exec --etcd FILE true`, against
/// 12-13 ms without the unwinding.
@main
enum RVFLockEtcdMain {
    static func main() {
        EventLoopExecutor.install()
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let status = loop.makePromise(of: Int32.self)
        status.completeWithTask { await run(CommandLine.arguments.dropFirst()) }
        // The task's every end is a status: no error reaches the wait.
        exit((try? status.futureResult.wait()) ?? ExitCode.failure.rawValue)
    }

    /// Runs the command line's command; its exit status. `hold` is parsed
    /// without ArgumentParser as rvf-lock starts it (``HoldCommand/init(fastParsing:)``),
    /// everything else goes through it.
    private static func run(_ arguments: ArraySlice<String>) async -> Int32 {
        if arguments.first == "hold", let hold = HoldCommand(fastParsing: arguments.dropFirst()) {
            do {
                try await hold.run()
                return ExitCode.success.rawValue
            } catch let code as ExitCode {
                // hold's every end: its status as it is. ArgumentParser's exit(withError:)
                // would first build the commands' help to word a message there is none of,
                // looking up conformances across the whole program (a profile under
                // contention put it at 1 % of the machine's CPU).
                return code.rawValue
            } catch {
                RVFLockEtcdCommand.exit(withError: error)
            }
        }
        await RVFLockEtcdCommand.main(Array(arguments))
        return ExitCode.success.rawValue
    }
}
