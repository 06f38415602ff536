#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Tensor

/// The normal values of `torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))`
/// in float32, call after call on the same generator: what diffusers draws on CPU and what
/// ComfyUI and stable-diffusion.cpp call "cpu" noise.
///
/// Matches torch 2.x (checked against 2.15, see Tests/DiffusionTests/Fixtures/rng/README.md):
/// - `manual_seed(seed)` seeds MT19937 with the seed's low 32 bits, so seeds that differ by a
///   multiple of 2^32 give the same stream (torch accepts 0 ..< 2^64; a negative seed is taken
///   as its two's complement, -1 as 2^64 - 1: pass `UInt64(bitPattern:)` of it).
/// - A draw of n >= 16 values fills n float uniforms (a 32-bit word's low 24 bits times 2^-24),
///   applies Box-Muller to each block of 16 pairing j with j + 8, and when n % 16 != 0 redoes
///   the last 16 from 16 fresh uniforms. The log, sin and cos are the single-precision Cephes
///   polynomials of torch's AVX2 kernel (`avx_mathfun.h`, used on AVX2 and AVX-512 machines),
///   with the fused multiply-adds its compiler forms, so values match bit for bit there.
///   (Torch built without AVX2 uses libm instead and differs by a few ulps.)
/// - A draw of n < 16 values uses torch's double-precision `normal_distribution`: two 53-bit
///   uniforms from two words each, r = sqrt(-2 log1p(-u2)), θ = 2π u1, returns r cos θ and keeps
///   r sin θ on the generator for the next scalar value, even across larger draws.
public struct TorchRandomSource: RandomSource, Sendable {
    /// The seed as given to `manual_seed`.
    public let seed: UInt64
    private var engine: MersenneTwister
    /// The second value of the last scalar Box-Muller pair, not yet returned.
    private var cachedNormal: Double?

    /// A fresh generator, as `torch.Generator("cpu").manual_seed(seed)`.
    public init(seed: UInt64) {
        self.seed = seed
        self.engine = MersenneTwister(seed: UInt32(truncatingIfNeeded: seed))
    }

    /// The next values of the stream, as `torch.randn(shape, generator=generator)`.
    public mutating func normal(shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        precondition(count >= 0, "negative extent in shape \(shape)")
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { values in
            if count >= 16 {
                fillBlocks(values)
            } else {
                for i in 0..<count { values[i] = Float(nextScalarNormal()) }
            }
        }
        return Tensor(shape: shape, values: values)
    }

    /// torch's `normal_fill` for float: uniforms, then Box-Muller in blocks of 16.
    private mutating func fillBlocks(_ values: UnsafeMutableBufferPointer<Float>) {
        let count = values.count
        fillUniforms(values)
        for start in stride(from: 0, to: count - 15, by: 16) {
            boxMuller16(values.baseAddress! + start)
        }
        if count % 16 != 0 {
            let tail = UnsafeMutableBufferPointer(rebasing: values[(count - 16)...])
            fillUniforms(tail)
            boxMuller16(tail.baseAddress!)
        }
    }

    /// torch's `uniform_real_distribution<float>(0, 1)`: low 24 bits of a word times 2^-24.
    private mutating func fillUniforms(_ values: UnsafeMutableBufferPointer<Float>) {
        values.withMemoryRebound(to: UInt32.self) { words in
            engine.fill(words)
            for i in words.indices {
                words[i] = Float(words[i] & 0xFF_FFFF).bitPattern
            }
        }
        for i in values.indices {
            values[i] *= 0x1p-24
        }
    }

    /// torch's `normal_distribution<double>` on the CPU generator, with its cached second value.
    private mutating func nextScalarNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextUniform53()
        let u2 = nextUniform53()
        let r = (-2 * log1p(-u2)).squareRoot()
        let theta = 2 * Double.pi * u1
        cachedNormal = r * sin(theta)
        return r * cos(theta)
    }

    /// torch's `uniform_real_distribution<double>(0, 1)`: the low 53 bits of (first word << 32 |
    /// second word), times 2^-53.
    private mutating func nextUniform53() -> Double {
        let high = UInt64(engine.next())
        let low = UInt64(engine.next())
        return Double((high << 32 | low) & (1 << 53 - 1)) * 0x1p-53
    }
}

/// Box-Muller on 16 uniforms in place, as torch's AVX2 `normal_fill_16`: for j in 0..<8,
/// u1 = 1 - x[j], u2 = x[j + 8], r = sqrt(-2 log u1), θ = 2π u2, x[j] = r cos θ, x[j + 8] = r sin θ.
/// The lanes are computed with fused multiply-adds emulated in Double (the baseline x86-64 target
/// has no FMA instruction, and a libm `fmaf` call per operation is slow); the rare block where
/// that emulation may round differently is recomputed with `addingProduct`.
@inline(__always)
private func boxMuller16(_ x: UnsafeMutablePointer<Float>) {
    var result = SIMD16<Float>()
    var tie = false
    for j in 0..<8 {
        let (a, b) = boxMullerLane(x[j], x[j + 8], exact: false, tie: &tie)
        result[j] = a
        result[j + 8] = b
    }
    if tie {
        for j in 0..<8 {
            let (a, b) = boxMullerLane(x[j], x[j + 8], exact: true, tie: &tie)
            result[j] = a
            result[j + 8] = b
        }
    }
    for j in 0..<16 { x[j] = result[j] }
}

/// One Box-Muller pair: (r cos θ, r sin θ) from the uniforms of lanes j and j + 8.
@inline(__always)
private func boxMullerLane(_ first: Float, _ second: Float, exact: Bool, tie: inout Bool) -> (Float, Float) {
    let u1 = 1 - first  // in [2^-24, 1]: never 0, so the log is finite
    let radius = (-2 * cephesLog(u1, exact: exact, tie: &tie)).squareRoot()
    let theta = Float(2 * Double.pi) * second
    let (sine, cosine) = cephesSinCos(theta, exact: exact, tie: &tie)
    return (radius * cosine, radius * sine)
}

/// a * b + c rounded once: with `exact`, `addingProduct`; otherwise in Double, where a * b is exact
/// and only the sum rounds. Rounding that to Float can differ from rounding once only when the
/// sum was inexact and landed exactly on a midpoint between two Floats (or when it is tiny):
/// `tie` is then set.
@inline(__always)
private func fused(_ a: Float, _ b: Float, _ c: Float, exact: Bool, tie: inout Bool) -> Float {
    if exact { return c.addingProduct(a, b) }
    let product = Double(a) * Double(b)
    let addend = Double(c)
    let sum = product + addend
    let bits = sum.bitPattern
    let addendPart = sum - product  // Knuth's TwoSum: error is the rounding error of sum, exactly
    let error = (product - (sum - addendPart)) + (addend - addendPart)
    let midpoint = bits & 0x1FFF_FFFF == 0x1000_0000 && error != 0
    let tiny = bits & 0x7FF0_0000_0000_0000 < 0x3820_0000_0000_0000 && sum != 0  // below 2^-125
    tie = tie || midpoint || tiny
    return Float(sum)
}

/// Natural log of a positive normal float by Cephes' `logf` polynomial, in the operation order of
/// `log256_ps` (x = m 2^e with m in [√½, √2), log x = log m + e log 2 with log 2 split in two).
@inline(__always)
private func cephesLog(_ value: Float, exact: Bool, tie: inout Bool) -> Float {
    let bits = value.bitPattern
    var e = Float(Int32(bitPattern: bits >> 23) - 127) + 1
    var x = Float(bitPattern: (bits & 0x807F_FFFF) | (0.5 as Float).bitPattern)  // in [0.5, 1)
    let below = x < 0.707106781186547524
    let shift = below ? x : 0
    x -= 1
    e -= below ? 1 : 0
    x += shift
    let z = x * x
    var y: Float = 7.0376836292e-2
    y = fused(y, x, -1.1514610310e-1, exact: exact, tie: &tie)
    y = fused(y, x, 1.1676998740e-1, exact: exact, tie: &tie)
    y = fused(y, x, -1.2420140846e-1, exact: exact, tie: &tie)
    y = fused(y, x, 1.4249322787e-1, exact: exact, tie: &tie)
    y = fused(y, x, -1.6668057665e-1, exact: exact, tie: &tie)
    y = fused(y, x, 2.0000714765e-1, exact: exact, tie: &tie)
    y = fused(y, x, -2.4999993993e-1, exact: exact, tie: &tie)
    y = fused(y, x, 3.3333331174e-1, exact: exact, tie: &tie)
    y *= x
    y = fused(y, z, e * -2.12194440e-4, exact: exact, tie: &tie)
    y -= z * 0.5  // exact product: the fused and unfused forms agree
    x += y
    return fused(e, 0.693359375, x, exact: exact, tie: &tie)
}

/// Sine and cosine of θ in [0, 2π) by Cephes' `sinf`/`cosf` polynomials, in the operation order
/// of `sincos256_ps`: reduce by the octant j of θ (π/4 split in three parts), then pick and sign
/// the sine and cosine polynomials by j.
@inline(__always)
private func cephesSinCos(_ theta: Float, exact: Bool, tie: inout Bool) -> (sin: Float, cos: Float) {
    var j = Int32(theta * 1.27323954473516)  // 4/π
    j = (j + 1) & ~1
    let y = Float(j)
    var x = fused(y, -0.78515625, theta, exact: exact, tie: &tie)
    x = fused(y, -2.4187564849853515625e-4, x, exact: exact, tie: &tie)
    x = fused(y, -3.77489497744594108e-8, x, exact: exact, tie: &tie)
    let z = x * x

    var cosine = fused(2.443315711809948e-5, z, -1.388731625493765e-3, exact: exact, tie: &tie)
    cosine = fused(cosine, z, 4.166664568298827e-2, exact: exact, tie: &tie)
    cosine *= z
    cosine = fused(cosine, z, -(z * 0.5), exact: exact, tie: &tie)
    cosine += 1

    var sine = fused(-1.9515295891e-4, z, 8.3321608736e-3, exact: exact, tie: &tie)
    sine = fused(sine, z, -1.6666654611e-1, exact: exact, tie: &tie)
    sine *= z
    sine = fused(sine, x, x, exact: exact, tie: &tie)

    let swapped = j & 2 != 0
    let s = swapped ? cosine : sine
    let c = swapped ? sine : cosine
    return (j & 4 != 0 ? -s : s, (j - 2) & 4 == 0 ? -c : c)
}
