import Tensor

/// Deterministic random weights for any tensor name and shape, so full-size models can be built
/// and timed with no files. Each tensor's values come from a generator seeded by its name: the
/// same name always gives the same values. Matrices and kernels are uniform with variance
/// 1/fan-in (activations stay of order one); 1-D `weight`s (norm gains) are near 1; biases small.
public final class RandomWeights: WeightSource, @unchecked Sendable {
    private let seed: UInt64

    public init(seed: UInt64 = 0) {
        self.seed = seed
    }

    public var tensorNames: [String] { [] }
    public func info(_ name: String) -> TensorInfo? { nil }
    public var loadedTensorNames: Set<String> { [] }

    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        let count = shape.reduce(1, *)
        let fanIn = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : 1
        let (center, halfWidth): (Float, Float)
        if shape.count >= 2 {
            (center, halfWidth) = (0, (3 / Float(fanIn)).squareRoot())
        } else if name.hasSuffix("weight") {
            (center, halfWidth) = (1, 0.1)
        } else {
            (center, halfWidth) = (0, 0.02)
        }
        var values = [Float](repeating: 0, count: count)
        let base = Self.hash(name) ^ seed
        let chunk = 1 << 20
        let chunks = (count + chunk - 1) / chunk
        values.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer.baseAddress!
            parallelFor(chunks) { c in  // each chunk seeded by its index: the same values on any thread count
                var state = base &+ UInt64(c) &* 0x9E37_79B9_7F4A_7C15
                for i in (c * chunk)..<min(count, (c + 1) * chunk) {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    // PCG-XSH-RR output of the new state.
                    let xorshifted = UInt32(truncatingIfNeeded: ((state >> 18) ^ state) >> 27)
                    let rotation = UInt32(truncatingIfNeeded: state >> 59)
                    let bits = (xorshifted >> rotation) | (xorshifted << ((32 &- rotation) & 31))
                    let unit = Float(bits >> 8) * (1 / Float(1 << 24)) * 2 - 1  // uniform in [-1, 1)
                    out[i] = center + halfWidth * unit
                }
            }
        }
        return Tensor(shape: shape, values: values)
    }

    /// FNV-1a over the name's UTF-8 bytes.
    static func hash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            h = (h ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return h
    }
}
