import Foundation

/// The memory a generation needs beyond the loaded weights, estimated before any work so a size
/// the machine cannot hold is refused with the figure instead of growing until an allocation
/// aborts the process (`-W 8192 -H 8192` on the bundled model needed tens of GB).
///
/// The peak is the VAE at full resolution: a decode (or an img2img encode) keeps about six
/// tensors of `fullResolutionChannels` floats per pixel alive at once (measured on the bundled
/// model: 0.82 KB per pixel at 512x512, 0.68 KB at 1024x1024, against 6 x 32 x 4 = 0.77 KB);
/// the UNet's largest activations are at 1/8 of the size and its attention works in slices of a
/// fixed budget, so they add comparatively little.
///
/// With VAE tiling (`TiledDecoder`) the VAE's part is one tile's activations, one row of decoded
/// tiles and the result instead: bounded whatever the size, so a size that fits only tiled is
/// tiled (under `.auto`) rather than refused.
public struct MemoryEstimate: Sendable, Equatable {
    /// Bytes the generation is expected to need at its peak: the least its tiling setting allows
    /// (tiled when tiling is on or automatic and possible, else whole).
    public let bytes: Double
    /// The peak with the VAE working on the whole image.
    public let wholeBytes: Double
    /// The peak with the VAE working in tiles; nil when the image fits in one tile or the decoder
    /// cannot tile.
    public let tiledBytes: Double?
    /// The tiled VAE's own part of `tiledBytes` (a tile's activations, a row of tiles, the result).
    let tiledVAEBytes: Double?
    /// Whether the VAE's part (rather than the UNet's) decides `bytes`.
    let decodePeak: Bool
    let tiling: VAETiling
    let width: Int
    let height: Int

    /// Live full-resolution tensors while decoding.
    static let liveFullResolutionTensors = 6.0
    /// Live UNet activations at its first level (per batch entry).
    static let liveUNetTensors = 10.0
    /// `.auto` tiles when the whole run would need more than this share of the memory available:
    /// the rest is headroom for the estimate's error and the page cache the weights are mapped in.
    static let autoTilingShare = 0.75

    public init(request: GenerationRequest, model: StableDiffusionModel) {
        let (w, h) = request.size(for: model)
        let pixels = Double(w) * Double(h)
        let channels = Double(model.decoder.fullResolutionChannels)
        let vae = Self.liveFullResolutionTensors * channels * 4 * pixels
        let latentPixels = pixels / Double(model.vaeScaleFactor * model.vaeScaleFactor)
        let batch = request.isGuided ? 2.0 : 1.0
        let unet = Self.liveUNetTensors * Double(model.denoiser.activationChannels) * 4 * batch * latentPixels
        wholeBytes = max(vae, unet) + 3 * pixels  // + the image's bytes
        let tile = TiledDecoder.tileSize(for: model)
        if model.decoder is any TileableLatentDecoder, w > tile || h > tile {
            // One tile's activations, a row of decoded RGB tiles (and the one above it being
            // blended), the Float32 result.
            let tilePixels = Double(min(tile, w) * min(tile, h))
            let columns = (Double(w) / (Double(tile) * 0.75)).rounded(.up) + 1
            let tiledVAE = Self.liveFullResolutionTensors * channels * 4 * tilePixels + columns * 12 * tilePixels + 12 * pixels
            tiledBytes = max(tiledVAE, unet) + 3 * pixels
            tiledVAEBytes = tiledVAE
        } else {
            (tiledBytes, tiledVAEBytes) = (nil, nil)
        }
        tiling = request.vaeTiling
        switch (request.vaeTiling, tiledBytes) {
        case (.off, _), (_, nil): bytes = wholeBytes
        case (.on, let tiled?): bytes = tiled
        case (.auto, let tiled?): bytes = min(tiled, wholeBytes)
        }
        decodePeak = bytes - 3 * pixels > unet
        (width, height) = (w, h)
    }

    /// Whether the run tiles its VAE: `.on` whenever the image is larger than a tile, `.auto` when
    /// the whole run would need more than `autoTilingShare` of the memory `available`.
    public func tilesVAE(available: Double? = Self.availableBytes()) -> Bool {
        guard tiledBytes != nil else { return false }
        switch tiling {
        case .on: return true
        case .off: return false
        case .auto:
            guard let available else { return false }
            return wholeBytes > Self.autoTilingShare * available
        }
    }

    /// Refuses when the estimate exceeds the memory available now, suggesting VAE tiling when it
    /// was turned off and would fit.
    public func check(available: Double? = Self.availableBytes()) throws(GenerationError) {
        guard let available, bytes > available else { return }
        var advice = "use a smaller size"
        if tiling == .off, let tiledBytes, tiledBytes <= available {
            advice = "use VAE tiling (--vae-tiling; about \(Self.format(tiledBytes))) or a smaller size"
        }
        throw .invalid("\(width)x\(height) needs about \(Self.format(bytes)) of memory while \(decodePeak ? "decoding" : "sampling"), "
                       + "more than the \(Self.format(available)) available; \(advice)")
    }

    /// Memory available to this process now: the kernel's MemAvailable, or the cgroup's limit
    /// minus its use when that is lower; nil when neither can be read.
    public static func availableBytes() -> Double? {
        var available: Double?
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            available = kilobytes * 1024
        }
        func number(_ path: String) -> Double? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if let limit = number("/sys/fs/cgroup/memory.max"), let used = number("/sys/fs/cgroup/memory.current") {
            available = min(available ?? .infinity, max(0, limit - used))
        }
        return available
    }

    static func format(_ bytes: Double) -> String {
        bytes >= 1e9 ? String(format: "%.1f GB", bytes / 1e9) : String(format: "%.0f MB", bytes / 1e6)
    }
}
