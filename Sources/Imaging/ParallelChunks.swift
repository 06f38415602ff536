import Dispatch
import Foundation

/// Runs work over `0..<count` as contiguous chunks on all cores (DispatchQueue.concurrentPerform).
enum ParallelChunks {
    /// Processors available to this process.
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// How many chunks to split `count` items into: two per core (so an uneven chunk can be balanced),
    /// fewer when chunks would be shorter than `minimumChunk`, at least one.
    static func chunkCount(count: Int, minimumChunk: Int) -> Int {
        max(1, min(cores * 2, count / max(1, minimumChunk)))
    }

    /// Calls `body(chunk, range)` for each of `chunks` contiguous slices of `0..<count`, concurrently.
    /// `body` must only write memory that belongs to its own range or chunk.
    static func run(count: Int, chunks: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
        if chunks <= 1 {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                body(c, (c * count / chunks)..<((c + 1) * count / chunks))
            }
        }
    }
}
