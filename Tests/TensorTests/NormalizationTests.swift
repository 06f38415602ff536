import Testing
@testable import Tensor

/// `groupNorm` and `layerNorm` against their Double reference twins.
@Suite struct NormalizationTests {
    /// (shape, groups, fused SiLU, value offset)
    static let groupCases: [([Int], Int, Bool, Float)] = [
        ([2, 6, 5, 7], 3, false, 0),
        ([1, 32, 9, 9], 32, true, 0),     // one channel per group
        ([2, 64, 4, 4], 32, true, 0),
        ([1, 12, 33], 4, false, 0),       // rank 3: [N, C, L]
        ([2, 8, 3, 5], 1, false, 100),    // one group, values far from zero
        ([1, 20, 70, 70], 4, true, -3),   // groups larger than the reduction lanes
    ]

    @Test(arguments: groupCases)
    func groupNormMatchesReference(shape: [Int], groups: Int, silu: Bool, offset: Float) {
        var random = TestRandom(seed: shape.reduce(1, *) + groups)
        let x = random.tensor(shape, spread: 2, offset: offset)
        let weight = random.tensor([shape[1]]), bias = random.tensor([shape[1]])
        expectClose(groupNorm(x, groups: groups, weight: weight, bias: bias, eps: 1e-6, silu: silu),
                    groupNormReference(x, groups: groups, weight: weight, bias: bias, eps: 1e-6, silu: silu))
    }

    static let layerCases: [([Int], Float)] = [([3, 7, 33], 0), ([5, 768], 0), ([2, 77, 1280], 50), ([1, 1], 0)]

    @Test(arguments: layerCases)
    func layerNormMatchesReference(shape: [Int], offset: Float) {
        var random = TestRandom(seed: shape.reduce(1, *))
        let x = random.tensor(shape, spread: 3, offset: offset)
        let weight = random.tensor([shape.last!]), bias = random.tensor([shape.last!])
        expectClose(layerNorm(x, weight: weight, bias: bias, eps: 1e-5), layerNormReference(x, weight: weight, bias: bias, eps: 1e-5))
    }

    /// Normalised groups have zero mean and unit variance before the affine.
    @Test func groupNormStatistics() {
        var random = TestRandom(seed: 3)
        let x = random.tensor([1, 4, 6, 6], spread: 5, offset: 7)
        let y = groupNorm(x, groups: 2, weight: Tensor(shape: [4], repeating: 1), bias: Tensor(zeros: [4]), eps: 0)
        for g in 0..<2 {
            let values = y.storage[(g * 72)..<((g + 1) * 72)].map(Double.init)
            let mean = values.reduce(0, +) / 72
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 72
            #expect(abs(mean) < 1e-5)
            #expect(abs(variance - 1) < 1e-4)
        }
    }
}
