import Tensor

/// What a text conditioner hands the denoiser, opaque to the pipeline: the cross-attention
/// context and whatever else a model family conditions on. The pipeline only batches it for
/// classifier-free guidance (`batched(with:)`) and checks it is finite.
///
/// - SD 1.x / 2.x: `crossAttention` only, one CLIP's hidden states [N, 77k, width].
/// - SDXL: `crossAttention` CLIP-L and OpenCLIP-bigG hidden states joined along the width
///   [N, 77k, 2048], `pooled` bigG's projected pooled output [N, 1280] and `timeIds` the size
///   and crop conditioning (original size, crop top-left, target size) [N, 6].
/// - SD3 / Flux (MMDiT): `crossAttention` the joint text tokens (CLIP + T5), `pooled` the CLIP
///   pooled vectors.
public struct Conditioning: Sendable {
    /// [N, tokens, width]: the context the denoiser attends to.
    public var crossAttention: Tensor
    /// [N, width]: a pooled text embedding, for models that take one (nil for SD 1.x / 2.x).
    public var pooled: Tensor?
    /// [N, k]: extra per-sample conditioning values (SDXL's size and crop ids), nil when none.
    public var timeIds: Tensor?

    public init(crossAttention: Tensor, pooled: Tensor? = nil, timeIds: Tensor? = nil) {
        self.crossAttention = crossAttention
        self.pooled = pooled
        self.timeIds = timeIds
    }

    /// This conditioning's samples followed by `other`'s, every part joined along the batch (CFG's
    /// [unconditional, conditional] batch of 2). Both must come from the same conditioner (the
    /// same parts, the same token count).
    public func batched(with other: Conditioning) -> Conditioning {
        precondition((pooled == nil) == (other.pooled == nil) && (timeIds == nil) == (other.timeIds == nil),
                     "conditionings from different conditioners")
        func join(_ a: Tensor?, _ b: Tensor?) -> Tensor? {
            guard let a, let b else { return nil }
            return concatBatch(a, b)
        }
        return Conditioning(crossAttention: concatBatch(crossAttention, other.crossAttention),
                            pooled: join(pooled, other.pooled), timeIds: join(timeIds, other.timeIds))
    }

    /// Whether every part is finite (a text encoder with broken weights gives NaN).
    public var isFinite: Bool {
        crossAttention.isFinite && (pooled?.isFinite ?? true) && (timeIds?.isFinite ?? true)
    }
}

/// What a text conditioner is asked for: the prompts, A1111's clip skip and the image size
/// (which SDXL's conditioner turns into its size and crop ids: original and target size, crop
/// top-left 0, 0).
public struct ConditioningRequest: Sendable, Equatable {
    public var prompt: String
    /// The negative prompt when guided (CFG != 1), nil otherwise.
    public var negativePrompt: String?
    public var clipSkip: Int
    /// The image size in pixels.
    public var width: Int
    public var height: Int

    public init(prompt: String, negativePrompt: String?, clipSkip: Int = 1, width: Int, height: Int) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.clipSkip = clipSkip
        self.width = width
        self.height = height
    }
}

/// Prompts -> `Conditioning`: the text side of a model (today one CLIP text encoder with A1111's
/// prompt syntax; SDXL's CLIP-L + OpenCLIP-bigG and SD3's CLIP + T5 are further conformances).
public protocol TextConditioner: Sendable {
    /// Transformer layers of the text encoder A1111's clip skip counts back over (clip skip runs
    /// from 1 to this + 1).
    var layerCount: Int { get }

    /// The conditioning of the prompt, and with a negative prompt (for CFG) that of the negative
    /// prompt, the same length as the prompt's. Errors are one line.
    func encode(_ request: ConditioningRequest) throws(GenerationError) -> (positive: Conditioning, negative: Conditioning?)
}
