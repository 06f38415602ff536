import Foundation
import Tensor

/// A latent decoder whose encoder output can be blended between tiles before it is sampled:
/// what `TiledDecoder` needs beyond `LatentDecoder`.
public protocol TileableLatentDecoder: LatentDecoder {
    /// image [N, 3, H, W] -> the encoder's moments [N, 2 * latent, H/f, W/f] at the VAE's own
    /// scale, before any sampling or clamping.
    func moments(_ image: Tensor, check: () throws -> Void) throws -> Tensor
    /// Moments (blended or whole) -> latents at the denoiser's scale, one draw from `random`.
    func sampledLatents<Random: RandomSource>(moments: Tensor, random: inout Random) -> Tensor
}

extension AutoencoderKL: TileableLatentDecoder {}

/// VAE tiling, as diffusers' `AutoencoderKL.enable_tiling()` does it: an image larger than one
/// tile is decoded (and encoded) in overlapping tiles, each through the whole VAE, and every tile
/// is blended linearly into the one above it and the one left of it (`blend_v`, `blend_h`, in
/// place, in diffusers' order) over a quarter of a tile before it is cropped into the result.
/// Peak memory is one tile's activations plus one row of decoded tiles and the result, whatever
/// the image size; each pixel is computed about (4/3)^2 = 1.8 times. The result differs from a
/// whole decode slightly (every tile normalises and attends over itself only).
public struct TiledDecoder: LatentDecoder {
    public let inner: any TileableLatentDecoder
    /// Tile side in pixels (diffusers' `tile_sample_min_size`); tiles in latents are this / `downscale`.
    public let tile: Int
    /// Fraction of a tile shared with its neighbour (diffusers' `tile_overlap_factor`).
    public let overlap: Double

    /// The tile side stipple uses when it tiles `model`'s VAE: the model's native size (what its VAE
    /// was trained at, as diffusers takes the VAE's `sample_size`), never under 512 pixels, so
    /// small models are not cut into tiles too small to normalise well.
    public static func tileSize(for model: StableDiffusionModel) -> Int { max(512, model.nativeSize) }

    public init(_ inner: any TileableLatentDecoder, tile: Int, overlap: Double = 0.25) {
        self.inner = inner
        // A whole number of latent cells, so a tile's pixels and latents correspond exactly.
        self.tile = max(tile / inner.downscale, 1) * inner.downscale
        self.overlap = min(max(overlap, 0), 0.75)
    }

    public var latentChannels: Int { inner.latentChannels }
    public var downscale: Int { inner.downscale }
    public var fullResolutionChannels: Int { inner.fullResolutionChannels }
    var latentTile: Int { tile / inner.downscale }

    /// diffusers' `tiled_decode` when the latents are larger than one tile, else the whole decode.
    public func decode(latents: Tensor, check: () throws -> Void) throws -> Tensor {
        guard latents.shape[2] > latentTile || latents.shape[3] > latentTile else {
            return try inner.decode(latents: latents, check: check)
        }
        return try Self.tiled(latents, inputTile: latentTile, outputTile: tile, overlap: overlap, check: check) {
            try inner.decode(latents: $0, check: check)
        }
    }

    /// diffusers' `_tiled_encode` (moments blended, then sampled once, as the whole encode
    /// samples) when the image is larger than one tile, else the whole encode.
    public func encode<Random: RandomSource>(image: Tensor, random: inout Random, check: () throws -> Void) throws -> Tensor {
        guard image.shape[2] > tile || image.shape[3] > tile else {
            return try inner.encode(image: image, random: &random, check: check)
        }
        let moments = try Self.tiled(image, inputTile: tile, outputTile: latentTile, overlap: overlap, check: check) {
            try inner.moments($0, check: check)
        }
        return inner.sampledLatents(moments: moments, random: &random)
    }

    /// Why a tiled run stopped: a tile's output was not the size the tiling expects.
    struct ShapeError: Error, CustomStringConvertible {
        let description: String
    }

    /// `body` over overlapping `inputTile`-sided tiles of `input` [N, C, H, W] (stride
    /// `inputTile * (1 - overlap)`), each output tile blended into its upper and left neighbours
    /// over `outputTile * overlap` rows and columns, then cropped to `outputTile - blend` and
    /// placed. Only the previous row of output tiles is kept.
    static func tiled(_ input: Tensor, inputTile: Int, outputTile: Int, overlap: Double, check: () throws -> Void,
                      body: (Tensor) throws -> Tensor) throws -> Tensor {
        let (n, height, width) = (input.shape[0], input.shape[2], input.shape[3])
        let stride = max(1, Int(Double(inputTile) * (1 - overlap)))
        let blend = Int(Double(outputTile) * overlap)
        let limit = outputTile - blend
        let (outHeight, outWidth) = (height * outputTile / inputTile, width * outputTile / inputTile)
        var result: Tensor?
        var above: [Tensor] = []
        var outY = 0
        for y in Swift.stride(from: 0, to: height, by: stride) {
            var row: [Tensor] = []
            var outX = 0
            var rowHeight = 0
            for x in Swift.stride(from: 0, to: width, by: stride) {
                try check()
                let (h, w) = (min(inputTile, height - y), min(inputTile, width - x))
                var out = try body(crop(input, y: y, x: x, height: h, width: w))
                guard out.rank == 4, out.shape[0] == n, out.shape[2] == h * outputTile / inputTile,
                      out.shape[3] == w * outputTile / inputTile else {
                    throw ShapeError(description: "a VAE tile of \(h)x\(w) gave \(out.shape), not the size tiling expects")
                }
                if !above.isEmpty { blendVertically(above[row.count], into: &out, extent: blend) }
                if let left = row.last { blendHorizontally(left, into: &out, extent: blend) }
                // Taken out of the optional while written, so the result is never copied.
                var target = result.take() ?? Tensor(zeros: [n, out.shape[1], outHeight, outWidth])
                let (ch, cw) = (min(limit, out.shape[2]), min(limit, out.shape[3]))
                guard outY + ch <= outHeight, outX + cw <= outWidth, out.shape[1] == target.shape[1] else {
                    throw ShapeError(description: "VAE tiles overran the \(outHeight)x\(outWidth) result")
                }
                paste(out, into: &target, y: outY, x: outX, height: ch, width: cw)
                result = target
                if !above.isEmpty { above[row.count] = Tensor(zeros: [0]) }  // blended into: free it
                row.append(out)
                outX += cw
                rowHeight = ch
            }
            above = row
            outY += rowHeight
        }
        guard let result, outY == outHeight else {
            throw ShapeError(description: "VAE tiles covered \(outY) of \(outHeight) rows")
        }
        return result
    }

    /// x[:, :, y ..< y + height, x ..< x + width] as its own tensor.
    static func crop(_ source: Tensor, y: Int, x: Int, height: Int, width: Int) -> Tensor {
        let (planes, h, w) = (source.shape[0] * source.shape[1], source.shape[2], source.shape[3])
        var out = Tensor(zeros: [source.shape[0], source.shape[1], height, width])
        source.storage.withUnsafeBufferPointer { src in
            out.storage.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for p in 0..<planes {
                    for row in 0..<height {
                        (d + (p * height + row) * width).update(from: s + (p * h + y + row) * w + x, count: width)
                    }
                }
            }
        }
        return out
    }

    /// Writes tile[:, :, :height, :width] into result at (y, x).
    static func paste(_ tile: Tensor, into result: inout Tensor, y: Int, x: Int, height: Int, width: Int) {
        let (planes, th, tw) = (tile.shape[0] * tile.shape[1], tile.shape[2], tile.shape[3])
        let (h, w) = (result.shape[2], result.shape[3])
        tile.storage.withUnsafeBufferPointer { src in
            result.storage.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for p in 0..<planes {
                    for row in 0..<height {
                        (d + (p * h + y + row) * w + x).update(from: s + (p * th + row) * tw, count: width)
                    }
                }
            }
        }
    }

    /// diffusers' `blend_v`: b's first rows fade in from a's last rows, weight i / extent for b.
    static func blendVertically(_ a: Tensor, into b: inout Tensor, extent: Int) {
        let extent = min(a.shape[2], b.shape[2], extent)
        let (planes, ah, bh, w) = (b.shape[0] * b.shape[1], a.shape[2], b.shape[2], b.shape[3])
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeMutableBufferPointer { pb in
                for i in 0..<extent {
                    let t = Float(Double(i) / Double(extent)), s = Float(1 - Double(i) / Double(extent))
                    for p in 0..<planes {
                        let (ra, rb) = ((p * ah + ah - extent + i) * w, (p * bh + i) * w)
                        for x in 0..<w { pb[rb + x] = pa[ra + x] * s + pb[rb + x] * t }
                    }
                }
            }
        }
    }

    /// diffusers' `blend_h`: b's first columns fade in from a's last columns.
    static func blendHorizontally(_ a: Tensor, into b: inout Tensor, extent: Int) {
        let extent = min(a.shape[3], b.shape[3], extent)
        let (rows, aw, bw) = (b.shape[0] * b.shape[1] * b.shape[2], a.shape[3], b.shape[3])
        let weights = (0..<extent).map { i in (Float(1 - Double(i) / Double(extent)), Float(Double(i) / Double(extent))) }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeMutableBufferPointer { pb in
                for r in 0..<rows {
                    let (ra, rb) = (r * aw + aw - extent, r * bw)
                    for i in 0..<extent { pb[rb + i] = pa[ra + i] * weights[i].0 + pb[rb + i] * weights[i].1 }
                }
            }
        }
    }
}
