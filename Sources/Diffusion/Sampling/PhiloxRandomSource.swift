#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Parallel
import Tensor

/// The normal values of AUTOMATIC1111's Philox generator (`modules/rng_philox.py`, its "NV" source,
/// made to give what `torch.randn(shape, device="cuda")` gives after `torch.manual_seed(seed)`, the
/// noise of A1111's default "GPU" source on NVIDIA cards), call after call on one generator.
///
/// Each call draws every value from its own counter, Philox 4x32 with 10 rounds: counter
/// (call number, 0, value index, 0), key the seed's low and high 32 bits, the key bumped by
/// Weyl constants between rounds. The first two output words go through one Box-Muller transform
/// (the other two are unused), computed as A1111's numpy code does: the float32 constants 2^-32 and
/// 2^-32 · 2π widened to double with the words, log, square root and sine in double, then rounded
/// to float32. Equal bit for bit to that code on the fixture's seeds and shapes
/// (Tests/DiffusionTests/Fixtures/rng, `tools/make_philox_fixtures.py`).
public struct PhiloxRandomSource: RandomSource, Sendable {
    /// The seed (any 64-bit value; A1111's seeds are 32-bit).
    public let seed: UInt64
    /// Calls made so far: the next call's counter word 0.
    public private(set) var calls: UInt32 = 0

    /// A fresh generator, as A1111's `rng_philox.Generator(seed)`.
    public init(seed: UInt64) {
        self.seed = seed
    }

    /// The next call's values, as `Generator.randn(shape)`.
    public mutating func normal(shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        let (call, key) = (calls, (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
        calls &+= 1
        guard count > 0 else { return Tensor(shape: shape, values: []) }
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            nonisolated(unsafe) let out = buffer.baseAddress!
            parallelChunks(count, grain: 4096) { range in
                for index in range { out[index] = Self.value(call: call, index: UInt32(truncatingIfNeeded: index), key: key) }
            }
            initialized = count
        }
        return Tensor(shape: shape, values: values)
    }

    private static let philoxM: (UInt64, UInt64) = (0xD251_1F53, 0xCD9E_8D57)
    private static let philoxW: (UInt32, UInt32) = (0x9E37_79B9, 0xBB67_AE85)
    /// numpy's float32 arrays of 2^-32 and 2^-32 · 2π (each literal rounded to double first, as
    /// Python reads it), widened back to double as numpy promotes them against uint32 words.
    private static let scale: Double = { let literal: Double = 2.3283064e-10; return Double(Float(literal)) }()
    private static let angleScale: Double = { let literal: Double = 2.3283064e-10 * 6.2831855; return Double(Float(literal)) }()

    /// The value at `index` of call `call`.
    static func value(call: UInt32, index: UInt32, key: (UInt32, UInt32)) -> Float {
        var (c0, c1, c2, c3) = (call, UInt32(0), index, UInt32(0))
        var (k0, k1) = key
        for round in 0..<10 {
            let p0 = UInt64(c0) &* philoxM.0, p2 = UInt64(c2) &* philoxM.1
            (c0, c1, c2, c3) = (UInt32(truncatingIfNeeded: p2 >> 32) ^ c1 ^ k0, UInt32(truncatingIfNeeded: p2),
                                UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1, UInt32(truncatingIfNeeded: p0))
            if round < 9 { (k0, k1) = (k0 &+ philoxW.0, k1 &+ philoxW.1) }
        }
        let u = Double(c0) * scale + scale / 2
        let v = Double(c1) * angleScale + angleScale / 2
        return Float((-2 * log(u)).squareRoot() * sin(v))
    }
}

/// Where a generation's noise comes from (`--rng`, infotext `RNG`).
public enum NoiseSource: String, Sendable, CaseIterable {
    /// torch's CPU generator (`TorchRandomSource`): diffusers', ComfyUI's and stable-diffusion.cpp's
    /// "cpu" noise, and A1111's "CPU" source.
    case cpu
    /// A1111's Philox generator (`PhiloxRandomSource`): its "NV" source, equal to the noise of its
    /// default "GPU" source on NVIDIA cards.
    case gpu
}

/// One image's noise stream from either source, as A1111's `ImageRNG` draws it: the image's starting
/// noise (`startNoise`, txt2img's start or the noise img2img adds) is blended towards the variation
/// seed's first draw when there is one; after it, with a seed delta (A1111's ENSD; 0 for ComfyUI),
/// the stream starts again from seed + delta for the ancestral steps. Other draws (img2img's VAE sampling before it, the
/// steps after) are plain `normal` calls on the stream.
struct NoiseStream: RandomSource {
    private enum Generator {
        case torch(TorchRandomSource)
        case philox(PhiloxRandomSource)

        init(_ source: NoiseSource, seed: UInt64) {
            switch source {
            case .cpu: self = .torch(TorchRandomSource(seed: seed))
            case .gpu: self = .philox(PhiloxRandomSource(seed: seed))
            }
        }

        mutating func normal(shape: [Int]) -> Tensor {
            switch self {
            case .torch(var torch):
                defer { self = .torch(torch) }
                return torch.normal(shape: shape)
            case .philox(var philox):
                defer { self = .philox(philox) }
                return philox.normal(shape: shape)
            }
        }
    }

    private var generator: Generator
    private let source: NoiseSource
    private let seed: UInt64
    private let seedDelta: UInt64?
    private let variation: (seed: UInt64, strength: Double)?

    init(_ source: NoiseSource, seed: UInt64, seedDelta: UInt64? = nil, variation: (seed: UInt64, strength: Double)? = nil) {
        generator = Generator(source, seed: seed)
        (self.source, self.seed, self.seedDelta, self.variation) = (source, seed, seedDelta, variation)
    }

    mutating func normal(shape: [Int]) -> Tensor {
        generator.normal(shape: shape)
    }

    /// The image's starting noise: the next draw, blended towards the variation seed's, then the
    /// stream moved to seed + delta when there is a delta. Called once per image.
    mutating func startNoise(shape: [Int]) -> Tensor {
        var noise = generator.normal(shape: shape)
        if let variation, variation.strength != 0 {
            var other = Generator(source, seed: variation.seed)
            noise = Self.slerp(variation.strength, noise, other.normal(shape: shape))
        }
        if let seedDelta { generator = Generator(source, seed: seed &+ seedDelta) }
        return noise
    }

    /// A1111's `slerp(val, low, high)` on one image's noise `[1, C, H, W]` taken as its `(C, H, W)`:
    /// norms and dot products run over dimension 1 (the rows, H), one angle per channel and column;
    /// where the mean of the cosines exceeds 0.9995 it returns `low * val + high * (1 - val)` as A1111
    /// does. Computed in double, rounded to float32 once.
    static func slerp(_ val: Double, _ low: Tensor, _ high: Tensor) -> Tensor {
        let shape = low.shape
        let (rows, columns) = (shape.count >= 2 ? shape[shape.count - 2] : 1, shape.last ?? 1)
        let planes = low.count / max(rows * columns, 1)
        guard planes * rows * columns == low.count, low.count == high.count, low.count > 0 else { return low }
        let (a, b) = (low.storage, high.storage)
        var dots = [Double](repeating: 0, count: planes * columns)
        var normsA = dots, normsB = dots
        for p in 0..<planes {
            for r in 0..<rows {
                for c in 0..<columns {
                    let i = (p * rows + r) * columns + c
                    let (x, y) = (Double(a[i]), Double(b[i]))
                    normsA[p * columns + c] += x * x
                    normsB[p * columns + c] += y * y
                    dots[p * columns + c] += x * y
                }
            }
        }
        for k in dots.indices {
            let norms = normsA[k].squareRoot() * normsB[k].squareRoot()
            dots[k] = norms > 0 ? dots[k] / norms : 1
        }
        var values = [Float](repeating: 0, count: low.count)
        if dots.reduce(0, +) / Double(dots.count) > 0.9995 {
            for i in values.indices { values[i] = Float(Double(a[i]) * val + Double(b[i]) * (1 - val)) }
            return Tensor(shape: shape, values: values)
        }
        for p in 0..<planes {
            for c in 0..<columns {
                let omega = acos(min(max(dots[p * columns + c], -1), 1))
                let so = sin(omega)
                let (wa, wb) = so > 0 ? (sin((1 - val) * omega) / so, sin(val * omega) / so) : (1 - val, val)
                for r in 0..<rows {
                    let i = (p * rows + r) * columns + c
                    values[i] = Float(wa * Double(a[i]) + wb * Double(b[i]))
                }
            }
        }
        return Tensor(shape: shape, values: values)
    }
}
