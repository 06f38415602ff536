import CBLAS
@_exported import Parallel
import Foundation

/// OpenBLAS's own thread count, kept at `Threads.count` (module Parallel, the one setting) except
/// inside `withSingleThreadedBLAS`. Applied before each kernel's sgemm (`prepare`), so a
/// `Threads.set` takes effect at the next kernel.
enum BLASThreads {
    /// The count OpenBLAS was last given (nil before the first kernel) and how many kernels are
    /// inside `withSingleThreadedBLAS` right now.
    private struct State {
        var applied: Int?
        var singleThreadedRegions = 0
    }

    private static let state = Locked(State())

    /// Gives OpenBLAS `Threads.count` threads if it has another count (outside single-threaded
    /// regions); returns that count, the threads a kernel splits its own work over.
    @discardableResult
    static func prepare() -> Int {
        let count = Threads.count
        state.withLock {
            if $0.singleThreadedRegions == 0 && $0.applied != count {
                openblas_set_num_threads(Int32(count))
                $0.applied = count
            }
        }
        return count
    }

    /// Runs `body` with OpenBLAS on one thread, so that the workers of a `parallelFor` can each call
    /// sgemm without oversubscribing the cores. Regions may overlap (from different callers); the
    /// setting comes back when the last one ends. Meanwhile any other sgemm also runs on one thread.
    static func withSingleThreadedBLAS<R>(_ body: () -> R) -> R {
        state.withLock {
            if $0.singleThreadedRegions == 0 && $0.applied != 1 {
                openblas_set_num_threads(1)
                $0.applied = 1
            }
            $0.singleThreadedRegions += 1
        }
        defer {
            state.withLock { $0.singleThreadedRegions -= 1 }
            prepare()
        }
        return body()
    }
}
