import CBLAS
import CKernels
import Synchronization

/// How a 3x3 stride-1 convolution runs the Winograd F(4x4, 3x3) way (Sources/CKernels/winograd.c):
/// the weights are transformed once per call into U [36][O][C]; workers take blocks of 4x4 output
/// tiles, transform their inputs into V [36][C][T], form the 36 products M[ξ] = U[ξ] · V[ξ] with
/// single-threaded sgemm, and transform M straight into the output (with the bias). A quarter of
/// direct convolution's multiplies; no im2col copy (nine floats per input float) at all.
struct WinogradPlan {
    let tilesX, tilesY: Int
    /// Tiles per block (a multiple of 16, the transforms' lane count, except a last partial block).
    let blockTiles: Int
    let blocksPerImage: Int
    /// Output channels per pass: all of them, or the fewest passes that keep U within
    /// `weightBudget`, shared out evenly (each pass transforms the inputs again, a small cost next
    /// to its products; an even split keeps the last pass's sgemm as large as the others).
    let outputChunk: Int

    var tilesPerImage: Int { tilesX * tilesY }

    /// Floats of V plus M one worker holds for a block (16 MB): blocks shrink as channels grow.
    /// Large blocks matter (sgemm packs U[ξ] again for every block): at 8 MB the VAE's 512-channel
    /// layers got 48-tile blocks and its half-precision decode lost 10-25%; at 16 MB (112 tiles)
    /// it is within 3% of 32 MB, which would cost 32 MB more scratch on two workers.
    static let blockBudget = 1 << 22
    /// Floats of transformed weights U [36][chunk][C] held at once (40 MB): the VAE's 512-channel
    /// layers (36 MB) in one pass; SD1.5's UNet at 32x32 (59-177 MB) in 2-5 passes.
    static let weightBudget = 10 << 20
    /// Below these the transforms cost more than they save (measured: see docs/DECISIONS.md).
    static let minimumChannels = 16, minimumTiles = 64

    /// The plan for this convolution, or nil where it should not go the Winograd way.
    init?(batch: Int, _ g: ConvolutionGeometry, outChannels: Int, threads: Int, weightBudget: Int = Self.weightBudget) {
        guard g.kernelHeight == 3, g.kernelWidth == 3, g.stride == 1,
              g.channels >= Self.minimumChannels, outChannels >= Self.minimumChannels else { return nil }
        tilesX = (g.outWidth + 3) / 4
        tilesY = (g.outHeight + 3) / 4
        let tiles = tilesX * tilesY
        guard batch * tiles >= Self.minimumTiles else { return nil }
        if 36 * outChannels * g.channels <= weightBudget {
            outputChunk = outChannels
        } else {
            let largest = max(16, weightBudget / (36 * g.channels) / 16 * 16)
            let passes = (outChannels + largest - 1) / largest
            outputChunk = min(largest, ((outChannels + passes - 1) / passes + 15) / 16 * 16)
        }
        var block = max(32, Self.blockBudget / (36 * (g.channels + outputChunk))) / 16 * 16
        // Enough blocks that every thread gets work (more, smaller blocks lose more to sgemm at 32x32).
        while block > 16 && batch * ((tiles + block - 1) / block) < threads { block -= 16 }
        blockTiles = min(block, tiles)
        blocksPerImage = (tiles + blockTiles - 1) / blockTiles
    }
}

/// The Winograd convolution of `batch` images x [C, H, W] into output [O, H', W'] per image (plus
/// `residual`, laid out as the output, where given), with the transforms' variant for `isa`.
func winogradConvolution(_ x: UnsafePointer<Float>, batch: Int, _ g: ConvolutionGeometry, _ plan: WinogradPlan,
                         weight: WeightMatrix, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>? = nil,
                         outChannels: Int, output: UnsafeMutablePointer<Float>, threads: Int, isa: stipple_isa) {
    let c = g.channels
    let items = batch * plan.blocksPerImage
    let imageSize = c * g.height * g.width, planeSize = g.outHeight * g.outWidth
    ScratchPool.shared.withBuffer(count: 36 * plan.outputChunk * c) { transformed in
        for chunkStart in stride(from: 0, to: outChannels, by: plan.outputChunk) {
            let o = min(plan.outputChunk, outChannels - chunkStart)
            nonisolated(unsafe) let (src, u) = (x, transformed)
            nonisolated(unsafe) let b = bias.map { $0 + chunkStart }
            nonisolated(unsafe) let dst = output + chunkStart * planeSize, added = residual.map { $0 + chunkStart * planeSize }
            // This pass's output channels of the weight [O][C][3][3], as Float32 rows 9·C long, a
            // weight block at a time (one block for values in place): block rows k..<k+n fill U's
            // rows k..<k+n, so a converted weight needs no Float32 copy of the whole pass.
            let rowsPerBlock = weight.rowsPerBlock
            for first in stride(from: 0, to: o, by: rowsPerBlock) {
                let count = min(rowsPerBlock, o - first)
                weight.withBlock(rows: (chunkStart + first)..<(chunkStart + first + count), columns: 0..<(c * 9)) { rows, stride in
                    precondition(stride == c * 9, "winograd: weight rows \(stride) apart for \(c) channels")
                    nonisolated(unsafe) let (w, uRows) = (rows, u + first * c)
                    parallelChunks(count, grain: max(1, (1 << 14) / c)) { outputs in
                        stipple_winograd43_weights(w, uRows, Int32(o), Int32(c), Int32(outputs.lowerBound),
                                                   Int32(outputs.count), isa)
                    }
                }
            }
            let next = Atomic<Int>(0)
            parallelFor(min(threads, items)) { _ in
                ScratchPool.shared.withBuffer(count: 36 * (c + o) * plan.blockTiles) { v in
                    let m = v + 36 * c * plan.blockTiles
                    while true {
                        let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                        if item >= items { break }
                        let image = item / plan.blocksPerImage, block = item % plan.blocksPerImage
                        let first = block * plan.blockTiles, count = min(plan.blockTiles, plan.tilesPerImage - first)
                        stipple_winograd43_input(src + image * imageSize, Int32(c), Int32(g.height), Int32(g.width),
                                                 Int32(g.padding), Int32(plan.tilesX), Int32(first), Int32(count),
                                                 0, Int32(c), v, isa)
                        for xi in 0..<36 {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(count), Int32(c),
                                        1, u + xi * o * c, Int32(c), v + xi * c * count, Int32(count),
                                        0, m + xi * o * count, Int32(count))
                        }
                        // Output channel k of this pass is plane chunkStart + k of the image.
                        stipple_winograd43_output(m, b, added.map { $0 + image * outChannels * planeSize }, Int32(o),
                                                  Int32(g.outHeight), Int32(g.outWidth), Int32(plan.tilesX),
                                                  Int32(first), Int32(count), dst + image * outChannels * planeSize, isa)
                    }
                }
            }
        }
    }
}
