import Testing
@testable import Tensor

/// `ScratchPool` lends each caller a buffer nobody else holds, and keeps roles: nested borrows of
/// different sizes (a converted weight, then a kernel's working buffer inside it) get the same two
/// buffers every round, never growing one to the other's size.
@Suite struct ScratchPoolTests {
    @Test func nestedBorrowsKeepTheirBuffers() {
        let pool = ScratchPool()
        var seen: [(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)] = []
        for _ in 0..<3 {
            pool.withBuffer(count: 1000) { outer in
                outer.update(repeating: 1, count: 1000)
                pool.withBuffer(count: 100) { inner in
                    #expect(inner != outer)
                    inner.update(repeating: 2, count: 100)
                    #expect(outer[999] == 1)  // the inner buffer is not inside the outer one
                    seen.append((outer, inner))
                }
            }
        }
        #expect(seen.allSatisfy { $0.0 == seen[0].0 && $0.1 == seen[0].1 })
        #expect(pool.idleFloats == 1100)
    }

    @Test func aLargerRequestGrowsTheLargestIdleBuffer() {
        let pool = ScratchPool()
        pool.withBuffer(count: 10) { _ in pool.withBuffer(count: 50) { _ in } }
        #expect(pool.idleFloats == 60)
        pool.withBuffer(count: 200) { $0[199] = 3 }
        #expect(pool.idleFloats == 210)  // the 50 grew to 200; the 10 stayed
    }
}
