/// Nearest-neighbour 2x upsampling: y[n,c,i,j] = x[n,c,i/2,j/2]. [N, C, H, W] -> [N, C, 2H, 2W].
public func upsampleNearest2x(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "upsampleNearest2x: \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return Tensor(shape: [n, c, 2 * h, 2 * w]) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
            nonisolated(unsafe) let (src, dst) = (px.baseAddress!, out.baseAddress!)
            parallelChunks(n * c * h, grain: max(1, elementwiseGrain / (4 * w))) { range in
                for row in range {
                    let (from, to) = (src + row * w, dst + row * 4 * w)
                    for j in 0..<w { to[2 * j] = from[j]; to[2 * j + 1] = from[j] }
                    (to + 2 * w).update(from: to, count: 2 * w)
                }
            }
        }
    }
}

/// Reference twin of `upsampleNearest2x`.
public func upsampleNearest2xReference(_ x: Tensor) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var y = Tensor(zeros: [n, c, 2 * h, 2 * w])
    for plane in 0..<(n * c) {
        for i in 0..<(2 * h) {
            for j in 0..<(2 * w) { y.storage[(plane * 2 * h + i) * 2 * w + j] = x.storage[(plane * h + i / 2) * w + j / 2] }
        }
    }
    return y
}

/// Nearest-neighbour resize to `height` x `width` as PyTorch's `interpolate(mode="nearest")`:
/// output (i, j) reads input (floor(i * H / height), floor(j * W / width)); exactly 2x goes to
/// `upsampleNearest2x`. Used where a latent side was odd on the way down (diffusers' `upsample_size`).
/// x [N, C, H, W] -> [N, C, height, width]
public func upsampleNearest(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 4 && height > 0 && width > 0, "upsampleNearest: \(x.shape) to \(height)x\(width)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if height == 2 * h && width == 2 * w { return upsampleNearest2x(x) }
    let sourceColumn = (0..<width).map { $0 * w / width }
    return Tensor(shape: [n, c, height, width]) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
            sourceColumn.withUnsafeBufferPointer { columns in
                nonisolated(unsafe) let (src, dst, column) = (px.baseAddress!, out.baseAddress!, columns.baseAddress!)
                parallelChunks(n * c * height, grain: max(1, elementwiseGrain / width)) { range in
                    for row in range {
                        let (plane, i) = (row / height, row % height)
                        let from = src + (plane * h + i * h / height) * w, to = dst + row * width
                        for j in 0..<width { to[j] = from[column[j]] }
                    }
                }
            }
        }
    }
}

/// Reference twin of `upsampleNearest`.
public func upsampleNearestReference(_ x: Tensor, height: Int, width: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var y = Tensor(zeros: [n, c, height, width])
    for plane in 0..<(n * c) {
        for i in 0..<height {
            for j in 0..<width { y.storage[(plane * height + i) * width + j] = x.storage[(plane * h + i * h / height) * w + j * w / width] }
        }
    }
    return y
}

/// Copies `count` floats per block from `blocks` sources into one interleaved destination:
/// for each outer index o, destination gets sources[0][o], sources[1][o], ... in turn.
private func interleaveBlocks(_ sources: [Tensor], blockSizes: [Int], outer: Int, into out: UnsafeMutableBufferPointer<Float>) {
    let stride = blockSizes.reduce(0, +)
    var offset = 0
    for (source, size) in zip(sources, blockSizes) {
        source.storage.withUnsafeBufferPointer { ps in
            guard let src = ps.baseAddress, size > 0 else { return }
            for o in 0..<outer { (out.baseAddress! + o * stride + offset).update(from: src + o * size, count: size) }
        }
        offset += size
    }
}

/// Channel concatenation: [N, Ca, H, W] ++ [N, Cb, H, W] -> [N, Ca + Cb, H, W] (any rank ≥ 2, along dim 1).
public func concatChannels(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 2 && a.rank == b.rank && a.shape[0] == b.shape[0] && a.shape.dropFirst(2) == b.shape.dropFirst(2),
                 "concatChannels: \(a.shape) ++ \(b.shape)")
    let n = a.shape[0]
    var shape = a.shape
    shape[1] += b.shape[1]
    return Tensor(shape: shape) { out in
        guard out.count > 0 else { return }
        interleaveBlocks([a, b], blockSizes: [a.count / n, b.count / n], outer: n, into: out)
    }
}

/// Batch concatenation: [Na, ...] ++ [Nb, ...] -> [Na + Nb, ...].
public func concatBatch(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 1 && a.rank == b.rank && a.shape.dropFirst() == b.shape.dropFirst(), "concatBatch: \(a.shape) ++ \(b.shape)")
    var shape = a.shape
    shape[0] += b.shape[0]
    return Tensor(shape: shape) { out in
        guard out.count > 0 else { return }
        interleaveBlocks([a, b], blockSizes: [a.count, b.count], outer: 1, into: out)
    }
}

/// Concatenation along the last dimension: [..., a] ++ [..., b] -> [..., a + b] (leading dimensions equal).
public func concatLastDimension(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 1 && a.rank == b.rank && a.shape.dropLast() == b.shape.dropLast(), "concatLastDimension: \(a.shape) ++ \(b.shape)")
    let (wa, wb) = (a.shape[a.rank - 1], b.shape[b.rank - 1])
    let rows = (a.count + b.count) / max(1, wa + wb)
    return Tensor(shape: Array(a.shape.dropLast()) + [wa + wb]) { out in
        guard out.count > 0 else { return }
        interleaveBlocks([a, b], blockSizes: [wa, wb], outer: rows, into: out)
    }
}

/// Items `range` of the batch: [N, ...] -> [range.count, ...].
public func sliceBatch(_ x: Tensor, _ range: Range<Int>) -> Tensor {
    precondition(x.rank >= 1 && range.lowerBound >= 0 && range.upperBound <= x.shape[0], "sliceBatch: \(range) of \(x.shape)")
    let block = x.shape[0] == 0 ? 0 : x.count / x.shape[0]
    var shape = x.shape
    shape[0] = range.count
    return Tensor(shape: shape, values: Array(x.storage[(range.lowerBound * block)..<(range.upperBound * block)]))
}

/// Splits the batch into `parts` equal pieces (e.g. classifier-free guidance's unconditional and
/// conditional halves): [N, ...] -> parts × [N / parts, ...].
public func splitBatch(_ x: Tensor, parts: Int) -> [Tensor] {
    precondition(x.rank >= 1 && parts > 0 && x.shape[0] % parts == 0, "splitBatch: \(x.shape) into \(parts)")
    let size = x.shape[0] / parts
    return (0..<parts).map { sliceBatch(x, ($0 * size)..<(($0 + 1) * size)) }
}

/// Splits the last dimension into `parts` equal pieces, like torch's `chunk(parts, dim=-1)`
/// (e.g. a fused QKV projection): [..., parts·n] -> parts × [..., n].
public func splitLastDimension(_ x: Tensor, parts: Int) -> [Tensor] {
    let width = x.shape.last ?? 0
    precondition(x.rank >= 1 && parts > 0 && width % parts == 0, "splitLastDimension: \(x.shape) into \(parts)")
    let n = width / parts, rows = x.count / max(1, width)
    return (0..<parts).map { part in
        Tensor(shape: Array(x.shape.dropLast()) + [n]) { out in
            guard out.count > 0 else { return }
            x.storage.withUnsafeBufferPointer { px in
                for r in 0..<rows { (out.baseAddress! + r * n).update(from: px.baseAddress! + r * width + part * n, count: n) }
            }
        }
    }
}

/// Splits the channel dimension into `parts` equal pieces, like torch's `chunk(parts, dim=1)`
/// (e.g. the VAE's mean and log-variance): [N, parts·C, ...] -> parts × [N, C, ...].
public func splitChannels(_ x: Tensor, parts: Int) -> [Tensor] {
    precondition(x.rank >= 2 && parts > 0 && x.shape[1] % parts == 0, "splitChannels: \(x.shape) into \(parts)")
    let n = x.shape[0]
    let block = n == 0 ? 0 : x.count / n, piece = block / parts
    var shape = x.shape
    shape[1] /= parts
    return (0..<parts).map { part in
        Tensor(shape: shape) { out in
            guard out.count > 0 else { return }
            x.storage.withUnsafeBufferPointer { px in
                for b in 0..<n { (out.baseAddress! + b * piece).update(from: px.baseAddress! + b * block + part * piece, count: piece) }
            }
        }
    }
}

/// Zero padding of the two spatial dimensions: [N, C, H, W] -> [N, C, top + H + bottom, left + W + right]
/// (e.g. the VAE encoder's asymmetric (0, 1, 0, 1) pad before a stride-2 convolution).
public func pad2d(_ x: Tensor, top: Int, bottom: Int, left: Int, right: Int) -> Tensor {
    precondition(x.rank == 4 && min(top, bottom, left, right) >= 0, "pad2d: \(x.shape) by \((top, bottom, left, right))")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow) = (h + top + bottom, w + left + right)
    return Tensor(shape: [n, c, oh, ow]) { out in
        guard out.count > 0 else { return }
        out.initialize(repeating: 0)
        x.storage.withUnsafeBufferPointer { px in
            guard let src = px.baseAddress else { return }
            for plane in 0..<(n * c) {
                for i in 0..<h {
                    (out.baseAddress! + (plane * oh + top + i) * ow + left).update(from: src + (plane * h + i) * w, count: w)
                }
            }
        }
    }
}

/// dst[j·rows + i] = src[i·cols + j] for one [rows, cols] matrix, in cache-sized tiles; rows of tiles
/// are split over cores.
func transpose(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    let tile = 32
    let tileRows = (rows + tile - 1) / tile
    nonisolated(unsafe) let (s, d) = (src, dst)
    parallelChunks(tileRows, grain: max(1, elementwiseGrain / max(1, tile * cols))) { range in
        for ti in range {
            let i0 = ti * tile, i1 = min(rows, i0 + tile)
            var j0 = 0
            while j0 < cols {
                let j1 = min(cols, j0 + tile)
                for i in i0..<i1 {
                    let from = s + i * cols
                    for j in j0..<j1 { d[j * rows + i] = from[j] }
                }
                j0 = j1
            }
        }
    }
}

/// Image to token sequence: y[n, i·W + j, c] = x[n, c, i, j]. [N, C, H, W] -> [N, H·W, C].
public func nchwToTokens(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "nchwToTokens: \(x.shape)")
    let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    return Tensor(shape: [n, hw, c]) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
            for b in 0..<n { transpose(px.baseAddress! + b * c * hw, rows: c, cols: hw, into: out.baseAddress! + b * c * hw) }
        }
    }
}

/// Token sequence to image: y[n, c, i, j] = x[n, i·width + j, c]. [N, H·W, C] -> [N, C, H, W].
public func tokensToNCHW(_ x: Tensor, height: Int, width: Int) -> Tensor {
    precondition(x.rank == 3 && x.shape[1] == height * width, "tokensToNCHW: \(x.shape) as \(height)x\(width)")
    let (n, hw, c) = (x.shape[0], x.shape[1], x.shape[2])
    return Tensor(shape: [n, c, height, width]) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
            for b in 0..<n { transpose(px.baseAddress! + b * c * hw, rows: hw, cols: c, into: out.baseAddress! + b * c * hw) }
        }
    }
}

/// Reference twin of `nchwToTokens`.
public func nchwToTokensReference(_ x: Tensor) -> Tensor {
    let (n, c, hw) = (x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
    var y = Tensor(zeros: [n, hw, c])
    for b in 0..<n {
        for ch in 0..<c {
            for s in 0..<hw { y.storage[(b * hw + s) * c + ch] = x.storage[(b * c + ch) * hw + s] }
        }
    }
    return y
}

/// The transpose of a matrix: [rows, cols] -> [cols, rows].
public func transpose2D(_ x: Tensor) -> Tensor {
    precondition(x.rank == 2, "transpose2D: \(x.shape)")
    let (rows, cols) = (x.shape[0], x.shape[1])
    return Tensor(shape: [cols, rows]) { out in
        guard let dst = out.baseAddress, rows * cols > 0 else { return }
        x.storage.withUnsafeBufferPointer { transpose($0.baseAddress!, rows: rows, cols: cols, into: dst) }
    }
}
