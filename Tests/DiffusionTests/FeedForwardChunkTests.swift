import Testing
@testable import Diffusion
import Tensor

/// The transformer block's feed-forward in passes of rows (what keeps 2048x2048 within memory)
/// gives the one-pass result: rows never mix, only sgemm's rounding of smaller products may differ.
@Suite struct FeedForwardChunkTests {
    @Test(arguments: [1, 7, 64])
    func passesGiveTheOnePassResult(rowsPerPass: Int) throws {
        let dim = 16
        let block = try BasicTransformerBlock(RandomWeights(seed: 3), "block", dimension: dim, heads: 2, headDim: 8,
                                              contextDim: 12, onlyCrossAttention: false)
        let x = Tensor(shape: [2, 45, dim], values: (0..<(2 * 45 * dim)).map { Float(($0 * 37) % 101) / 50 - 1 })
        let whole = block.feedForward(x)
        let passes = block.feedForward(x, floats: rowsPerPass * 8 * dim)
        #expect(passes.shape == whole.shape)
        let worst = zip(passes.storage, whole.storage).map { abs($0 - $1) }.max() ?? 0
        let scale = whole.storage.map(abs).max() ?? 0
        #expect(scale > 0 && worst <= 1e-6 * scale, "largest difference \(worst) of \(scale)")
    }
}
