import CBLAS

/// C = A · B for row-major A [m, k], B [k, n] -> C [m, n], through OpenBLAS sgemm.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[1] == b.shape[0], "matmul shapes \(a.shape) x \(b.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    var c = Tensor(zeros: [m, n])
    guard m > 0, n > 0, k > 0 else { return c }
    let threads = BLASThreads.prepare()
    a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
            c.storage.withUnsafeMutableBufferPointer { pc in
                parallelSgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n, transposedB: false,
                              beta: 0, c: pc.baseAddress!, ldc: n, threads: threads)
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

/// `linear` with the weight's [outFeatures, inFeatures] Float32 values at `weight`.
public func linear(_ x: Tensor, weight: UnsafePointer<Float>?, outFeatures: Int, inFeatures: Int, bias: Tensor?) -> Tensor {
    linear(x, weight: weightMatrix(weight, shape: [outFeatures, inFeatures]), bias: bias)
}

/// `linear` with the weight as a `WeightMatrix` [outFeatures, inFeatures]: a weight kept in another
/// precision is converted a block of output features at a time, each block's product written
/// into its columns of the output.
public func linear(_ x: Tensor, weight: WeightMatrix, bias: Tensor?) -> Tensor {
    let (outFeatures, inFeatures) = (weight.rows, weight.columns)
    precondition(x.rank >= 1 && x.shape.last == inFeatures,
                 "linear: x \(x.shape) with weight [\(outFeatures), \(inFeatures)]")
    let rows = x.count / max(1, inFeatures)
    if let bias { precondition(bias.count == outFeatures, "linear: bias \(bias.shape) for \(outFeatures) outputs") }
    let threads = BLASThreads.prepare()
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
        guard inFeatures > 0 else {
            if bias == nil { out.initialize(repeating: 0) }
            return
        }
        x.storage.withUnsafeBufferPointer { px in
            for first in stride(from: 0, to: outFeatures, by: weight.rowsPerBlock) {
                let features = first..<min(outFeatures, first + weight.rowsPerBlock)
                weight.withBlock(rows: features, columns: 0..<inFeatures) { pw, ldw in
                    parallelSgemm(m: rows, n: features.count, k: inFeatures, a: px.baseAddress!, lda: inFeatures, b: pw,
                                  ldb: ldw, transposedB: true, beta: bias == nil ? 0 : 1, c: po + first, ldc: outFeatures,
                                  threads: threads)
                }
            }
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

/// C = A · op(B) + beta · C for row-major A [m, k], op(B) [k, n] (B stored [n, k] when
/// `transposedB`), C [m, n] with row strides lda, ldb, ldc: one single-threaded sgemm per worker
/// over a slice of C's rows or of its columns, whichever makes the workers pack the smaller operand
/// twice (rows: each packs all of op(B); columns: all of A). Slices are whole multiples of 16 (the
/// sgemm kernels' unroll) but the last. Small products run as one call.
func parallelSgemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                   transposedB: Bool, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int) {
    /// One sgemm for rows `rows` and columns `columns` of C.
    func product(rows: Range<Int>, columns: Range<Int>) {
        guard !rows.isEmpty, !columns.isEmpty else { return }
        let bSlice = transposedB ? b + columns.lowerBound * ldb : b + columns.lowerBound
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposedB ? CblasTrans : CblasNoTrans,
                    Int32(rows.count), Int32(columns.count), Int32(k), 1, a + rows.lowerBound * lda, Int32(lda),
                    bSlice, Int32(ldb), beta, c + rows.lowerBound * ldc + columns.lowerBound, Int32(ldc))
    }
    let splitRows = n <= m, extent = splitRows ? m : n
    let parts = min(threads, extent / 32, m * n * k / (1 << 18))
    guard parts > 1 else {
        product(rows: 0..<m, columns: 0..<n)
        return
    }
    parallelFor(parts) { part in
        let start = part * extent / parts / 16 * 16
        let end = part == parts - 1 ? extent : (part + 1) * extent / parts / 16 * 16
        if splitRows { product(rows: start..<end, columns: 0..<n) } else { product(rows: 0..<m, columns: start..<end) }
    }
}

/// C += A · B for row-major A [m, k], B [k, n] and C's m · n values at `c` (a LoRA merge's
/// `W += scale · up @ down`, the scale already in A).
public func addProduct(_ a: Tensor, _ b: Tensor, to c: UnsafeMutablePointer<Float>) {
    precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[1] == b.shape[0], "addProduct shapes \(a.shape) x \(b.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    guard m > 0, n > 0, k > 0 else { return }
    let threads = BLASThreads.prepare()
    a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
            parallelSgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n, transposedB: false,
                          beta: 1, c: c, ldc: n, threads: threads)
        }
    }
}
