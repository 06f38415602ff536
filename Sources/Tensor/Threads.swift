import CBLAS
@_exported import Parallel
import Foundation

/// OpenBLAS is kept on one thread: stipple splits every product over its own workers
/// (`parallelSgemm`, or whole tiles and blocks per worker in the convolutions and attention). Its
/// pool threads, once woken by a multi-threaded call, spin in `sched_yield` for a while after each
/// one, competing with the next kernel's workers (measured: 3.7 s of system time in three SD1.5
/// steps, 11% of sampling; docs/DECISIONS.md). With OpenBLAS single-threaded from the first kernel
/// on, they never wake.
enum BLASThreads {
    /// Runs once, on first use (a global's lazy initialisation is thread-safe).
    private static let pinned: Void = openblas_set_num_threads(1)

    /// Puts OpenBLAS on one thread (once); returns `Threads.count`, the threads a kernel splits its
    /// own work over.
    @discardableResult
    static func prepare() -> Int {
        _ = pinned
        return Threads.count
    }
}
