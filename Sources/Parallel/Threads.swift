import Dispatch
import Foundation
import Synchronization

/// The thread setting (`--threads`) and the one parallel-for everything uses: the tensor kernels,
/// image resizing, checkpoint conversion and the benchmark's random weights. A module of its own,
/// with no dependencies, so that Imaging can use it without OpenBLAS; Tensor re-exports it and keeps
/// OpenBLAS itself on one thread, splitting products over these workers instead (see
/// docs/DECISIONS.md, "One parallel-for" and "OpenBLAS on one thread").
public enum Threads {
    private static let setting = Locked(max(1, ProcessInfo.processInfo.activeProcessorCount))

    /// Threads work is split over; defaults to all cores.
    public static var count: Int { setting.withLock { $0 } }

    /// Uses `n` threads (at least 1) from now on, for every `parallelFor` and `parallelChunks` (and
    /// so for every kernel).
    public static func set(_ n: Int) {
        setting.withLock { $0 = max(1, n) }
    }
}

/// Calls `body(i)` for every `i` in `0..<iterations`, on at most `Threads.count` threads at once:
/// in order on the calling thread when that is one or there is one iteration, else on
/// `min(iterations, Threads.count)` workers (DispatchQueue.concurrentPerform) that take the next
/// iteration as they finish one. `body` must only write memory its `i` owns.
public func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    let workers = min(iterations, Threads.count)
    if workers <= 1 {
        for i in 0..<max(0, iterations) { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        if workers == iterations {
            DispatchQueue.concurrentPerform(iterations: iterations) { body($0) }
            return
        }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= iterations { break }
                body(i)
            }
        }
    }
}

/// How many chunks to split `count` items into: one per thread, fewer when chunks would hold
/// fewer than `grain` items, at least one.
public func parallelChunkCount(_ count: Int, grain: Int) -> Int {
    max(1, min(Threads.count, count / max(1, grain)))
}

/// Calls `body(chunk, range)` for each of `chunks` contiguous slices of `0..<count` (all of them,
/// empty ones too; one call over everything when `chunks` is at most one), concurrently through
/// `parallelFor`. `body` must only write memory that belongs to its own range or chunk.
public func parallelChunks(_ count: Int, chunks: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
    if chunks <= 1 {
        body(0, 0..<count)
        return
    }
    parallelFor(chunks) { c in body(c, (c * count / chunks)..<((c + 1) * count / chunks)) }
}

/// Calls `body(range)` for contiguous slices of `0..<count`: one per thread when `count` is at least
/// `grain` items per thread, fewer (down to a single call over everything) for less work; no call
/// when `count` is zero.
public func parallelChunks(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    parallelChunks(count, chunks: parallelChunkCount(count, grain: grain)) { _, range in body(range) }
}
