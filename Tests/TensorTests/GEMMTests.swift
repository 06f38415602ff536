import Testing
@testable import Tensor

/// `matmul` and `linear` (OpenBLAS) against their reference twins on odd shapes.
@Suite struct GEMMTests {
    @Test(arguments: [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 128, 31)])
    func matchesReference(m: Int, k: Int, n: Int) {
        var random = TestRandom(seed: m * 1000 + k * 10 + n)
        let a = random.tensor([m, k]), b = random.tensor([k, n])
        let fast = matmul(a, b), slow = matmulReference(a, b)
        #expect(fast.shape == [m, n])
        let worst = zip(fast.storage, slow.storage).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * Float(k))
    }

    @Test(arguments: [([7, 13], 5, true), ([2, 9, 33], 17, false), ([1, 77, 64], 48, true), ([3, 1], 1, true)])
    func linearMatchesReference(inputShape: [Int], outFeatures: Int, hasBias: Bool) {
        var random = TestRandom(seed: inputShape.reduce(0, +) * 31 + outFeatures)
        let x = random.tensor(inputShape), weight = random.tensor([outFeatures, inputShape.last!])
        let bias = hasBias ? random.tensor([outFeatures]) : nil
        let fast = linear(x, weight: weight, bias: bias)
        #expect(fast.shape == Array(inputShape.dropLast()) + [outFeatures])
        expectClose(fast, linearReference(x, weight: weight, bias: bias))
    }
}
