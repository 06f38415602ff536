/// Elementwise sum: y = a + b, same shapes.
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "add: \(a.shape) + \(b.shape)")
    return Tensor(shape: a.shape) { out in
        guard out.count > 0 else { return }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                nonisolated(unsafe) let (x, y, z) = (pa.baseAddress!, pb.baseAddress!, out.baseAddress!)
                parallelChunks(out.count, grain: elementwiseGrain) { range in
                    for i in range { z[i] = x[i] + y[i] }
                }
            }
        }
    }
}

/// Reference twin of `add`.
public func addReference(_ a: Tensor, _ b: Tensor) -> Tensor {
    Tensor(shape: a.shape, values: zip(a.storage, b.storage).map { $0 + $1 })
}

/// Per-channel bias broadcast over space: y[n,c,i,j] = x[n,c,i,j] + bias[n,c]. x [N, C, H, W], bias [N, C]
/// (x of any rank ≥ 2: everything after C is spatial).
public func addChannelBias(_ x: Tensor, _ bias: Tensor) -> Tensor {
    precondition(x.rank >= 2 && bias.count == x.shape[0] * x.shape[1], "addChannelBias: \(x.shape) + \(bias.shape)")
    let planes = x.shape[0] * x.shape[1], spatial = x.count / max(1, planes)
    return Tensor(shape: x.shape) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
            bias.storage.withUnsafeBufferPointer { pb in
                nonisolated(unsafe) let (src, b, dst) = (px.baseAddress!, pb.baseAddress!, out.baseAddress!)
                parallelChunks(planes, grain: max(1, elementwiseGrain / spatial)) { range in
                    for p in range {
                        let (from, to, shift) = (src + p * spatial, dst + p * spatial, b[p])
                        for i in 0..<spatial { to[i] = from[i] + shift }
                    }
                }
            }
        }
    }
}

/// Reference twin of `addChannelBias`.
public func addChannelBiasReference(_ x: Tensor, _ bias: Tensor) -> Tensor {
    let planes = x.shape[0] * x.shape[1], spatial = x.count / max(1, planes)
    var y = x
    for p in 0..<planes {
        for s in 0..<spatial { y.storage[p * spatial + s] += bias.storage[p] }
    }
    return y
}

/// Scalar multiple: y = s · x. Any shape.
public func scaled(_ x: Tensor, by s: Float) -> Tensor {
    Tensor(shape: x.shape) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
            nonisolated(unsafe) let (src, dst) = (px.baseAddress!, out.baseAddress!)
            parallelChunks(out.count, grain: elementwiseGrain) { range in
                for i in range { dst[i] = src[i] * s }
            }
        }
    }
}
