import Foundation
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
    /// The guidance scale, for a denoiser that takes it as an input (`Denoiser.embedsGuidance`:
    /// LCM); the pipeline sets it, nil otherwise.
    public var guidance: Float?

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
        var joined = Conditioning(crossAttention: concatBatch(crossAttention, other.crossAttention),
                                  pooled: join(pooled, other.pooled), timeIds: join(timeIds, other.timeIds))
        joined.guidance = guidance
        return joined
    }

    /// Whether every part is finite (a text encoder with broken weights gives NaN).
    public var isFinite: Bool {
        crossAttention.isFinite && (pooled?.isFinite ?? true) && (timeIds?.isFinite ?? true)
    }
}

/// What a text conditioner is asked for: the prompts, A1111's clip skip, the image size (which
/// SDXL's conditioner turns into its size and crop ids: original size, crop top-left, target
/// size) and the textual-inversion embeddings the prompts may name.
public struct ConditioningRequest: Sendable, Equatable {
    public var prompt: String
    /// The negative prompt when guided (CFG != 1), nil otherwise.
    public var negativePrompt: String?
    public var clipSkip: Int
    /// The image size in pixels (SDXL's target size).
    public var width: Int
    public var height: Int
    /// SDXL's micro-conditioning: the size of the image the model is told the picture was cut
    /// from (nil: the image size, as A1111 and diffusers default) and the top-left corner of the
    /// cut (0, 0 by default).
    public var sizeConditioning: SizeConditioning
    /// Where embeddings named in the prompts are found (A1111's embeddings folder); nil: none,
    /// every word is text.
    public var embeddings: EmbeddingLibrary?

    public init(prompt: String, negativePrompt: String?, clipSkip: Int = 1, width: Int, height: Int,
                sizeConditioning: SizeConditioning = SizeConditioning(), embeddings: EmbeddingLibrary? = nil) {
        self.prompt = prompt
        self.negativePrompt = negativePrompt
        self.clipSkip = clipSkip
        self.width = width
        self.height = height
        self.sizeConditioning = sizeConditioning
        self.embeddings = embeddings
    }

    /// SDXL's six time ids: original height and width, crop top and left, target height and width.
    public var timeIds: [Float] {
        let original = (sizeConditioning.originalHeight ?? height, sizeConditioning.originalWidth ?? width)
        return [original.0, original.1, sizeConditioning.cropTop, sizeConditioning.cropLeft, height, width].map(Float.init)
    }
}

/// SDXL's size and crop conditioning beyond the image size (diffusers' `original_size` and
/// `crops_coords_top_left`, ComfyUI's `CLIPTextEncodeSDXL` width/height and crop_w/crop_h).
public struct SizeConditioning: Sendable, Equatable, Hashable {
    /// The original size in pixels; nil takes the image's.
    public var originalWidth: Int?
    public var originalHeight: Int?
    /// The crop's top-left corner in pixels.
    public var cropTop: Int
    public var cropLeft: Int

    public init(originalWidth: Int? = nil, originalHeight: Int? = nil, cropTop: Int = 0, cropLeft: Int = 0) {
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
        self.cropTop = cropTop
        self.cropLeft = cropLeft
    }

    /// Whether it says no more than the image size does (original = target, no crop).
    public var isDefault: Bool { self == SizeConditioning() }
}

/// Prompts -> `Conditioning`: the text side of a model (one CLIP text encoder with A1111's prompt
/// syntax, `CLIPTextConditioner`; SDXL's CLIP-L + OpenCLIP-bigG, `SDXLTextConditioner`; SD3's
/// CLIP + T5 would be a further conformance).
public protocol TextConditioner: Sendable {
    /// Transformer layers of the text encoder A1111's clip skip counts back over (clip skip runs
    /// from 1 to this + 1).
    var layerCount: Int { get }

    /// The conditioning of the prompt, and with a negative prompt (for CFG) that of the negative
    /// prompt, the same length as the prompt's. Errors are one line.
    func encode(_ request: ConditioningRequest) throws(GenerationError) -> (positive: Conditioning, negative: Conditioning?)

    /// The textual-inversion embeddings `encode` would use for `request`: each once, the prompt's
    /// before the negative prompt's (what infotext's `TI hashes` lists). Errors as `encode`'s.
    func embeddings(usedBy request: ConditioningRequest) throws(GenerationError) -> [TextualInversion]
}

extension TextConditioner {
    /// A conditioner that reads no embeddings uses none.
    public func embeddings(usedBy request: ConditioningRequest) throws(GenerationError) -> [TextualInversion] { [] }
}

/// A size in pixels (`WxH`).
public struct PixelDimensions: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { (self.width, self.height) = (width, height) }
}

/// A point in pixels (`TOP,LEFT`).
public struct PixelCorner: Sendable, Equatable {
    public var top: Int
    public var left: Int
    public init(top: Int, left: Int) { (self.top, self.left) = (top, left) }
}

extension SizeConditioning {
    /// `WxH` (e.g. `2048x1536`), each side checked by `GenerationLimits.originalSide`.
    public static func parseSize(_ text: String) throws(SettingError) -> PixelDimensions {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]) else {
            throw SettingError(description: "original size must be WIDTHxHEIGHT in pixels, e.g. 2048x1536, not \(GenerationLimits.shown(text))")
        }
        try GenerationLimits.originalSide.check(width)
        try GenerationLimits.originalSide.check(height)
        return PixelDimensions(width: width, height: height)
    }

    /// `TOP,LEFT` (e.g. `0,256`), each checked by `GenerationLimits.cropCoordinate`.
    public static func parseCorner(_ text: String) throws(SettingError) -> PixelCorner {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let top = Int(parts[0]), let left = Int(parts[1]) else {
            throw SettingError(description: "crop corner must be TOP,LEFT in pixels, e.g. 0,256, not \(GenerationLimits.shown(text))")
        }
        try GenerationLimits.cropCoordinate.check(top)
        try GenerationLimits.cropCoordinate.check(left)
        return PixelCorner(top: top, left: left)
    }
}
