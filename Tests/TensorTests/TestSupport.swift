import Testing
@testable import Tensor

/// Deterministic pseudo-random values for tests (a 64-bit LCG), uniform in [-1, 1].
struct TestRandom {
    private var state: UInt64

    init(seed: Int) { state = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: seed &+ 1) }

    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
    }

    /// A tensor of `shape` with values in [offset - spread, offset + spread].
    mutating func tensor(_ shape: [Int], spread: Float = 1, offset: Float = 0) -> Tensor {
        Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in offset + spread * next() })
    }
}

/// The largest |a - b| over two tensors, relative to the largest |b| (at least `floor`).
func relativeError(_ a: Tensor, _ b: Tensor, floor: Float = 1e-3) -> Float {
    let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
    let scale = max(floor, b.storage.map(abs).max() ?? 0)
    return worst / scale
}

/// Expects equal shapes and values equal to within `tolerance` of the reference's magnitude.
func expectClose(_ fast: Tensor, _ reference: Tensor, tolerance: Float = 1e-5, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(fast.shape == reference.shape, sourceLocation: sourceLocation)
    guard fast.shape == reference.shape else { return }
    let error = relativeError(fast, reference)
    #expect(error <= tolerance, "relative error \(error)", sourceLocation: sourceLocation)
}
