import Foundation
import Synchronization
import Testing
import Tensor

/// The one parallel-for (module Parallel, re-exported by Tensor) honours the thread setting.
@Suite(.serialized) struct ThreadsTests {
    /// Runs `body` with `Threads.count` set to `n`, then restores it.
    func withThreads(_ n: Int, _ body: () -> Void) {
        let previous = Threads.count
        Threads.set(n)
        defer { Threads.set(previous) }
        body()
    }

    @Test func oneThreadRunsEveryIterationInOrderOnTheCaller() {
        withThreads(1) {
            let caller = pthread_self()
            var visited: [Int] = []
            var others = 0
            parallelFor(50) { i in
                visited.append(i)
                if pthread_equal(pthread_self(), caller) == 0 { others += 1 }
            }
            #expect(visited == Array(0..<50) && others == 0)
            var ranges: [Range<Int>] = []
            parallelChunks(1000, chunks: 8) { _, range in ranges.append(range) }
            #expect(ranges.count == 8 && ranges.first?.lowerBound == 0 && ranges.last?.upperBound == 1000)
            #expect(parallelChunkCount(1_000_000, grain: 1) == 1)
        }
    }

    @Test func neverMoreWorkersThanThreadsAndEveryIterationOnce() {
        withThreads(3) {
            let active = Atomic<Int>(0), peak = Atomic<Int>(0)
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 40)
            counts.initialize(repeating: 0)
            defer { counts.deallocate() }
            nonisolated(unsafe) let slots = counts  // iteration i writes only slot i
            parallelFor(40) { i in
                let now = active.wrappingAdd(1, ordering: .relaxed).newValue
                _ = peak.max(now, ordering: .relaxed)
                usleep(1000)
                slots[i] += 1
                active.wrappingSubtract(1, ordering: .relaxed)
            }
            #expect(peak.load(ordering: .relaxed) <= 3)
            #expect(counts.allSatisfy { $0 == 1 })
            #expect(parallelChunkCount(1_000_000, grain: 1) == 3)
        }
    }
}
