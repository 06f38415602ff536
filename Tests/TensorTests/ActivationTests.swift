import Foundation
import Testing
@testable import Tensor

/// Vectorised activations and softmax against libm in Double.
@Suite struct ActivationTests {
    /// Values from -30 to 30, including both tails and a dense middle.
    static let inputs: Tensor = {
        var values = (0...6000).map { Float($0 - 3000) / 100 }
        values += [-88, -87.5, -50, -1e-6, 0, 1e-6, 50, 87.5, 88]
        return Tensor(shape: [values.count], values: values)
    }()

    /// |fast - reference| ≤ tolerance · max(1, |reference|) elementwise.
    func expectElementwise(_ fast: Tensor, _ reference: Tensor, tolerance: Float, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(fast.shape == reference.shape, sourceLocation: sourceLocation)
        let worst = zip(fast.storage, reference.storage).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst <= tolerance, "worst \(worst)", sourceLocation: sourceLocation)
    }

    @Test func siluMatchesReference() { expectElementwise(silu(Self.inputs), siluReference(Self.inputs), tolerance: 1e-6) }
    @Test func geluMatchesReference() { expectElementwise(gelu(Self.inputs), geluReference(Self.inputs), tolerance: 1e-6) }
    @Test func geluTanhMatchesReference() { expectElementwise(geluTanh(Self.inputs), geluTanhReference(Self.inputs), tolerance: 1e-6) }
    @Test func quickGELUMatchesReference() { expectElementwise(quickGELU(Self.inputs), quickGELUReference(Self.inputs), tolerance: 1e-6) }
    @Test func reluAndSoftClampMatchReference() {
        expectElementwise(relu(Self.inputs), mapReference(Self.inputs) { max($0, 0) }, tolerance: 0)
        expectElementwise(softClamp3(Self.inputs), mapReference(Self.inputs) { Foundation.tanh($0 / 3) * 3 }, tolerance: 1e-6)
        #expect(relu(Tensor(shape: [1], values: [.nan])).storage[0].isNaN)  // as PyTorch: NaN is not hidden
    }

    /// In the negative tail GELU is tiny; it must stay accurate relative to itself, not only to 1.
    @Test func geluNegativeTailIsRelativelyAccurate() {
        let x = Tensor(shape: [6], values: [-1, -2, -3, -4, -5, -6])
        for (fast, reference) in zip(gelu(x).storage, geluReference(x).storage) {
            #expect(abs(fast - reference) <= 1e-5 * abs(reference))
        }
    }

    @Test func fastExpMatchesLibm() {
        var worst: Double = 0
        for i in -8700...8800 {
            let x = Float(i) / 100
            worst = max(worst, abs(Double(fastExp(x)) - Foundation.exp(Double(x))) / Foundation.exp(Double(x)))
        }
        #expect(worst < 5e-7)
    }

    @Test(arguments: [[4, 1], [3, 17], [2, 5, 77], [1, 4096]])
    func softmaxMatchesReference(shape: [Int]) {
        var random = TestRandom(seed: shape.reduce(1, *))
        let x = random.tensor(shape, spread: 20)
        expectClose(softmaxLastDimension(x), softmaxLastDimensionReference(x), tolerance: 2e-6)
    }

    @Test func softmaxRowsSumToOne() {
        var random = TestRandom(seed: 8)
        let y = softmaxLastDimension(random.tensor([3, 1000], spread: 50))
        for r in 0..<3 { #expect(abs(y.storage[(r * 1000)..<((r + 1) * 1000)].reduce(0, +) - 1) < 1e-5) }
    }

    @Test(arguments: [[2, 10], [3, 7, 64], [1, 2]])
    func gegluMatchesReference(shape: [Int]) {
        var random = TestRandom(seed: shape.reduce(1, *))
        let x = random.tensor(shape, spread: 4)
        let fast = geglu(x)
        #expect(fast.shape == Array(shape.dropLast()) + [shape.last! / 2])
        expectClose(fast, gegluReference(x))
    }

    /// geglu takes the first half as the hidden state and the second half as the gate.
    @Test func gegluHalves() {
        let y = geglu(Tensor(shape: [1, 4], values: [2, 3, 1, -1]))
        let gelu1 = Float(geluReference(1)), geluMinus1 = Float(geluReference(-1))
        #expect(abs(y.storage[0] - 2 * gelu1) < 1e-6)
        #expect(abs(y.storage[1] - 3 * geluMinus1) < 1e-6)
    }
}
