import Foundation

/// Softmax over the last dimension: y[..., i] = exp(x[..., i] - max) / Σ_j exp(x[..., j] - max). Any shape.
public func softmaxLastDimension(_ x: Tensor) -> Tensor {
    let d = x.shape.last ?? 1
    let rows = x.count / max(1, d)
    return Tensor(shape: x.shape) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { input in
            nonisolated(unsafe) let (src, dst) = (input.baseAddress!, out.baseAddress!)
            parallelChunks(rows, grain: max(1, elementwiseGrain / d)) { range in
                for r in range { softmaxRow(src + r * d, dst + r * d, d) }
            }
        }
    }
}

/// y[0..<n] = softmax(x[0..<n]) for distinct rows x and y.
@inline(__always) func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let peak = maximum(x, n)
    for i in 0..<n { y[i] = fastExp(x[i] - peak) }
    normalise(y, n)
}

/// row[0..<n] = exp(row[0..<n] - max), in place, returning 1 / Σ of the new row: softmax without
/// its last scaling pass, for callers that can fold the scale into something smaller (attention
/// scales P·V's rows instead). Its own loop: the optimiser will not vectorise a two-pointer loop
/// whose pointers may be equal.
@inline(__always) func exponentiateRowInPlace(_ row: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    let peak = maximum(row, n)
    for i in 0..<n { row[i] = fastExp(row[i] - peak) }
    return Float(1 / sum(row, n))
}

/// row[0..<n] /= Σ row.
@inline(__always) private func normalise(_ row: UnsafeMutablePointer<Float>, _ n: Int) {
    let inverse = Float(1 / sum(row, n))
    for i in 0..<n { row[i] *= inverse }
}

/// Reference twin of `softmaxLastDimension`, in Double.
public func softmaxLastDimensionReference(_ x: Tensor) -> Tensor {
    let d = x.shape.last ?? 1
    var y = Tensor(zeros: x.shape)
    for r in 0..<(x.count / max(1, d)) {
        let row = x.storage[(r * d)..<(r * d + d)]
        let peak = Double(row.max() ?? 0)
        let e = row.map { Foundation.exp(Double($0) - peak) }
        let total = e.reduce(0, +)
        for i in 0..<d { y.storage[r * d + i] = Float(e[i] / total) }
    }
    return y
}
