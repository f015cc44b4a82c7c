#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// One inotify instance for the whole process, shared by every waiter and holder.
///
/// Closing an inotify instance waits for a kernel RCU grace period (about 5 ms
/// measured here), which would dominate acquire and release if each lock had its
/// own; adding and removing a watch costs microseconds. Subscribers register a
/// callback for a watched path (optionally one name inside a watched directory)
/// and get it called, on the hub's queue, for every event there.
final class FileEventHub: Sendable {
    /// The shared hub, or nil where inotify is unavailable (other platforms, or a
    /// process out of inotify instances): callers then rely on polling.
    static let shared: FileEventHub? = FileEventHub()

    /// Events that mean a watched lock file's holder let go or the file changed identity.
    /// Paths are resolved with `IN_DONT_FOLLOW` by callers that must not follow a symlink.
    static let fileEvents = UInt32(IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    /// Events that mean a name left a watched directory, or the directory itself went.
    static let directoryEvents = UInt32(IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

    struct Subscription: Sendable {
        fileprivate let watch: CInt
        fileprivate let id: UInt64
    }

    private struct Subscriber {
        let name: [UInt8]?
        let callback: @Sendable () -> Void
    }

    private struct State: ~Copyable {
        var subscribers: [CInt: [UInt64: Subscriber]] = [:]
        var nextID: UInt64 = 0
    }

    /// The read source on the inotify descriptor.
    ///
    /// `@unchecked Sendable` is safe: it is created and resumed once in `init`,
    /// never mutated afterwards, and libdispatch sources are thread-safe.
    private final class Reader: @unchecked Sendable {
        var source: (any DispatchSourceRead)?
    }

    private let notifier: CInt
    private let queue = DispatchQueue(label: "RVFLock.file-events")
    private let state = Mutex(State())
    private let reader = Reader()

    private init?() {
        #if os(Linux)
        notifier = inotify_init1(CInt(IN_NONBLOCK | IN_CLOEXEC))
        guard notifier >= 0 else { return nil }
        let source = DispatchSource.makeReadSource(fileDescriptor: notifier, queue: queue)
        source.setEventHandler { [weak self] in self?.deliver() }
        reader.source = source
        source.resume()
        #else
        return nil
        #endif
    }

    /// Calls `callback` on every event for `path` (for directories: for `name` inside it).
    /// Returns nil when the path cannot be watched (gone, or out of watches).
    func subscribe(
        _ path: String, events: UInt32, name: [UInt8]? = nil,
        _ callback: @escaping @Sendable () -> Void
    ) -> Subscription? {
        state.withLock { state in
            #if os(Linux)
            let watch = inotify_add_watch(notifier, path, events)
            guard watch >= 0 else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[watch, default: [:]][id] = Subscriber(name: name, callback: callback)
            return Subscription(watch: watch, id: id)
            #else
            return nil
            #endif
        }
    }

    func unsubscribe(_ subscription: Subscription?) {
        guard let subscription else { return }
        state.withLock { state in
            guard var watchers = state.subscribers[subscription.watch] else { return }
            watchers[subscription.id] = nil
            if watchers.isEmpty {
                state.subscribers[subscription.watch] = nil
                #if os(Linux)
                _ = inotify_rm_watch(notifier, subscription.watch)
                #endif
            } else {
                state.subscribers[subscription.watch] = watchers
            }
        }
    }

    private func deliver() {
        #if os(Linux)
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var callbacks: [@Sendable () -> Void] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(notifier, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            state.withLock { state in
                var offset = 0
                while offset + 16 <= count {
                    let (watch, mask, nameLength) = buffer.withUnsafeBytes { raw in
                        (raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                         raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                         Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                    }
                    let name = Array(buffer[(offset + 16)..<(offset + 16 + nameLength)].prefix { $0 != 0 })
                    offset += 16 + nameLength
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        callbacks += state.subscribers.values.flatMap { $0.values.map(\.callback) }
                        continue
                    }
                    guard let watchers = state.subscribers[watch] else { continue }
                    for subscriber in watchers.values where subscriber.name == nil || name.isEmpty || subscriber.name == name {
                        callbacks.append(subscriber.callback)
                    }
                    // The kernel dropped the watch (its inode is gone): forget it.
                    if mask & UInt32(IN_IGNORED) != 0 { state.subscribers[watch] = nil }
                }
            }
        }
        for callback in callbacks { callback() }
        #endif
    }
}
