import Tensor

/// The network a sampler drives: latents at some timesteps, conditioned on a `Conditioning`, to
/// the model output in the model's own `parameterisation` (`UNet2DConditionModel`, which in SDXL
/// also reads `pooled` and `timeIds`; an MMDiT would be a further conformance).
/// It sees a batch: CFG runs [unconditional, conditional] as one call of 2.
public protocol Denoiser: Sendable {
    /// What the output means (epsilon, v, x0 or flow velocity).
    var parameterisation: Parameterisation { get }
    /// Latent channels in and out.
    var latentChannels: Int { get }
    /// The width of the conditioning's `crossAttention` it attends to.
    var contextWidth: Int { get }
    /// The most channels an activation has at full latent resolution (sizes peak memory).
    var activationChannels: Int { get }
    /// The latent size it was trained at (e.g. 64 for SD 1.x at 512 px), when known.
    var sampleSize: Int? { get }
    /// Whether the guidance scale is one of its inputs (`Conditioning.guidance`: LCM-distilled
    /// UNets' `time_cond_proj_dim`) instead of a second, unconditional pass.
    var embedsGuidance: Bool { get }

    /// latents [N, C, h, w], one timestep per sample, conditioning with batch N -> output
    /// [N, C, h, w]. `check` runs between layers; what it throws ends the call.
    func callAsFunction(_ latents: Tensor, timesteps: [Float], conditioning: Conditioning,
                        check: () throws -> Void) throws -> Tensor

    /// Lets go of the weights it holds in memory of its own until its next call, which loads them
    /// again (`ReloadingDenoiser`); nothing for one that reads its weights in place.
    func unload()
}

extension Denoiser {
    public func unload() {}
    public var embedsGuidance: Bool { false }
}

extension UNet2DConditionModel: Denoiser {
    public var latentChannels: Int { layout.inChannels }
    public var contextWidth: Int { layout.contextDim }
    public var activationChannels: Int { layout.levels.first?.channels ?? 0 }
    public var embedsGuidance: Bool { layout.guidanceEmbeddingWidth != nil }

    /// SD 1.x / 2.x conditioning is the cross-attention context alone; SDXL's UNet also reads the
    /// pooled text and the time ids, which must be there and as wide as its `add_embedding` takes.
    public func callAsFunction(_ latents: Tensor, timesteps: [Float], conditioning: Conditioning,
                               check: () throws -> Void) throws -> Tensor {
        if embedsGuidance && conditioning.guidance == nil {
            throw GenerationError.failed("this UNet takes the guidance scale as an input (LCM-distilled); none was given")
        }
        let guidance = conditioning.guidance.map { [Float](repeating: $0, count: latents.shape[0]) }
        guard let width = addedConditioningWidth, let idWidth = timeIdEmbeddingWidth else {
            return try self(latents, timesteps: timesteps, context: conditioning.crossAttention, guidance: guidance, check: check)
        }
        guard let pooled = conditioning.pooled, let timeIds = conditioning.timeIds, pooled.rank == 2, timeIds.rank == 2,
              pooled.shape[0] == latents.shape[0], timeIds.shape[0] == latents.shape[0],
              pooled.shape[1] + timeIds.shape[1] * idWidth == width else {
            throw GenerationError.failed("this UNet needs a pooled text embedding and time ids \(width) wide together "
                                         + "(SDXL's); the text conditioner gave none or other widths")
        }
        return try self(latents, timesteps: timesteps, context: conditioning.crossAttention,
                        added: (pooled, timeIds), guidance: guidance, check: check)
    }
}
