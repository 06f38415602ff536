import Testing
@testable import Tensor

/// `matmul` (OpenBLAS) against its reference twin on odd shapes.
@Suite struct GEMMTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 128, 31)])
    func matchesReference(m: Int, k: Int, n: Int) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(m * 1000 + k * 10 + n)
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let a = Tensor(shape: [m, k], values: (0..<(m * k)).map { _ in next() })
        let b = Tensor(shape: [k, n], values: (0..<(k * n)).map { _ in next() })
        let fast = matmul(a, b), slow = matmulReference(a, b)
        #expect(fast.shape == [m, n])
        let worst = zip(fast.storage, slow.storage).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * Float(k))
    }
}
