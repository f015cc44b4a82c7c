import CRVFLockEtcdShims
import NIOCore
import NIOPosix

/// Runs every task of this program on one NIO event-loop thread, the one that
/// also does its I/O.
///
/// A handoff passes through this program twice (rvf-lock's `release` to the
/// key's deletion; the watch's event to `held`), each time through a chain of
/// tasks and HTTP calls. On Swift's default executor every link of that chain is
/// a wake-up of another thread, which a loaded machine makes wait for a core; on
/// the event loop it is the next item of the same thread's queue. This program
/// does no blocking work on tasks (a wait for the lock file runs on a thread of
/// the library's own), so one thread serves it.
enum EventLoopExecutor {
    private typealias EnqueueHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// Makes the single-threaded NIO singleton Swift's global executor. Call first
    /// in `main`, before anything uses the singleton; false (and the default
    /// executor kept) when another hook is installed already.
    @discardableResult
    static func install() -> Bool {
        NIOSingletons.groupLoopCountSuggestion = 1
        let hook: EnqueueHook = { job, _ in
            MultiThreadedEventLoopGroup.singleton.any().enqueue(ExecutorJob(job))
        }
        return rvf_install_enqueue_global_hook(unsafeBitCast(hook, to: UnsafeRawPointer.self))
    }
}
