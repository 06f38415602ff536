import CBLAS
import Dispatch
import Foundation

/// Threads for kernels: OpenBLAS threads and Dispatch work splitting. One setting.
public enum Threads {
    /// The setting, and how many kernels are inside `withSingleThreadedBLAS` right now.
    private struct State {
        var count: Int
        var singleThreadedRegions = 0
    }

    /// A pthread mutex (NSLock) rather than Synchronization's `Mutex`: ThreadSanitizer does not see
    /// the latter's futex-based locking on Linux and reported every access under it as a race,
    /// burying real findings in its run of the suite.
    private static let state: LockedState = {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        openblas_set_num_threads(Int32(cores))
        return LockedState(State(count: cores))
    }()

    private final class LockedState: @unchecked Sendable {  // `value` guarded by `lock`
        private let lock = NSLock()
        private var value: State

        init(_ value: State) {
            self.value = value
        }

        func withLock<R>(_ body: (inout State) -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return body(&value)
        }
    }

    /// Threads kernels use; defaults to all cores.
    public static var count: Int { state.withLock { $0.count } }

    /// Uses `n` threads (at least 1) for OpenBLAS and for kernels' own work splitting.
    public static func set(_ n: Int) {
        state.withLock {
            $0.count = max(1, n)
            if $0.singleThreadedRegions == 0 { openblas_set_num_threads(Int32($0.count)) }
        }
    }

    /// Makes sure OpenBLAS runs on `count` threads before a kernel's first sgemm (the setting is
    /// applied when first read).
    static func prepare() {
        _ = count
    }

    /// Runs `body` with OpenBLAS on one thread, so that the workers of a `parallelFor` can each call
    /// sgemm without oversubscribing the cores. Regions may overlap (from different callers); the
    /// setting comes back when the last one ends. Meanwhile any other sgemm also runs on one thread.
    static func withSingleThreadedBLAS<R>(_ body: () -> R) -> R {
        state.withLock {
            if $0.singleThreadedRegions == 0 && $0.count > 1 { openblas_set_num_threads(1) }
            $0.singleThreadedRegions += 1
        }
        defer {
            state.withLock {
                $0.singleThreadedRegions -= 1
                if $0.singleThreadedRegions == 0 && $0.count > 1 { openblas_set_num_threads(Int32($0.count)) }
            }
        }
        return body()
    }
}

/// Calls `body(i)` for `i` in `0..<iterations`, concurrently when `iterations > 1` and more than one
/// thread is set (DispatchQueue.concurrentPerform). `body` must only write memory its `i` owns.
func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    if iterations <= 1 || Threads.count == 1 {
        for i in 0..<iterations { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: iterations) { body($0) }
    }
}

/// Calls `body(range)` for contiguous slices of `0..<count`: one per thread when `count` is at least
/// `grain` items per thread, else a single call over everything.
func parallelChunks(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(Threads.count, count / max(1, grain)))
    if chunks == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    parallelFor(chunks) { c in body((c * count / chunks)..<((c + 1) * count / chunks)) }
}
