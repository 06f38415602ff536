import CBLAS

/// C = A · B for row-major A [m, k], B [k, n] -> C [m, n], through OpenBLAS sgemm.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[1] == b.shape[0], "matmul shapes \(a.shape) x \(b.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    var c = Tensor(zeros: [m, n])
    BLASThreads.prepare()
    a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
            c.storage.withUnsafeMutableBufferPointer { pc in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                            1, pa.baseAddress, Int32(k), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
            }
        }
    }
    return c
}

/// Reference twin of `matmul`: the triple loop, for tests.
public func matmulReference(_ a: Tensor, _ b: Tensor) -> Tensor {
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    var c = Tensor(zeros: [m, n])
    for i in 0..<m {
        for j in 0..<n {
            var sum: Double = 0
            for p in 0..<k { sum += Double(a.storage[i * k + p]) * Double(b.storage[p * n + j]) }
            c.storage[i * n + j] = Float(sum)
        }
    }
    return c
}

/// A fully connected layer: y = x · Wᵀ + b. x [..., in], weight [out, in], bias [out] -> [..., out].
/// One sgemm over all leading dimensions, reading the weight transposed in place.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    precondition(weight.rank == 2, "linear: weight \(weight.shape)")
    return weight.storage.withUnsafeBufferPointer { pw in
        linear(x, weight: pw.baseAddress, outFeatures: weight.shape[0], inFeatures: weight.shape[1], bias: bias)
    }
}

/// `linear` with the weight's [outFeatures, inFeatures] Float32 values at `weight` (a weight kept
/// in another precision, converted just before the call).
public func linear(_ x: Tensor, weight: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int, bias: Tensor?) -> Tensor {
    precondition(x.rank >= 1 && x.shape.last == inFeatures,
                 "linear: x \(x.shape) with weight [\(outFeatures), \(inFeatures)]")
    let rows = x.count / max(1, inFeatures)
    if let bias { precondition(bias.count == outFeatures, "linear: bias \(bias.shape) for \(outFeatures) outputs") }
    BLASThreads.prepare()
    return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures]) { out in
        guard let po = out.baseAddress, out.count > 0 else { return }
        if let bias {
            // Start from the bias in every row, then accumulate the product (beta = 1).
            bias.storage.withUnsafeBufferPointer { pb in
                nonisolated(unsafe) let (b, y) = (pb.baseAddress!, po)
                parallelChunks(rows, grain: max(1, elementwiseGrain / outFeatures)) { range in
                    for r in range { (y + r * outFeatures).update(from: b, count: outFeatures) }
                }
            }
        }
        x.storage.withUnsafeBufferPointer { px in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
                        1, px.baseAddress, Int32(inFeatures), weight, Int32(inFeatures),
                        bias == nil ? 0 : 1, po, Int32(outFeatures))
        }
    }
}

/// Reference twin of `linear`: y[r, o] = Σ_i x[r, i] · w[o, i] + b[o], in Double.
public func linearReference(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    let rows = x.count / max(1, inFeatures)
    var y = Tensor(zeros: Array(x.shape.dropLast()) + [outFeatures])
    for r in 0..<rows {
        for o in 0..<outFeatures {
            var sum = Double(bias?.storage[o] ?? 0)
            for i in 0..<inFeatures { sum += Double(x.storage[r * inFeatures + i]) * Double(weight.storage[o * inFeatures + i]) }
            y.storage[r * outFeatures + o] = Float(sum)
        }
    }
    return y
}
