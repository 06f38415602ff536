import Foundation
import Tensor

/// diffusers' `AutoencoderKL`: the VAE that maps images to latents (encoder, then the mean and
/// log-variance of a diagonal Gaussian) and latents back to images (decoder). Latents the
/// denoiser sees are the VAE's own latents scaled by `scaling` (the `LatentDecoder` methods apply
/// it; `encode(_:)` and `decode(_:)` work at the VAE's own scale).
public struct AutoencoderKL {
    /// The config's `scaling_factor` (and shift or per-channel mean and deviation).
    public let scaling: LatentScaling
    /// Multiply encoder latents by this before the UNet; divide before decoding.
    public var scalingFactor: Float { scaling.scalingFactor }
    public let latentChannels: Int
    /// Resolution levels (`block_out_channels`): each but the last halves the size.
    let levels: Int
    /// The most channels a tensor at full image resolution has (the last up block's input, or
    /// the first down block's): what sizes the VAE's peak memory.
    public let fullResolutionChannels: Int
    let encoder: VAEEncoder
    let decoder: VAEDecoder
    let quantConv: Conv2d?
    let postQuantConv: Conv2d?

    /// Builds the model from its config, reading weights named as diffusers names them.
    public init(config: AutoencoderKLConfig, weights: any WeightSource) throws {
        try config.validate()
        let latent = config.latentChannels
        scaling = LatentScaling(config: config)
        latentChannels = latent
        levels = config.blockOutChannels.count
        fullResolutionChannels = config.blockOutChannels.prefix(2).max() ?? 0
        encoder = try VAEEncoder(weights, "encoder", config: config)
        decoder = try VAEDecoder(weights, "decoder", config: config)
        quantConv = config.useQuantConv ? try Conv2d(weights, "quant_conv", input: 2 * latent, output: 2 * latent, kernel: 1) : nil
        postQuantConv = config.usePostQuantConv ? try Conv2d(weights, "post_quant_conv", input: latent, output: latent, kernel: 1) : nil
    }

    /// image [N, 3, H, W] in [-1, 1] -> (mean, logvar) [N, latent, H/f, W/f]; logvar clamped to [-30, 20].
    public func encode(_ image: Tensor) -> (mean: Tensor, logvar: Tensor) { encode(image, check: {}) }

    /// As `encode(_:)`; `check` runs before every resnet (cancellation).
    public func encode(_ image: Tensor, check: () throws -> Void) rethrows -> (mean: Tensor, logvar: Tensor) {
        distribution(try moments(image, check: check))
    }

    /// The encoder half: image [N, 3, H, W] -> moments [N, 2 * latent, H/f, W/f] (after
    /// `quant_conv`, before the split and the clamp): what tiled encoding blends.
    public func moments(_ image: Tensor, check: () throws -> Void) rethrows -> Tensor {
        let moments = try encoder(image, check: check)  // [N, 2 * latent, h, w]
        return quantConv.map { $0(moments) } ?? moments
    }

    /// diffusers' `DiagonalGaussianDistribution(moments)`: (mean, logvar clamped to [-30, 20]).
    public func distribution(_ moments: Tensor) -> (mean: Tensor, logvar: Tensor) {
        let parts = splitChannels(moments, parts: 2)  // mean, log-variance
        var logvar = parts[1]
        for i in 0..<logvar.count { logvar.storage[i] = min(20, max(-30, logvar.storage[i])) }
        return (parts[0], logvar)
    }

    /// diffusers' `retrieve_latents(vae.encode(image), generator)` from the encoder's moments:
    /// `mean + exp(logvar / 2) * noise`, one draw from `random`, then scaled for the denoiser.
    public func sampledLatents<Random: RandomSource>(moments: Tensor, random: inout Random) -> Tensor {
        let (mean, logvar) = distribution(moments)
        let draw = random.normal(shape: mean.shape)
        var encoded = mean
        for i in 0..<encoded.count {
            encoded.storage[i] = mean.storage[i] + exp(0.5 * logvar.storage[i]) * draw.storage[i]
        }
        return scaling.denoiserLatents(encoded)
    }

    /// latent [N, latent, h, w] (the VAE's own scale, not multiplied by `scalingFactor`) -> image [N, 3, H, W]
    public func decode(_ latent: Tensor) -> Tensor { decode(latent, check: {}) }

    /// As `decode(_:)`; `check` runs before every resnet (cancellation).
    public func decode(_ latent: Tensor, check: () throws -> Void) rethrows -> Tensor {
        var z = latent
        if let postQuantConv { z = postQuantConv(z) }
        return try decoder(z, check: check)
    }
}

/// The VAE's single-head spatial self-attention (diffusers `Attention` with group norm and a
/// residual): every pixel attends to every pixel of the same image.
struct VAEAttention {
    let norm: GroupNorm
    let attention: Attention

    init(_ weights: any WeightSource, _ name: String, channels: Int, groups: Int) throws {
        norm = try GroupNorm(weights, name + ".group_norm", groups: groups, channels: channels, eps: 1e-6)
        attention = try Attention(weights, name, queryDim: channels, contextDim: nil, heads: 1, headDim: channels, qkvBias: true)
    }

    /// x [N, C, H, W] -> [N, C, H, W]
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = attention(nchwToTokens(norm(x)))  // [N, H*W, C]
        return add(tokensToNCHW(h, height: x.shape[2], width: x.shape[3]), x)
    }
}

/// `UNetMidBlock2D` without time embedding: resnet, (attention), resnet.
struct VAEMidBlock {
    let first: ResnetBlock2D
    let attention: VAEAttention?
    let second: ResnetBlock2D

    init(_ weights: any WeightSource, _ name: String, channels: Int, groups: Int, withAttention: Bool) throws {
        first = try ResnetBlock2D(weights, name + ".resnets.0", input: channels, output: channels, timeEmbeddingChannels: nil, groups: groups, eps: 1e-6)
        attention = withAttention ? try VAEAttention(weights, name + ".attentions.0", channels: channels, groups: groups) : nil
        second = try ResnetBlock2D(weights, name + ".resnets.1", input: channels, output: channels, timeEmbeddingChannels: nil, groups: groups, eps: 1e-6)
    }

    func callAsFunction(_ x: Tensor, check: () throws -> Void) rethrows -> Tensor {
        try check()
        var h = first(x)
        if let attention { h = attention(h) }
        try check()
        return second(h)
    }
}

/// A VAE block's resnets (`NAME.resnets.0...`): the first maps `input` to `output` channels,
/// the rest keep `output`; no time embedding, GroupNorm eps 1e-6.
func vaeResnets(_ weights: any WeightSource, _ name: String, count: Int, input: Int, output: Int,
                groups: Int) throws -> [ResnetBlock2D] {
    try (0..<count).map {
        try ResnetBlock2D(weights, name + ".resnets.\($0)", input: $0 == 0 ? input : output, output: output,
                          timeEmbeddingChannels: nil, groups: groups, eps: 1e-6)
    }
}

/// The VAE encoder: conv in, `DownEncoderBlock2D`s (resnets, then a stride-2 conv after
/// right/bottom zero padding), the mid block, norm + SiLU, conv out to 2 x latent channels.
struct VAEEncoder {
    let convIn: Conv2d
    let levels: [(resnets: [ResnetBlock2D], downsample: Conv2d?)]
    let mid: VAEMidBlock
    let normOut: GroupNorm
    let convOut: Conv2d

    init(_ weights: any WeightSource, _ name: String, config: AutoencoderKLConfig) throws {
        let channels = config.blockOutChannels, groups = config.normNumGroups
        convIn = try Conv2d(weights, name + ".conv_in", input: config.inChannels, output: channels[0], kernel: 3, padding: 1)
        var levels: [(resnets: [ResnetBlock2D], downsample: Conv2d?)] = []
        var input = channels[0]
        for (i, output) in channels.enumerated() {
            let resnets = try vaeResnets(weights, name + ".down_blocks.\(i)", count: config.layersPerBlock,
                                         input: input, output: output, groups: groups)
            let downsample = i == channels.count - 1 ? nil
                : try Conv2d(weights, name + ".down_blocks.\(i).downsamplers.0.conv", input: output, output: output, kernel: 3, stride: 2)
            levels.append((resnets, downsample))
            input = output
        }
        self.levels = levels
        mid = try VAEMidBlock(weights, name + ".mid_block", channels: channels[channels.count - 1], groups: groups,
                              withAttention: config.midBlockAddAttention)
        normOut = try GroupNorm(weights, name + ".conv_norm_out", groups: groups, channels: channels[channels.count - 1], eps: 1e-6)
        convOut = try Conv2d(weights, name + ".conv_out", input: channels[channels.count - 1], output: 2 * config.latentChannels,
                             kernel: 3, padding: 1)
    }

    /// image [N, 3, H, W] -> moments [N, 2 * latent, H/f, W/f]
    func callAsFunction(_ x: Tensor, check: () throws -> Void) rethrows -> Tensor {
        var h = convIn(x)
        for level in levels {
            for resnet in level.resnets {
                try check()
                h = resnet(h)
            }
            if let downsample = level.downsample {
                h = downsample(pad2d(h, top: 0, bottom: 1, left: 0, right: 1))  // [N, C, H/2, W/2]
            }
        }
        h = try mid(h, check: check)
        h = normOut(h, silu: true)
        return convOut(h)
    }
}

/// The VAE decoder: conv in, the mid block, `UpDecoderBlock2D`s (resnets, then 2x nearest
/// upsampling and a conv), norm + SiLU, conv out to RGB.
struct VAEDecoder {
    let convIn: Conv2d
    let mid: VAEMidBlock
    let levels: [(resnets: [ResnetBlock2D], upsample: Conv2d?)]
    let normOut: GroupNorm
    let convOut: Conv2d

    init(_ weights: any WeightSource, _ name: String, config: AutoencoderKLConfig) throws {
        let reversed = Array(config.blockOutChannels.reversed()), groups = config.normNumGroups
        convIn = try Conv2d(weights, name + ".conv_in", input: config.latentChannels, output: reversed[0], kernel: 3, padding: 1)
        mid = try VAEMidBlock(weights, name + ".mid_block", channels: reversed[0], groups: groups, withAttention: config.midBlockAddAttention)
        var levels: [(resnets: [ResnetBlock2D], upsample: Conv2d?)] = []
        var input = reversed[0]
        for (i, output) in reversed.enumerated() {
            let resnets = try vaeResnets(weights, name + ".up_blocks.\(i)", count: config.layersPerBlock + 1,
                                         input: input, output: output, groups: groups)
            let upsample = i == reversed.count - 1 ? nil
                : try Conv2d(weights, name + ".up_blocks.\(i).upsamplers.0.conv", input: output, output: output, kernel: 3, padding: 1)
            levels.append((resnets, upsample))
            input = output
        }
        self.levels = levels
        let last = reversed[reversed.count - 1]
        normOut = try GroupNorm(weights, name + ".conv_norm_out", groups: groups, channels: last, eps: 1e-6)
        convOut = try Conv2d(weights, name + ".conv_out", input: last, output: config.outChannels, kernel: 3, padding: 1)
    }

    /// latent [N, latent, h, w] -> image [N, 3, h*f, w*f]
    func callAsFunction(_ z: Tensor, check: () throws -> Void) rethrows -> Tensor {
        var h = convIn(z)
        h = try mid(h, check: check)
        for level in levels {
            for resnet in level.resnets {
                try check()
                h = resnet(h)
            }
            if let upsample = level.upsample {
                h = upsample(upsampleNearest2x(h))  // [N, C, 2H, 2W]
            }
        }
        h = normOut(h, silu: true)
        return convOut(h)
    }
}

/// Immutable after init (weights are only read), so one model serves several threads.
extension AutoencoderKL: @unchecked Sendable {}
