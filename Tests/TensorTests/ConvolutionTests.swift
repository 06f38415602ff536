import CKernels
import Testing
@testable import Tensor

/// `conv2d` (im2col tiles + sgemm, 1x1 straight to sgemm) against the direct loops.
@Suite struct ConvolutionTests {
    /// (batch, in channels, height, width, out channels, kernel, stride, padding)
    static let cases: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
        (1, 3, 5, 7, 4, 1, 1, 0),     // 1x1, straight to sgemm
        (2, 10, 6, 5, 9, 1, 1, 0),    // 1x1, batch of 2
        (3, 2, 7, 5, 2, 1, 2, 0),     // 1x1 with stride 2 goes through im2col
        (2, 5, 9, 6, 7, 3, 1, 1),     // 3x3 same padding, odd sizes
        (1, 9, 13, 11, 8, 3, 1, 1),   // C not a multiple of 8
        (1, 4, 9, 9, 3, 3, 2, 1),     // stride 2 with padding
        (2, 3, 8, 7, 5, 3, 2, 0),     // stride 2, no padding, odd width
        (1, 6, 3, 3, 2, 3, 1, 0),     // output 1x1
        (1, 3, 6, 6, 2, 5, 1, 2),     // 5x5
        (1, 2, 4, 4, 3, 3, 1, 3),     // padding wider than the kernel reach
    ]

    @Test(arguments: cases)
    func matchesReference(shape: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (n, c, h, w, o, k, stride, padding) = shape
        var random = TestRandom(seed: n + 10 * c + 100 * h + 1000 * w + 7 * o + 13 * k + stride + padding)
        let x = random.tensor([n, c, h, w]), weight = random.tensor([o, c, k, k]), bias = random.tensor([o])
        let reference = conv2dReference(x, weight: weight, bias: bias, stride: stride, padding: padding)
        expectClose(conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding), reference)
        expectClose(conv2d(x, weight: weight, bias: nil, stride: stride, padding: padding),
                    conv2dReference(x, weight: weight, bias: nil, stride: stride, padding: padding))
        // A column budget below one output row: every row is its own tile, handed to two or three
        // workers, or run in turn on one thread.
        for threads in [1, 2, 3] {
            expectClose(conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, columnBudget: 1, threads: threads), reference)
        }
    }

    @Test func largerChannelCounts() {
        var random = TestRandom(seed: 99)
        let x = random.tensor([2, 40, 12, 10]), weight = random.tensor([24, 40, 3, 3]), bias = random.tensor([24])
        let reference = conv2dReference(x, weight: weight, bias: bias, stride: 1, padding: 1)
        expectClose(conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1), reference)
        // Budgets of three and five rows: 12 rows in 4 tiles of 3, and in 3 tiles of 4 per image.
        expectClose(conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1, columnBudget: 40 * 9 * 10 * 3, threads: 2), reference)
        expectClose(conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1, columnBudget: 40 * 9 * 10 * 5, threads: 2), reference)
    }

    /// `residual` gives exactly `add(residual, conv2d(...))`, bit for bit, on each path: 1x1 sgemm,
    /// im2col, and Winograd (added in its output transform) at every instruction-set level.
    @Test(arguments: [(2, 8, 9, 7, 6, 1), (1, 5, 9, 6, 7, 3), (2, 20, 26, 18, 16, 3)])
    func residualIsTheSameAsAddingAfterwards(shape: (Int, Int, Int, Int, Int, Int)) {
        let (n, c, h, w, o, k) = shape
        var random = TestRandom(seed: 31 * c + o)
        let x = random.tensor([n, c, h, w]), weight = random.tensor([o, c, k, k], spread: 0.3), bias = random.tensor([o])
        let p = k / 2
        let residual = random.tensor([n, o, h, w], spread: 4)
        for level in WinogradTests.levels {
            let plain = conv2d(x, weight: weight, bias: bias, stride: 1, padding: p, columnBudget: convolutionColumnBudget,
                               threads: 2, isa: level)
            let fused = conv2d(x, weight: weight, bias: bias, stride: 1, padding: p, columnBudget: convolutionColumnBudget,
                               threads: 2, isa: level, residual: residual)
            #expect(fused.storage == add(residual, plain).storage)
        }
    }

    @Test func outputShape() {
        let x = Tensor(zeros: [2, 3, 17, 16])
        #expect(conv2d(x, weight: Tensor(zeros: [5, 3, 3, 3]), bias: nil, stride: 2, padding: 1).shape == [2, 5, 9, 8])
        #expect(conv2d(x, weight: Tensor(zeros: [4, 3, 1, 1]), bias: nil).shape == [2, 4, 17, 16])
    }
}
