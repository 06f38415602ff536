import Foundation
import Tensor

/// Pixels <-> the latents a denoiser works on (today `AutoencoderKL`; TAESD is a further
/// conformance). It owns the latent scaling: `decode` takes latents at the denoiser's scale and
/// `encode` returns them there, so the pipeline never sees the VAE's own scale.
public protocol LatentDecoder: Sendable {
    /// Channels of a latent.
    var latentChannels: Int { get }
    /// Pixels per latent cell along each side (8 for SD's VAE).
    var downscale: Int { get }
    /// The most channels a tensor at full image resolution has (sizes peak memory).
    var fullResolutionChannels: Int { get }

    /// latents [N, C, h, w] at the denoiser's scale -> image [N, 3, h * downscale, w * downscale]
    /// in [-1, 1]. `check` runs between layers; what it throws ends the call.
    func decode(latents: Tensor, check: () throws -> Void) throws -> Tensor
    /// image [N, 3, H, W] in [-1, 1] -> latents at the denoiser's scale; a VAE samples its latent
    /// distribution with `random` (one normal draw of the latent's shape).
    func encode<Random: RandomSource>(image: Tensor, random: inout Random, check: () throws -> Void) throws -> Tensor
}

/// How a VAE's own latents z map to the denoiser's, as diffusers' pipelines apply the config:
/// `(z - shift_factor) * scaling_factor` (SD3, Flux), `(z - latents_mean) * scaling_factor /
/// latents_std` per channel (SDXL-family VAEs that give them), else `z * scaling_factor` (SD 1.x /
/// 2.x, SDXL). Configs that mix them, or give a mean without a deviation, are refused at load
/// (`AutoencoderKLConfig.validate`).
public struct LatentScaling: Sendable, Equatable {
    public var scalingFactor: Float
    public var shiftFactor: Float?
    /// Per channel, with `std`.
    public var mean: [Float]?
    public var std: [Float]?

    public init(scalingFactor: Float, shiftFactor: Float? = nil, mean: [Float]? = nil, std: [Float]? = nil) {
        self.scalingFactor = scalingFactor
        self.shiftFactor = shiftFactor
        self.mean = mean
        self.std = std
    }

    /// The scaling a (validated) VAE config states.
    public init(config: AutoencoderKLConfig) {
        self.init(scalingFactor: config.scalingFactor, shiftFactor: config.shiftFactor, mean: config.latentsMean,
                  std: config.latentsStd)
    }

    /// The VAE's latents `z` [N, C, h, w] at the denoiser's scale.
    public func denoiserLatents(_ z: Tensor) -> Tensor {
        let scale = scalingFactor
        if let mean, let std {
            return perChannel(z) { x, c in (x - mean[c]) * scale / std[c] }
        }
        if let shift = shiftFactor { return mapElements(z) { ($0 - shift) * scale } }
        return scaled(z, by: scale)
    }

    /// The denoiser's `latents` [N, C, h, w] at the VAE's own scale.
    public func vaeLatents(_ latents: Tensor) -> Tensor {
        let scale = scalingFactor
        if let mean, let std {
            return perChannel(latents) { x, c in x * std[c] / scale + mean[c] }
        }
        if let shift = shiftFactor { return mapElements(latents) { $0 / scale + shift } }
        return mapElements(latents) { $0 / scale }
    }

    /// `f(x, channel)` over an [N, C, h, w] tensor.
    func perChannel(_ x: Tensor, _ f: (Float, Int) -> Float) -> Tensor {
        let channels = x.shape.count > 1 ? x.shape[1] : 1
        let plane = x.shape.dropFirst(2).reduce(1, *)
        var values = x.storage
        for i in 0..<values.count { values[i] = f(values[i], (i / plane) % channels) }
        return Tensor(shape: x.shape, values: values)
    }
}

extension AutoencoderKL: LatentDecoder {
    public var downscale: Int { 1 << max(levels - 1, 0) }

    public func decode(latents: Tensor, check: () throws -> Void) rethrows -> Tensor {
        try decode(scaling.vaeLatents(latents), check: check)
    }

    /// diffusers' `retrieve_latents(vae.encode(image), generator)`: `mean + exp(logvar / 2) *
    /// noise`, one draw from `random`, then scaled for the denoiser.
    public func encode<Random: RandomSource>(image: Tensor, random: inout Random,
                                             check: () throws -> Void) rethrows -> Tensor {
        sampledLatents(moments: try moments(image, check: check), random: &random)
    }
}
