import CKernels
import Testing
@testable import Tensor

/// Weights converted a block at a time (`WeightMatrix` with a small `blockFloats`) give what the
/// whole Float32 weight gives: 1x1 convolutions and linear layers in blocks of output rows, im2col
/// in passes over input channels that accumulate, Winograd filling U a block of outputs at a time. The
/// conversion here copies (exact), so a difference is the blocking itself: sgemm over a slice of
/// the rows, or a sum split into passes, rounds differently, within the kernels' usual 1e-5.
@Suite struct WeightMatrixTests {
    /// A converting matrix over `weight`'s values that records the largest block asked for.
    final class Converting: @unchecked Sendable {
        let values: [Float]
        let columns: Int
        var largest = 0

        init(_ weight: Tensor) {
            values = weight.storage
            columns = weight.count / max(1, weight.shape[0])
        }

        func matrix(rows: Int, blockFloats: Int) -> WeightMatrix {
            WeightMatrix(rows: rows, columns: columns, blockFloats: blockFloats) { block, part, out in
                self.largest = max(self.largest, block.count * part.count)
                for (r, row) in block.enumerated() {
                    for (j, column) in part.enumerated() { out[r * part.count + j] = self.values[row * self.columns + column] }
                }
            }
        }
    }

    /// (batch, in channels, size, out channels, kernel, stride, padding, block floats)
    @Test(arguments: [
        (2, 10, 6, 9, 1, 1, 0, 25),      // 1x1 in blocks of 2 output channels
        (1, 12, 9, 7, 3, 1, 1, 7 * 9 * 5),  // im2col: passes of 5 input channels (5, 5, 2)
        (2, 13, 7, 6, 3, 2, 1, 6 * 9),   // strided im2col, one channel a pass
        (2, 20, 26, 40, 3, 1, 1, 16 * 9 * 20),  // Winograd: one pass, its U filled 16 output channels at a time
    ])
    func convolutionInBlocksMatchesTheWholeWeight(shape: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        let (n, c, size, o, k, stride, padding, blockFloats) = shape
        var random = TestRandom(seed: 7 * c + o + blockFloats)
        let x = random.tensor([n, c, size, size]), weight = random.tensor([o, c, k, k], spread: 0.3)
        let bias = random.tensor([o]), residual = random.tensor([n, o, (size + 2 * padding - k) / stride + 1, (size + 2 * padding - k) / stride + 1])
        for (withBias, withResidual) in [(true, false), (false, true)] {
            let whole = conv2d(x, weight: weight, bias: withBias ? bias : nil, stride: stride, padding: padding,
                               columnBudget: convolutionColumnBudget, threads: 2, residual: withResidual ? residual : nil)
            let source = Converting(weight)
            let blocked = conv2d(x, weight: source.matrix(rows: o, blockFloats: blockFloats), weightShape: weight.shape,
                                 bias: withBias ? bias : nil, stride: stride, padding: padding,
                                 columnBudget: convolutionColumnBudget, threads: 2, residual: withResidual ? residual : nil)
            expectClose(blocked, whole)
            #expect(source.largest <= blockFloats, "a block of \(source.largest) floats for a budget of \(blockFloats)")
            #expect(source.largest < weight.count, "the weight was converted whole")
        }
    }

    @Test func linearInBlocksOfOutputFeatures() {
        var random = TestRandom(seed: 5)
        let x = random.tensor([3, 7, 24]), weight = random.tensor([50, 24]), bias = random.tensor([50])
        let whole = linear(x, weight: weight, bias: bias)
        let source = Converting(weight)
        let blocked = linear(x, weight: source.matrix(rows: 50, blockFloats: 24 * 16), bias: bias)
        expectClose(blocked, whole)
        #expect(source.largest == 24 * 16)
        expectClose(blocked, linearReference(x, weight: weight, bias: bias))
    }

    @Test func blocksInPlaceAreViews() {
        let values: [Float] = (0..<12).map(Float.init)
        values.withUnsafeBufferPointer { pointer in
            let matrix = WeightMatrix(pointer.baseAddress!, rows: 3, columns: 4)
            #expect(matrix.inPlace && matrix.rowsPerBlock == 3)
            matrix.withBlock(rows: 1..<3, columns: 2..<4) { block, stride in
                #expect(stride == 4)
                #expect([block[0], block[1], block[4], block[5]] == [6, 7, 10, 11])
            }
        }
    }
}
