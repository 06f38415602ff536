import Foundation

/// Group normalisation: per (n, group), y = (x - mean) / sqrt(var + eps) · γ[c] + β[c], then SiLU if `silu`.
/// x [N, C, ...spatial], weight/bias [C], C divisible by `groups` -> same shape as x.
/// Two read passes for the statistics and one fused normalise-affine(-SiLU) pass, split over (n, group).
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor, bias: Tensor, eps: Float, silu: Bool = false) -> Tensor {
    precondition(x.rank >= 2 && groups > 0 && x.shape[1] % groups == 0 && weight.count == x.shape[1] && bias.count == x.shape[1],
                 "groupNorm: \(x.shape) into \(groups) groups, weight \(weight.shape), bias \(bias.shape)")
    let (n, c) = (x.shape[0], x.shape[1])
    let spatial = x.count / max(1, n * c)
    let perGroup = c / groups, groupSize = perGroup * spatial
    return normalized(x, weight: weight, bias: bias) { src, dst, g, b in
        parallelChunks(n * groups, grain: max(1, elementwiseGrain / groupSize)) { range in
            for item in range {
                let group = item % groups, start = item * groupSize
                let (mean, variance) = meanAndVariance(src + start, groupSize)
                let inverse = 1 / (variance + Double(eps)).squareRoot()
                for ch in 0..<perGroup {
                    // y = x · scale + shift, with scale = γ / σ and shift = β - mean · scale.
                    let channel = group * perGroup + ch
                    let scale = Float(Double(g[channel]) * inverse)
                    let shift = Float(Double(b[channel]) - mean * Double(g[channel]) * inverse)
                    let (from, to) = (src + start + ch * spatial, dst + start + ch * spatial)
                    if silu {
                        for i in 0..<spatial { to[i] = fastSwish(from[i] * scale + shift, 1) }
                    } else {
                        for i in 0..<spatial { to[i] = from[i] * scale + shift }
                    }
                }
            }
        }
    }
}

/// A tensor shaped as `x`, filled by `body` from raw pointers to x, the output, γ and β (the
/// normalisations' common frame; nothing is run for an empty tensor).
private func normalized(_ x: Tensor, weight: Tensor, bias: Tensor,
                        _ body: (_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                 _ gamma: UnsafePointer<Float>, _ beta: UnsafePointer<Float>) -> Void) -> Tensor {
    Tensor(shape: x.shape) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { input in
            weight.storage.withUnsafeBufferPointer { gamma in
                bias.storage.withUnsafeBufferPointer { beta in
                    body(input.baseAddress!, out.baseAddress!, gamma.baseAddress!, beta.baseAddress!)
                }
            }
        }
    }
}

/// Mean and (biased) variance of p[0..<n]: a first pass for the mean, then moments about it, so the
/// variance does not cancel however far the mean is from zero.
@inline(__always) func meanAndVariance(_ p: UnsafePointer<Float>, _ n: Int) -> (mean: Double, variance: Double) {
    let roughMean = sum(p, n) / Double(n)
    let moments = shiftedMoments(p, n, pivot: Float(roughMean))
    let correction = moments.sum / Double(n)
    return (Double(Float(roughMean)) + correction, max(0, moments.squares / Double(n) - correction * correction))
}

/// Reference twin of `groupNorm`: two passes per group, statistics in Double.
public func groupNormReference(_ x: Tensor, groups: Int, weight: Tensor, bias: Tensor, eps: Float, silu: Bool = false) -> Tensor {
    precondition(x.rank >= 2 && x.shape[1] % groups == 0, "groupNorm: \(x.shape) into \(groups) groups")
    let (n, c) = (x.shape[0], x.shape[1])
    let spatial = x.count / max(1, n * c)
    let perGroup = c / groups
    var y = Tensor(zeros: x.shape)
    for b in 0..<n {
        for g in 0..<groups {
            let start = (b * c + g * perGroup) * spatial, length = perGroup * spatial
            var mean = 0.0
            for i in start..<(start + length) { mean += Double(x.storage[i]) }
            mean /= Double(length)
            var variance = 0.0
            for i in start..<(start + length) { let d = Double(x.storage[i]) - mean; variance += d * d }
            variance /= Double(length)
            let inverse = 1 / (variance + Double(eps)).squareRoot()
            for ch in (g * perGroup)..<((g + 1) * perGroup) {
                for s in 0..<spatial {
                    let i = (b * c + ch) * spatial + s
                    var v = (Double(x.storage[i]) - mean) * inverse * Double(weight.storage[ch]) + Double(bias.storage[ch])
                    if silu { v = v / (1 + Foundation.exp(-v)) }
                    y.storage[i] = Float(v)
                }
            }
        }
    }
    return y
}

/// Layer normalisation over the last dimension: y = (x - mean) / sqrt(var + eps) · γ + β.
/// x [..., D], weight/bias [D] -> same shape as x. Rows split over cores.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    let d = x.shape.last ?? 1
    precondition(weight.count == d && bias.count == d, "layerNorm: \(x.shape) with weight \(weight.shape), bias \(bias.shape)")
    let rows = x.count / max(1, d)
    return normalized(x, weight: weight, bias: bias) { src, dst, g, b in
        parallelChunks(rows, grain: max(1, elementwiseGrain / d)) { range in
            for r in range {
                let (from, to) = (src + r * d, dst + r * d)
                let (mean, variance) = meanAndVariance(from, d)
                let (center, inverse) = (Float(mean), Float(1 / (variance + Double(eps)).squareRoot()))
                for i in 0..<d { to[i] = (from[i] - center) * inverse * g[i] + b[i] }
            }
        }
    }
}

/// Reference twin of `layerNorm`: two passes per row, statistics in Double.
public func layerNormReference(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    let d = x.shape.last ?? 1
    precondition(weight.count == d && bias.count == d, "layerNorm: \(x.shape) with weight \(weight.shape)")
    var y = Tensor(zeros: x.shape)
    for r in 0..<(x.count / max(1, d)) {
        var mean = 0.0
        for i in 0..<d { mean += Double(x.storage[r * d + i]) }
        mean /= Double(d)
        var variance = 0.0
        for i in 0..<d { let e = Double(x.storage[r * d + i]) - mean; variance += e * e }
        variance /= Double(d)
        let inverse = 1 / (variance + Double(eps)).squareRoot()
        for i in 0..<d {
            y.storage[r * d + i] = Float((Double(x.storage[r * d + i]) - mean) * inverse * Double(weight.storage[i]) + Double(bias.storage[i]))
        }
    }
    return y
}
