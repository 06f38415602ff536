// Vectorised reductions over contiguous Float runs (SIMD accumulators; plain loops would stay scalar
// because floating-point addition is not reassociated).

/// Largest of `p[0..<n]` (n ≥ 1); four independent running maxima (the generic SIMD `pointwiseMax`
/// is not inlined into a loop).
@inline(__always) func maximum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var (a, b, c, d) = (p[0], p[0], p[0], p[0])
    var i = 0
    while i + 4 <= n {
        a = p[i] > a ? p[i] : a
        b = p[i + 1] > b ? p[i + 1] : b
        c = p[i + 2] > c ? p[i + 2] : c
        d = p[i + 3] > d ? p[i + 3] : d
        i += 4
    }
    while i < n { a = p[i] > a ? p[i] : a; i += 1 }
    a = b > a ? b : a
    c = d > c ? d : c
    return c > a ? c : a
}

/// Σ p[0..<n], accumulated in Float lanes of at most 4096 elements each, then in Double.
@inline(__always) func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
        let end = min(n, start + 4096)
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        var i = start
        while i + 16 <= end {
            a += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            b += UnsafeRawPointer(p + i + 8).loadUnaligned(as: SIMD8<Float>.self)
            i += 16
        }
        var partial = (a + b).sum()
        while i < end { partial += p[i]; i += 1 }
        total += Double(partial)
        start = end
    }
    return total
}

/// (Σ (p[i] - pivot), Σ (p[i] - pivot)²) over p[0..<n], Float lanes per 4096 elements, totals in Double.
/// A pivot near the mean keeps the one-pass variance from cancelling.
@inline(__always) func shiftedMoments(_ p: UnsafePointer<Float>, _ n: Int, pivot: Float) -> (sum: Double, squares: Double) {
    var total = 0.0, squares = 0.0
    var start = 0
    let shift = SIMD8<Float>(repeating: pivot)
    while start < n {
        let end = min(n, start + 4096)
        var a = SIMD8<Float>(), b = SIMD8<Float>(), a2 = SIMD8<Float>(), b2 = SIMD8<Float>()
        var i = start
        while i + 16 <= end {
            let u = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - shift
            let v = UnsafeRawPointer(p + i + 8).loadUnaligned(as: SIMD8<Float>.self) - shift
            a += u; b += v
            a2 += u * u; b2 += v * v
            i += 16
        }
        var partial = (a + b).sum(), partialSquares = (a2 + b2).sum()
        while i < end { let d = p[i] - pivot; partial += d; partialSquares += d * d; i += 1 }
        total += Double(partial)
        squares += Double(partialSquares)
        start = end
    }
    return (total, squares)
}
