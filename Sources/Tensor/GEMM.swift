import CBLAS

/// C = A · B for row-major A [m, k], B [k, n] -> C [m, n], through OpenBLAS sgemm.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[1] == b.shape[0], "matmul shapes \(a.shape) x \(b.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    var c = Tensor(zeros: [m, n])
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
