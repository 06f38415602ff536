import Foundation

/// A value shared between threads, reached only under a pthread mutex (`NSLock`). Not
/// Synchronization's `Mutex`: ThreadSanitizer does not see its futex-based locking on Linux and
/// reports every access under it as a race (docs/DECISIONS.md, "One parallel-for").
public final class Locked<Value>: @unchecked Sendable {  // `value` guarded by `lock`
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` on the value with the lock held.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
