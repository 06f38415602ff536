import Testing
@testable import Tensor

/// Sums, channel bias, scaling.
@Suite struct ElementwiseTests {
    @Test func addMatchesReference() {
        var random = TestRandom(seed: 1)
        let a = random.tensor([3, 5, 7]), b = random.tensor([3, 5, 7])
        #expect(add(a, b).storage == addReference(a, b).storage)
        // Large enough to be split over threads.
        let c = random.tensor([1 << 18]), d = random.tensor([1 << 18])
        #expect(add(c, d).storage == addReference(c, d).storage)
    }

    @Test func channelBiasBroadcastsOverSpace() {
        var random = TestRandom(seed: 2)
        let x = random.tensor([2, 3, 4, 5]), bias = random.tensor([2, 3])
        #expect(addChannelBias(x, bias).storage == addChannelBiasReference(x, bias).storage)
        let y = addChannelBias(Tensor(zeros: [1, 2, 2, 2]), Tensor(shape: [1, 2], values: [1, -1]))
        #expect(y.storage == [1, 1, 1, 1, -1, -1, -1, -1])
    }

    @Test func scaledMultipliesEveryElement() {
        var random = TestRandom(seed: 3)
        let x = random.tensor([1 << 17])
        #expect(scaled(x, by: 0.18215).storage == x.storage.map { $0 * 0.18215 })
    }
}
