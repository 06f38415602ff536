import Testing
@testable import Tensor

/// Resampling, concatenation, splitting and layout changes.
@Suite struct LayoutTests {
    @Test func upsampleMatchesReference() {
        var random = TestRandom(seed: 1)
        let x = random.tensor([2, 3, 5, 7])
        let y = upsampleNearest2x(x)
        #expect(y.shape == [2, 3, 10, 14])
        #expect(y.storage == upsampleNearest2xReference(x).storage)
    }

    /// Arbitrary target sizes, as when a UNet level had an odd side: 3 -> 5, 5 -> 10, 4 -> 7.
    @Test(arguments: [(3, 3, 5, 5), (5, 4, 10, 7), (2, 3, 4, 6), (7, 5, 3, 2)])
    func upsampleToAnySizeMatchesReference(h: Int, w: Int, height: Int, width: Int) {
        var random = TestRandom(seed: 2)
        let x = random.tensor([2, 3, h, w])
        let y = upsampleNearest(x, height: height, width: width)
        #expect(y.shape == [2, 3, height, width])
        #expect(y.storage == upsampleNearestReference(x, height: height, width: width).storage)
    }

    @Test func concatChannelsInterleavesPerImage() {
        let a = Tensor(shape: [2, 1, 1, 2], values: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 2, 1, 2], values: [5, 6, 7, 8, 9, 10, 11, 12])
        let y = concatChannels(a, b)
        #expect(y.shape == [2, 3, 1, 2])
        #expect(y.storage == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
        #expect(splitChannels(concatChannels(b, b), parts: 2).map(\.storage) == [b.storage, b.storage])
    }

    @Test func concatAndSplitBatch() {
        var random = TestRandom(seed: 2)
        let a = random.tensor([1, 3, 2]), b = random.tensor([2, 3, 2])
        let y = concatBatch(a, b)
        #expect(y.shape == [3, 3, 2])
        #expect(y.storage == a.storage + b.storage)
        #expect(sliceBatch(y, 1..<3).storage == b.storage)
        let halves = splitBatch(concatBatch(b, b), parts: 2)
        #expect(halves.map(\.shape) == [[2, 3, 2], [2, 3, 2]])
        #expect(halves[1].storage == b.storage)
    }

    @Test func splitAndConcatLastDimension() {
        let x = Tensor(shape: [2, 6], values: (0..<12).map(Float.init))
        let parts = splitLastDimension(x, parts: 3)
        #expect(parts.map(\.shape) == [[2, 2], [2, 2], [2, 2]])
        #expect(parts[1].storage == [2, 3, 8, 9])
        #expect(concatLastDimension(concatLastDimension(parts[0], parts[1]), parts[2]).storage == x.storage)
    }

    @Test(arguments: [(1, 3, 4, 5), (2, 40, 33, 35), (1, 320, 8, 8)])
    func tokensRoundTrip(n: Int, c: Int, h: Int, w: Int) {
        var random = TestRandom(seed: n * c * h * w)
        let x = random.tensor([n, c, h, w])
        let tokens = nchwToTokens(x)
        #expect(tokens.shape == [n, h * w, c])
        #expect(tokens.storage == nchwToTokensReference(x).storage)
        let back = tokensToNCHW(tokens, height: h, width: w)
        #expect(back.shape == x.shape)
        #expect(back.storage == x.storage)
    }

    @Test func padTwoDimensions() {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        let y = pad2d(x, top: 0, bottom: 1, left: 0, right: 1)
        #expect(y.shape == [1, 1, 3, 3])
        #expect(y.storage == [1, 2, 0, 3, 4, 0, 0, 0, 0])
    }

    @Test func reshapedInfersOneExtent() {
        let x = Tensor(shape: [2, 3, 4], repeating: 1)
        #expect(x.reshaped([6, -1]).shape == [6, 4])
        #expect(x.reshaped([24]).storage == x.storage)
    }
}
