import CBLAS
import CKernels
import Synchronization

/// Output extent of a convolution along one axis.
@inline(__always) func convolvedExtent(_ size: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    (size + 2 * padding - kernel) / stride + 1
}

/// 2-D convolution with zero padding: y[n,o,i,j] = b[o] + Σ_c,ky,kx w[o,c,ky,kx] · x[n,c,i·s+ky-p,j·s+kx-p].
/// x [N, C, H, W], weight [O, C, kh, kw], bias [O] -> [N, O, H', W'].
/// 1x1 stride-1 convolutions are one sgemm per image straight from the input. 3x3 stride-1 ones
/// over enough tiles and channels go the Winograd F(4x4, 3x3) way (`WinogradPlan`). Others unfold
/// (im2col) tiles of output rows into a column buffer per worker of `convolutionColumnBudget`
/// floats (4 MB), up to four times that for narrow images, or one output row if that is larger,
/// and multiply each tile with one sgemm that writes straight into the output.
/// `residual`, shaped as the output, is added to it (a ResNet block's skip connection): as the
/// Winograd output transform writes, else in place afterwards; either way the same values as
/// `add(residual, conv2d(...))` without a third tensor.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                   residual: Tensor? = nil) -> Tensor {
    conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, columnBudget: convolutionColumnBudget,
           threads: Threads.count, residual: residual)
}

/// `conv2d` with the weight's Float32 values at `weight`, of shape `weightShape` [O, C, kh, kw].
public func conv2d(_ x: Tensor, weight: UnsafePointer<Float>?, weightShape: [Int], bias: Tensor?, stride: Int = 1,
                   padding: Int = 0, residual: Tensor? = nil) -> Tensor {
    conv2d(x, weight: weightMatrix(weight, shape: weightShape), weightShape: weightShape, bias: bias, stride: stride,
           padding: padding, residual: residual)
}

/// `conv2d` with the weight as a `WeightMatrix` [O, C·kh·kw] of shape `weightShape` [O, C, kh, kw]:
/// a weight kept in another precision is converted a block at a time (output channels for 1x1 and
/// Winograd, input channels for im2col, whose products then accumulate), never whole.
public func conv2d(_ x: Tensor, weight: WeightMatrix, weightShape: [Int], bias: Tensor?, stride: Int = 1,
                   padding: Int = 0, residual: Tensor? = nil) -> Tensor {
    conv2d(x, weight: weight, weightShape: weightShape, bias: bias, stride: stride, padding: padding,
           columnBudget: convolutionColumnBudget, threads: Threads.count, residual: residual)
}

/// The in-place matrix of a weight's values (a one-float stand-in for an empty weight, never read).
func weightMatrix(_ values: UnsafePointer<Float>?, shape: [Int]) -> WeightMatrix {
    let rows = shape.first ?? 0, columns = shape.dropFirst().reduce(1, *)
    return WeightMatrix(values ?? UnsafePointer(emptyWeight), rows: rows, columns: columns)
}

nonisolated(unsafe) private let emptyWeight = UnsafeMutablePointer<Float>.allocate(capacity: 1)

/// `conv2d` with an explicit column-buffer budget in floats, thread count and instruction-set level
/// for the C kernels, and `winograd: false` to keep im2col where Winograd would run (tests and the
/// Winograd benchmark use these to force every path and every variant).
func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, columnBudget: Int, threads: Int,
            isa: stipple_isa = stipple_isa_active(), residual: Tensor? = nil, winograd: Bool = true) -> Tensor {
    weight.storage.withUnsafeBufferPointer { pw in
        conv2d(x, weight: weightMatrix(pw.baseAddress, shape: weight.shape), weightShape: weight.shape, bias: bias,
               stride: stride, padding: padding, columnBudget: columnBudget, threads: threads, isa: isa,
               residual: residual, winograd: winograd)
    }
}

func conv2d(_ x: Tensor, weight: WeightMatrix, weightShape: [Int], bias: Tensor?, stride: Int, padding: Int,
            columnBudget: Int, threads: Int, isa: stipple_isa = stipple_isa_active(), residual: Tensor? = nil,
            winograd: Bool = true) -> Tensor {
    precondition(x.rank == 4 && weightShape.count == 4 && x.shape[1] == weightShape[1] && stride >= 1 && padding >= 0,
                 "conv2d: x \(x.shape) with weight \(weightShape), stride \(stride), padding \(padding)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (weightShape[0], weightShape[2], weightShape[3])
    precondition(weight.rows == o && weight.columns == c * kh * kw, "conv2d: weight matrix [\(weight.rows), \(weight.columns)] for \(weightShape)")
    let oh = convolvedExtent(h, kernel: kh, stride: stride, padding: padding)
    let ow = convolvedExtent(w, kernel: kw, stride: stride, padding: padding)
    precondition(oh > 0 && ow > 0, "conv2d: kernel \(kh)x\(kw) does not fit \(h)x\(w) with padding \(padding)")
    if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) outputs") }
    if let residual { precondition(residual.shape == [n, o, oh, ow], "conv2d: residual \(residual.shape) for output [\(n), \(o), \(oh), \(ow)]") }
    BLASThreads.prepare()  // OpenBLAS on one thread: the workers below each call sgemm
    let geometry = ConvolutionGeometry(channels: c, height: h, width: w, kernelHeight: kh, kernelWidth: kw,
                                       stride: stride, padding: padding, outHeight: oh, outWidth: ow)
    return Tensor(shape: [n, o, oh, ow]) { out in
        guard out.count > 0 else { return }
        x.storage.withUnsafeBufferPointer { px in
                withOptionalBuffer(bias) { pb in
                    if geometry.reduction == 0 {
                        // No input channels: the bias alone.
                        for plane in 0..<(n * o) { (out.baseAddress! + plane * oh * ow).update(repeating: pb?[plane % o] ?? 0, count: oh * ow) }
                    } else if kh == 1 && kw == 1 && stride == 1 && padding == 0 {
                        if let pb {
                            // Bias planes first, on all threads (sgemm then accumulates with beta 1).
                            nonisolated(unsafe) let (b, y) = (pb, out.baseAddress!)
                            parallelChunks(n * o, grain: max(1, elementwiseGrain / (oh * ow))) { planes in
                                for plane in planes { (y + plane * oh * ow).update(repeating: b[plane % o], count: oh * ow) }
                            }
                        }
                        for first in Swift.stride(from: 0, to: o, by: weight.rowsPerBlock) {
                            let outputs = first..<min(o, first + weight.rowsPerBlock)
                            weight.withBlock(rows: outputs, columns: 0..<c) { pw, ldw in
                                for b in 0..<n {
                                    parallelSgemm(m: outputs.count, n: oh * ow, k: c, a: pw, lda: ldw,
                                                  b: px.baseAddress! + b * c * h * w, ldb: oh * ow, transposedB: false,
                                                  beta: pb == nil ? 0 : 1, c: out.baseAddress! + (b * o + first) * oh * ow,
                                                  ldc: oh * ow, threads: threads)
                                }
                            }
                        }
                    } else if winograd, let plan = WinogradPlan(batch: n, geometry, outChannels: o, threads: threads) {
                        withOptionalBuffer(residual) { pr in
                            winogradConvolution(px.baseAddress!, batch: n, geometry, plan, weight: weight, bias: pb,
                                                residual: pr, outChannels: o, output: out.baseAddress!, threads: threads,
                                                isa: isa)
                        }
                        return
                    } else {
                        // Input channels per pass: all of them for weights in place, else as many
                        // as keep the converted block within its budget (the passes accumulate).
                        let perChannel = kh * kw
                        let chunk = weight.inPlace ? c : max(1, min(c, weight.blockFloats / max(1, o * perChannel)))
                        for first in Swift.stride(from: 0, to: c, by: chunk) {
                            let channels = first..<min(c, first + chunk)
                            weight.withBlock(rows: 0..<o, columns: (first * perChannel)..<(channels.upperBound * perChannel)) { pw, ldw in
                                let plan = ConvolutionPlan(batch: n, geometry.with(channels: channels.count),
                                                           columnBudget: columnBudget, threads: threads)
                                unfoldedConvolution(px.baseAddress!, batch: n, geometry, plan, channels: channels,
                                                    weight: pw, weightStride: ldw, bias: first == 0 ? pb : nil,
                                                    accumulate: first > 0, outChannels: o, output: out.baseAddress!)
                            }
                        }
                    }
                    if let residual { addInPlace(out.baseAddress!, residual) }
                }
        }
    }
}

/// y[i] += r[i] over r's elements, split over threads (fl(y + r), the same as `add(r, y)`).
func addInPlace(_ y: UnsafeMutablePointer<Float>, _ r: Tensor) {
    r.storage.withUnsafeBufferPointer { pr in
        nonisolated(unsafe) let (a, z) = (pr.baseAddress!, y)
        parallelChunks(pr.count, grain: elementwiseGrain) { range in
            for i in range { z[i] += a[i] }
        }
    }
}

/// Floats in one worker's im2col column buffer (4 MB, so two workers' buffers stay well inside the
/// L3 cache); a tile holds at least one output row.
let convolutionColumnBudget = 1 << 20

/// Sizes of one convolution, shared by the unfolding helpers.
struct ConvolutionGeometry {
    let channels, height, width, kernelHeight, kernelWidth, stride, padding, outHeight, outWidth: Int
    /// Rows of the unfolded matrix: C · kh · kw.
    var reduction: Int { channels * kernelHeight * kernelWidth }
    /// Floats of unfolded columns for one output row.
    var rowFloats: Int { reduction * outWidth }

    /// The same convolution over `channels` input channels (sizing a pass over some of them).
    func with(channels: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(channels: channels, height: height, width: width, kernelHeight: kernelHeight,
                            kernelWidth: kernelWidth, stride: stride, padding: padding, outHeight: outHeight, outWidth: outWidth)
    }
}

/// How an unfolded convolution is cut up: tiles of output rows, and whether whole tiles go to
/// workers (single-threaded sgemm each) or run in turn (each sgemm on all threads).
struct ConvolutionPlan {
    /// Threads to use.
    let threads: Int
    /// Tiles per image; tile t holds output rows [t·H'/tiles, (t+1)·H'/tiles).
    let tilesPerImage: Int
    /// Whether workers take whole tiles; otherwise tiles run in turn with multi-threaded sgemm.
    let tilesPerWorker: Bool
    /// Floats of one column buffer: the largest tile.
    let scratchCount: Int

    /// Output columns per tile below which sgemm loses efficiency (small, deep layers).
    static let minimumWorkerColumns = 512

    init(batch: Int, _ g: ConvolutionGeometry, columnBudget: Int, threads: Int) {
        // Rows within the budget, or up to four budgets' worth where that is needed to reach
        // `minimumWorkerColumns` columns per tile.
        let rowsForWidth = (Self.minimumWorkerColumns + g.outWidth - 1) / g.outWidth
        let rows = max(1, min(g.outHeight, max(columnBudget / g.rowFloats, min(rowsForWidth, 4 * columnBudget / g.rowFloats))))
        var perImage = (g.outHeight + rows - 1) / rows
        // A few big tiles over two threads would leave one idle: add tiles until they share out evenly.
        while (batch * perImage) % threads != 0 && perImage < g.outHeight && batch * perImage < 8 * threads { perImage += 1 }
        self.threads = threads
        tilesPerImage = perImage
        tilesPerWorker = threads > 1 && batch * perImage >= threads
        scratchCount = (g.outHeight + perImage - 1) / perImage * g.rowFloats
    }
}

/// Runs `body` with the buffer's base address, or nil for a nil tensor.
func withOptionalBuffer<R>(_ t: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.storage.withUnsafeBufferPointer { body($0.baseAddress) }
}

/// Y[O, count] (row stride `outputStride`) = W[O, K] (row stride `weightStride`) · X[K, count] + b
/// (bias pre-filled, beta 1), or Y += W · X when `accumulate`: sgemm on one thread, or split over
/// `threads` (`parallelSgemm`).
@inline(__always) func convolutionTile(weight: UnsafePointer<Float>, weightStride: Int, bias: UnsafePointer<Float>?,
                                       accumulate: Bool, outChannels: Int, columns: UnsafePointer<Float>, reduction: Int,
                                       count: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, threads: Int = 1) {
    if let bias, !accumulate {
        for oc in 0..<outChannels { (output + oc * outputStride).update(repeating: bias[oc], count: count) }
    }
    parallelSgemm(m: outChannels, n: count, k: reduction, a: weight, lda: weightStride, b: columns, ldb: count,
                  transposedB: false, beta: bias == nil && !accumulate ? 0 : 1, c: output, ldc: outputStride, threads: threads)
}

/// im2col + sgemm of input channels `channels` over the plan's tiles (the weight's columns for
/// those channels at `weight`, rows `weightStride` apart): either workers each unfold and multiply
/// whole tiles (single-threaded sgemm, tiles handed out by an atomic counter), or tiles run in
/// turn with the unfolding split over channels and the product over threads (`parallelSgemm`).
/// `accumulate` adds to the output (a later pass over more channels) instead of writing it.
private func unfoldedConvolution(_ x: UnsafePointer<Float>, batch: Int, _ g: ConvolutionGeometry, _ plan: ConvolutionPlan,
                                 channels: Range<Int>, weight: UnsafePointer<Float>, weightStride: Int,
                                 bias: UnsafePointer<Float>?, accumulate: Bool, outChannels: Int,
                                 output: UnsafeMutablePointer<Float>) {
    let tilesPerImage = plan.tilesPerImage, tiles = batch * tilesPerImage
    let imageSize = g.channels * g.height * g.width, outputImageSize = outChannels * g.outHeight * g.outWidth
    let reduction = channels.count * g.kernelHeight * g.kernelWidth
    nonisolated(unsafe) let (src, dst, w, b) = (x, output, weight, bias)
    /// Unfolds tile `tile` into `columns` (channels split over threads when `splitChannels`) and multiplies it.
    func run(_ tile: Int, _ columns: UnsafeMutablePointer<Float>, splitChannels: Bool) {
        let image = tile / tilesPerImage, part = tile % tilesPerImage
        let firstRow = part * g.outHeight / tilesPerImage, rows = (part + 1) * g.outHeight / tilesPerImage - firstRow
        let source = src + image * imageSize
        if splitChannels {
            nonisolated(unsafe) let columns = columns
            let grain = max(1, elementwiseGrain / (rows * g.kernelHeight * g.kernelWidth * g.outWidth))
            parallelChunks(channels.count, grain: grain) { part in
                unfoldRows(source, g, channels: (channels.lowerBound + part.lowerBound)..<(channels.lowerBound + part.upperBound),
                           firstChannel: channels.lowerBound, firstRow: firstRow, rows: rows, into: columns)
            }
        } else {
            unfoldRows(source, g, channels: channels, firstChannel: channels.lowerBound, firstRow: firstRow, rows: rows,
                       into: columns)
        }
        convolutionTile(weight: w, weightStride: weightStride, bias: b, accumulate: accumulate, outChannels: outChannels,
                        columns: columns, reduction: reduction, count: rows * g.outWidth,
                        output: dst + image * outputImageSize + firstRow * g.outWidth,
                        outputStride: g.outHeight * g.outWidth, threads: splitChannels ? plan.threads : 1)
    }
    guard plan.tilesPerWorker else {
        ScratchPool.shared.withBuffer(count: plan.scratchCount) { columns in
            for tile in 0..<tiles { run(tile, columns, splitChannels: plan.threads > 1) }
        }
        return
    }
    let next = Atomic<Int>(0)
    parallelFor(plan.threads) { _ in
        ScratchPool.shared.withBuffer(count: plan.scratchCount) { columns in
            while true {
                let tile = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if tile >= tiles { break }
                run(tile, columns, splitChannels: false)
            }
        }
    }
}

/// im2col for output rows firstRow..<firstRow+rows of one image x [C, H, W], for `channels` only:
/// cols[((c - firstChannel)·kh + ky)·kw + kx, r·W' + j] = x[c, (firstRow + r)·s + ky - p, j·s + kx - p],
/// zero outside (`columns` holds the rows of channels from `firstChannel` on).
func unfoldRows(_ x: UnsafePointer<Float>, _ g: ConvolutionGeometry, channels: Range<Int>, firstChannel: Int = 0,
                firstRow: Int, rows: Int, into columns: UnsafeMutablePointer<Float>) {
    let (w, ow, s, p) = (g.width, g.outWidth, g.stride, g.padding)
    var destination = columns + (channels.lowerBound - firstChannel) * g.kernelHeight * g.kernelWidth * rows * ow
    for ch in channels {
        let plane = x + ch * g.height * w
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                // Output columns j whose input column j·s + kx - p lies inside [0, w).
                let first = p > kx ? (p - kx + s - 1) / s : 0
                let lastInput = w - 1 - kx + p
                let end = lastInput < 0 ? 0 : min(ow, lastInput / s + 1)
                for r in 0..<rows {
                    let row = destination + r * ow
                    let iy = (firstRow + r) * s + ky - p
                    if iy < 0 || iy >= g.height || end <= first {
                        row.update(repeating: 0, count: ow)
                        continue
                    }
                    if first > 0 { row.update(repeating: 0, count: first) }
                    if end < ow { (row + end).update(repeating: 0, count: ow - end) }
                    let source = plane + iy * w + kx - p
                    if s == 1 {
                        (row + first).update(from: source + first, count: end - first)
                    } else {
                        for j in first..<end { row[j] = source[j * s] }
                    }
                }
                destination += rows * ow
            }
        }
    }
}

/// Reference twin of `conv2d`: the direct loops, accumulated in Double.
public func conv2dReference(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
    precondition(x.rank == 4 && weight.rank == 4 && x.shape[1] == weight.shape[1], "conv2d: x \(x.shape) with weight \(weight.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let oh = convolvedExtent(h, kernel: kh, stride: stride, padding: padding)
    let ow = convolvedExtent(w, kernel: kw, stride: stride, padding: padding)
    var y = Tensor(zeros: [n, o, oh, ow])
    for b in 0..<n {
        for oc in 0..<o {
            for i in 0..<oh {
                for j in 0..<ow {
                    var sum = Double(bias?.storage[oc] ?? 0)
                    for ic in 0..<c {
                        for ky in 0..<kh {
                            let iy = i * stride + ky - padding
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kw {
                                let ix = j * stride + kx - padding
                                if ix < 0 || ix >= w { continue }
                                sum += Double(weight.storage[((oc * c + ic) * kh + ky) * kw + kx])
                                    * Double(x.storage[((b * c + ic) * h + iy) * w + ix])
                            }
                        }
                    }
                    y.storage[((b * o + oc) * oh + i) * ow + j] = Float(sum)
                }
            }
        }
    }
    return y
}
