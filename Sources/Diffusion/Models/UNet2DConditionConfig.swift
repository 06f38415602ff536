/// diffusers' `UNet2DConditionModel` config: the `unet/config.json` of a diffusers model. Absent
/// keys take diffusers' constructor defaults; settings diffusers accepts once for all blocks or
/// as a per-block list are stored per down block (`[Int]` with one entry per
/// `downBlockTypes` entry), the up path using them reversed.
///
/// SD1.5's file (written by diffusers 0.6) holds only `act_fn`, `attention_head_dim: 8`,
/// `block_out_channels`, `center_input_sample`, `cross_attention_dim: 768`, the block types,
/// `downsample_padding`, `flip_sin_to_cos`, `freq_shift`, `in_channels`, `layers_per_block`,
/// `mid_block_scale_factor`, `norm_eps`, `norm_num_groups`, `out_channels` and `sample_size`;
/// SD2.1 adds `attention_head_dim: [5, 10, 20, 20]`, `use_linear_projection` and `upcast_attention`.
public struct UNet2DConditionConfig: DiffusersConfig, Equatable {
    /// Latent height and width the model was trained at (64 for SD1.5, 96 for SD2.1-768); nil when not given.
    public var sampleSize: Int?
    /// Channels of the input latent (4; 9 for inpainting models: latent, mask and masked-image latent).
    public var inChannels: Int = 4
    /// Channels of the prediction.
    public var outChannels: Int = 4
    /// Whether the input is mapped from [0, 1] to [-1, 1] first (`2 * x - 1`).
    public var centerInputSample: Bool = false
    /// Whether the sinusoidal timestep embedding puts cosines before sines.
    public var flipSinToCos: Bool = true
    /// `downscale_freq_shift` of the timestep embedding: frequencies are exp(-ln(10000) i / (half - shift)).
    public var freqShift: Float = 0
    /// Block class of each resolution level on the way down, highest resolution first.
    public var downBlockTypes: [UNetBlockType] = [.crossAttnDown, .crossAttnDown, .crossAttnDown, .down]
    /// Block class of the middle; nil (JSON null) for a UNet without a mid block.
    public var midBlockType: UNetBlockType? = .crossAttnMid
    /// Block class of each level on the way up, lowest resolution first.
    public var upBlockTypes: [UNetBlockType] = [.up, .crossAttnUp, .crossAttnUp, .crossAttnUp]
    /// Per down block: whether the transformer's first attention also attends to the text instead of itself.
    public var onlyCrossAttention: [Bool] = [false, false, false, false]
    /// Output channels of each level, highest resolution first.
    public var blockOutChannels: [Int] = [320, 640, 1280, 1280]
    /// Per down block: resnet blocks on the way down (up blocks have one more each, reversed).
    public var layersPerBlock: [Int] = [2, 2, 2, 2]
    /// Padding of the strided 3x3 downsampling convolutions.
    public var downsamplePadding: Int = 1
    /// Output scale of the mid block's resnets.
    public var midBlockScaleFactor: Float = 1
    /// Activation after norms and in the time embedding (`"silu"`).
    public var actFn: String = "silu"
    /// Groups of every GroupNorm.
    public var normNumGroups: Int = 32
    /// Epsilon of every GroupNorm (transformer LayerNorms use 1e-5).
    public var normEps: Float = 1e-5
    /// Per down block: width of the text embeddings cross-attention reads (768 for SD1, 1024 for SD2).
    public var crossAttentionDims: [Int] = [1280, 1280, 1280, 1280]
    /// Per down block: transformer blocks in each Transformer2DModel (1 in SD1/SD2; SDXL uses [1, 2, 10]).
    public var transformerLayersPerBlock: [Int] = [1, 1, 1, 1]
    /// Per up block lists of transformer depths for asymmetric UNets; nil in symmetric ones.
    public var reverseTransformerLayersPerBlock: [[Int]]?
    /// Width of encoder states to project to `cross_attention_dim` first; nil when none.
    public var encoderHidDim: Int?
    /// How such a projection is made (`"text_proj"`, `"text_image_proj"`, ...); nil when none.
    public var encoderHidDimType: String?
    /// Per down block, as written: diffusers reads this as the number of heads when
    /// `num_attention_heads` is absent (a historical misnomer); use `headCounts`.
    public var attentionHeadDim: [Int] = [8, 8, 8, 8]
    /// Per down block: attention heads, when given explicitly; nil in SD configs.
    public var numAttentionHeads: [Int]?
    /// Whether blocks carry two cross-attention transformers (Versatile Diffusion).
    public var dualCrossAttention: Bool = false
    /// Whether Transformer2DModel's proj_in/proj_out are linear layers (SD2) rather than 1x1 convolutions (SD1).
    public var useLinearProjection: Bool = false
    /// Kind of class embedding added to the time embedding; nil when none.
    public var classEmbedType: String?
    /// Kind of additional embedding (`"text_time"` in SDXL); nil when none.
    public var additionEmbedType: String?
    /// Width of SDXL's added time-id embedding; nil when none.
    public var additionTimeEmbedDim: Int?
    /// Number of classes of a class-conditioned UNet; nil when none.
    public var numClassEmbeds: Int?
    /// Whether attention scores are computed in float32 under half precision (no effect on CPU float32).
    public var upcastAttention: Bool = false
    /// How resnets take the time embedding: `"default"` (added) or `"scale_shift"`.
    public var resnetTimeScaleShift: String = "default"
    /// Whether resnets apply the activation to the time embedding before their projection.
    public var resnetSkipTimeAct: Bool = false
    /// Output scale of the resnets in the down and up blocks.
    public var resnetOutScaleFactor: Float = 1
    /// Timestep embedding: `"positional"` (sinusoidal) or `"fourier"`.
    public var timeEmbeddingType: String = "positional"
    /// Width of the time embedding, when not 4 x the first block's channels; nil for the default.
    public var timeEmbeddingDim: Int?
    /// Activation applied to the time embedding once more before the blocks; nil when none.
    public var timeEmbeddingActFn: String?
    /// Activation after the time embedding MLP; nil when none.
    public var timestepPostAct: String?
    /// Width of a guidance-scale condition added to the time embedding (LCM); nil when none.
    public var timeCondProjDim: Int?
    /// Kernel size of conv_in.
    public var convInKernel: Int = 3
    /// Kernel size of conv_out.
    public var convOutKernel: Int = 3
    /// Input width of a projection class embedding (2816 in SDXL); nil when none.
    public var projectionClassEmbeddingsInputDim: Int?
    /// Attention flavour: `"default"`, or `"gated"` / `"gated-text-image"` (GLIGEN).
    public var attentionType: String = "default"
    /// Whether class embeddings are concatenated to, rather than added to, the time embedding.
    public var classEmbeddingsConcat: Bool = false
    /// Whether the mid block's attention is cross-attention only; nil follows `onlyCrossAttention`.
    public var midBlockOnlyCrossAttention: Bool?
    /// Normalisation of the text states inside cross-attention (`"layer_norm"`, `"group_norm"`); nil when none.
    public var crossAttentionNorm: String?
    /// Heads of the text-image additional embedding.
    public var additionEmbedTypeNumHeads: Int = 64

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case centerInputSample = "center_input_sample"
        case flipSinToCos = "flip_sin_to_cos"
        case freqShift = "freq_shift"
        case downBlockTypes = "down_block_types"
        case midBlockType = "mid_block_type"
        case upBlockTypes = "up_block_types"
        case onlyCrossAttention = "only_cross_attention"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case downsamplePadding = "downsample_padding"
        case midBlockScaleFactor = "mid_block_scale_factor"
        case actFn = "act_fn"
        case normNumGroups = "norm_num_groups"
        case normEps = "norm_eps"
        case crossAttentionDims = "cross_attention_dim"
        case transformerLayersPerBlock = "transformer_layers_per_block"
        case reverseTransformerLayersPerBlock = "reverse_transformer_layers_per_block"
        case encoderHidDim = "encoder_hid_dim"
        case encoderHidDimType = "encoder_hid_dim_type"
        case attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads"
        case dualCrossAttention = "dual_cross_attention"
        case useLinearProjection = "use_linear_projection"
        case classEmbedType = "class_embed_type"
        case additionEmbedType = "addition_embed_type"
        case additionTimeEmbedDim = "addition_time_embed_dim"
        case numClassEmbeds = "num_class_embeds"
        case upcastAttention = "upcast_attention"
        case resnetTimeScaleShift = "resnet_time_scale_shift"
        case resnetSkipTimeAct = "resnet_skip_time_act"
        case resnetOutScaleFactor = "resnet_out_scale_factor"
        case timeEmbeddingType = "time_embedding_type"
        case timeEmbeddingDim = "time_embedding_dim"
        case timeEmbeddingActFn = "time_embedding_act_fn"
        case timestepPostAct = "timestep_post_act"
        case timeCondProjDim = "time_cond_proj_dim"
        case convInKernel = "conv_in_kernel"
        case convOutKernel = "conv_out_kernel"
        case projectionClassEmbeddingsInputDim = "projection_class_embeddings_input_dim"
        case attentionType = "attention_type"
        case classEmbeddingsConcat = "class_embeddings_concat"
        case midBlockOnlyCrossAttention = "mid_block_only_cross_attention"
        case crossAttentionNorm = "cross_attention_norm"
        case additionEmbedTypeNumHeads = "addition_embed_type_num_heads"
    }

    /// The diffusers defaults (an SD1-shaped UNet with 1280-wide cross-attention).
    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = UNet2DConditionConfig()
        sampleSize = try c.decodeSide(.sampleSize)
        inChannels = try c.decode(.inChannels, default: d.inChannels)
        outChannels = try c.decode(.outChannels, default: d.outChannels)
        centerInputSample = try c.decode(.centerInputSample, default: d.centerInputSample)
        flipSinToCos = try c.decode(.flipSinToCos, default: d.flipSinToCos)
        freqShift = try c.decode(.freqShift, default: d.freqShift)
        downBlockTypes = try c.decode(.downBlockTypes, default: d.downBlockTypes)
        midBlockType = try c.decodeNullable(.midBlockType, default: d.midBlockType)
        upBlockTypes = try c.decode(.upBlockTypes, default: d.upBlockTypes)
        let blocks = downBlockTypes.count
        onlyCrossAttention = try c.decodePerBlock(.onlyCrossAttention, count: blocks, default: false)
        blockOutChannels = try c.decode(.blockOutChannels, default: d.blockOutChannels)
        layersPerBlock = try c.decodePerBlock(.layersPerBlock, count: blocks, default: 2)
        downsamplePadding = try c.decode(.downsamplePadding, default: d.downsamplePadding)
        midBlockScaleFactor = try c.decode(.midBlockScaleFactor, default: d.midBlockScaleFactor)
        actFn = try c.decode(.actFn, default: d.actFn)
        normNumGroups = try c.decode(.normNumGroups, default: d.normNumGroups)
        normEps = try c.decode(.normEps, default: d.normEps)
        crossAttentionDims = try c.decodePerBlock(.crossAttentionDims, count: blocks, default: 1280)
        transformerLayersPerBlock = try c.decodePerBlock(.transformerLayersPerBlock, count: blocks, default: 1)
        reverseTransformerLayersPerBlock = try c.decodeIfPresent([[Int]].self, forKey: .reverseTransformerLayersPerBlock)
        encoderHidDim = try c.decodeIfPresent(Int.self, forKey: .encoderHidDim)
        encoderHidDimType = try c.decodeIfPresent(String.self, forKey: .encoderHidDimType)
        attentionHeadDim = try c.decodePerBlock(.attentionHeadDim, count: blocks, default: 8)
        numAttentionHeads = try c.decodePerBlockIfPresent(.numAttentionHeads, count: blocks)
        dualCrossAttention = try c.decode(.dualCrossAttention, default: d.dualCrossAttention)
        useLinearProjection = try c.decode(.useLinearProjection, default: d.useLinearProjection)
        classEmbedType = try c.decodeIfPresent(String.self, forKey: .classEmbedType)
        additionEmbedType = try c.decodeIfPresent(String.self, forKey: .additionEmbedType)
        additionTimeEmbedDim = try c.decodeIfPresent(Int.self, forKey: .additionTimeEmbedDim)
        numClassEmbeds = try c.decodeIfPresent(Int.self, forKey: .numClassEmbeds)
        upcastAttention = try c.decode(.upcastAttention, default: d.upcastAttention)
        resnetTimeScaleShift = try c.decode(.resnetTimeScaleShift, default: d.resnetTimeScaleShift)
        resnetSkipTimeAct = try c.decode(.resnetSkipTimeAct, default: d.resnetSkipTimeAct)
        resnetOutScaleFactor = try c.decode(.resnetOutScaleFactor, default: d.resnetOutScaleFactor)
        timeEmbeddingType = try c.decode(.timeEmbeddingType, default: d.timeEmbeddingType)
        timeEmbeddingDim = try c.decodeIfPresent(Int.self, forKey: .timeEmbeddingDim)
        timeEmbeddingActFn = try c.decodeIfPresent(String.self, forKey: .timeEmbeddingActFn)
        timestepPostAct = try c.decodeIfPresent(String.self, forKey: .timestepPostAct)
        timeCondProjDim = try c.decodeIfPresent(Int.self, forKey: .timeCondProjDim)
        convInKernel = try c.decode(.convInKernel, default: d.convInKernel)
        convOutKernel = try c.decode(.convOutKernel, default: d.convOutKernel)
        projectionClassEmbeddingsInputDim = try c.decodeIfPresent(Int.self, forKey: .projectionClassEmbeddingsInputDim)
        attentionType = try c.decode(.attentionType, default: d.attentionType)
        classEmbeddingsConcat = try c.decode(.classEmbeddingsConcat, default: d.classEmbeddingsConcat)
        midBlockOnlyCrossAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockOnlyCrossAttention)
        crossAttentionNorm = try c.decodeIfPresent(String.self, forKey: .crossAttentionNorm)
        additionEmbedTypeNumHeads = try c.decode(.additionEmbedTypeNumHeads, default: d.additionEmbedTypeNumHeads)
    }
}

extension UNet2DConditionConfig {
    /// Attention heads of each down block, diffusers' rule `num_attention_heads or attention_head_dim`:
    /// SD1's `attention_head_dim: 8` means 8 heads per block, SD2's `[5, 10, 20, 20]` 5 to 20 heads
    /// (64 channels each). The mid block uses the last entry; up blocks use them reversed.
    public var headCounts: [Int] { numAttentionHeads ?? attentionHeadDim }

    /// Width of the text embeddings cross-attention reads (validation ensures all blocks agree).
    public var crossAttentionDim: Int { crossAttentionDims.first ?? 1280 }

    /// Width of the time embedding: 4 x the first block's channels unless given.
    public var timeEmbeddingChannels: Int { timeEmbeddingDim ?? 4 * (blockOutChannels.first ?? 0) }

    /// Down block types stipple builds.
    public static let supportedDownBlockTypes: [UNetBlockType] = [.crossAttnDown, .down]
    /// Up block types stipple builds.
    public static let supportedUpBlockTypes: [UNetBlockType] = [.crossAttnUp, .up]
    /// Mid block types stipple builds.
    public static let supportedMidBlockTypes: [UNetBlockType] = [.crossAttnMid]

    /// The deepest transformer stack a level may have (SDXL's deepest is 10).
    public static let maximumTransformerDepth = 64

    /// Throws for settings our UNet does not build (class conditioning, LCM's guidance embedding,
    /// added embeddings other than SDXL's `text_time`, other block or embedding kinds), and for
    /// per-block lists whose length or values do not fit the blocks.
    public func validate() throws(CheckpointError) {
        func unsupported(_ key: String, _ value: Any, _ note: String) -> CheckpointError {
            CheckpointError(path: "", reason: .unsupportedConfig(key: key, value: "\(value)", note: note))
        }
        func invalid(_ detail: String) -> CheckpointError {
            CheckpointError(path: "", reason: .invalidConfig(detail))
        }
        if let additionEmbedType {
            guard additionEmbedType == "text_time" else {
                throw unsupported("addition_embed_type", additionEmbedType, "only SDXL's \"text_time\" (pooled text and size ids)")
            }
            guard let additionTimeEmbedDim, additionTimeEmbedDim > 0, additionTimeEmbedDim % 2 == 0 else {
                throw invalid("addition_embed_type \"text_time\" needs an even, positive addition_time_embed_dim")
            }
            guard let projectionClassEmbeddingsInputDim, projectionClassEmbeddingsInputDim > 0 else {
                throw invalid("addition_embed_type \"text_time\" needs projection_class_embeddings_input_dim (pooled width + ids x addition_time_embed_dim)")
            }
        }
        if let classEmbedType { throw unsupported("class_embed_type", classEmbedType, "class-conditioned UNets") }
        if let numClassEmbeds { throw unsupported("num_class_embeds", numClassEmbeds, "class-conditioned UNets") }
        if let encoderHidDim { throw unsupported("encoder_hid_dim", encoderHidDim, "projected encoder states, as in Kandinsky or DeepFloyd IF") }
        if let encoderHidDimType { throw unsupported("encoder_hid_dim_type", encoderHidDimType, "projected encoder states, as in Kandinsky or DeepFloyd IF") }
        if let timeCondProjDim, timeCondProjDim < 2 {
            throw invalid("time_cond_proj_dim \(timeCondProjDim) must be at least 2 (the guidance embedding's sines and cosines)")
        }
        if dualCrossAttention { throw unsupported("dual_cross_attention", true, "Versatile Diffusion") }
        if resnetTimeScaleShift != "default" { throw unsupported("resnet_time_scale_shift", resnetTimeScaleShift, "only \"default\": the time embedding is added") }
        if timeEmbeddingType != "positional" { throw unsupported("time_embedding_type", timeEmbeddingType, "only sinusoidal \"positional\" timestep embeddings") }
        if let timeEmbeddingDim { throw unsupported("time_embedding_dim", timeEmbeddingDim, "the time embedding is 4 x block_out_channels[0] wide") }
        if let timeEmbeddingActFn { throw unsupported("time_embedding_act_fn", timeEmbeddingActFn, "no extra time-embedding activation") }
        if let timestepPostAct { throw unsupported("timestep_post_act", timestepPostAct, "no activation after the time embedding") }
        if let sampleSize, !(1...1024).contains(sampleSize) {
            throw invalid("sample_size \(sampleSize) must be the latent size the UNet was trained at, from 1 to 1024")
        }
        if actFn != "silu" { throw unsupported("act_fn", actFn, "only silu") }
        if convInKernel != 3 { throw unsupported("conv_in_kernel", convInKernel, "only 3") }
        if convOutKernel != 3 { throw unsupported("conv_out_kernel", convOutKernel, "only 3") }
        if attentionType != "default" { throw unsupported("attention_type", attentionType, "GLIGEN-style gated attention") }
        if let crossAttentionNorm { throw unsupported("cross_attention_norm", crossAttentionNorm, "no normalisation of the text states") }
        if resnetSkipTimeAct { throw unsupported("resnet_skip_time_act", true, "resnets apply the activation to the time embedding") }
        if resnetOutScaleFactor != 1 { throw unsupported("resnet_out_scale_factor", resnetOutScaleFactor, "only 1") }
        if let reverseTransformerLayersPerBlock { throw unsupported("reverse_transformer_layers_per_block", reverseTransformerLayersPerBlock, "asymmetric UNets") }
        if let depth = transformerLayersPerBlock.first(where: { !(1...Self.maximumTransformerDepth).contains($0) }) {
            throw invalid("transformer_layers_per_block has \(depth); each level needs 1 to \(Self.maximumTransformerDepth) transformer blocks")
        }
        /// "only A and B" for the supported types of one place.
        func only(_ types: [UNetBlockType]) -> String {
            "only " + types.map(\.name).joined(separator: " and ")
        }
        for type in downBlockTypes where !Self.supportedDownBlockTypes.contains(type) {
            throw unsupported("down_block_types", type.name, only(Self.supportedDownBlockTypes))
        }
        for type in upBlockTypes where !Self.supportedUpBlockTypes.contains(type) {
            throw unsupported("up_block_types", type.name, only(Self.supportedUpBlockTypes))
        }
        guard let midBlockType, Self.supportedMidBlockTypes.contains(midBlockType) else {
            throw unsupported("mid_block_type", midBlockType?.name ?? "null", only(Self.supportedMidBlockTypes))
        }

        let blocks = downBlockTypes.count
        guard blocks > 0 else { throw invalid("down_block_types is empty") }
        guard upBlockTypes.count == blocks else {
            throw invalid("\(blocks) down_block_types but \(upBlockTypes.count) up_block_types")
        }
        let perBlock: [(String, Int)] = [
            ("block_out_channels", blockOutChannels.count), ("layers_per_block", layersPerBlock.count),
            ("attention_head_dim", attentionHeadDim.count), ("num_attention_heads", numAttentionHeads?.count ?? blocks),
            ("cross_attention_dim", crossAttentionDims.count), ("only_cross_attention", onlyCrossAttention.count),
            ("transformer_layers_per_block", transformerLayersPerBlock.count),
        ]
        for (key, count) in perBlock where count != blocks {
            throw invalid("\(key) has \(count) entries for \(blocks) down blocks")
        }
        guard Set(crossAttentionDims).count == 1 else {
            throw unsupported("cross_attention_dim", crossAttentionDims, "one text-embedding width for all blocks")
        }
        guard normNumGroups > 0, normEps > 0 else { throw invalid("norm_num_groups and norm_eps must be positive") }
        for i in 0..<blocks {
            let (channels, heads) = (blockOutChannels[i], headCounts[i])
            guard channels > 0, layersPerBlock[i] > 0, heads > 0 else {
                throw invalid("block_out_channels, layers_per_block and attention heads must be positive")
            }
            guard channels % normNumGroups == 0 else {
                throw invalid("block_out_channels \(channels) is not divisible by norm_num_groups \(normNumGroups)")
            }
            // Level i has attention if its down block, its up block (mirrored) or, for the last, the mid block has.
            let hasAttention = downBlockTypes[i].hasCrossAttention || upBlockTypes[blocks - 1 - i].hasCrossAttention || i == blocks - 1
            guard !hasAttention || channels % heads == 0 else {
                throw invalid("block_out_channels \(channels) is not divisible by its \(heads) attention heads")
            }
        }
        guard inChannels > 0, outChannels > 0 else { throw invalid("in_channels and out_channels must be positive") }
    }
}

/// A UNet block class of diffusers (`down_block_types`, `mid_block_type`, `up_block_types`).
/// Classes stipple does not build are kept by name, so `UNet2DConditionConfig.validate` refuses
/// them naming the key and the class (a config is read whole before it is checked).
public enum UNetBlockType: Hashable, Sendable, Codable {
    /// `CrossAttnDownBlock2D`: resnets with transformers, then a downsampler.
    case crossAttnDown
    /// `DownBlock2D`: resnets, then a downsampler.
    case down
    /// `UNetMidBlock2DCrossAttn`: resnet, transformer, resnet.
    case crossAttnMid
    /// `CrossAttnUpBlock2D`: resnets with transformers, then an upsampler.
    case crossAttnUp
    /// `UpBlock2D`: resnets, then an upsampler.
    case up
    /// Any other class (`SimpleCrossAttnDownBlock2D`, `AttnUpBlock2D`, ...).
    case unsupported(String)

    static let known: [UNetBlockType] = [.crossAttnDown, .down, .crossAttnMid, .crossAttnUp, .up]

    /// The type diffusers' class `name` is.
    public init(name: String) {
        self = Self.known.first { $0.name == name } ?? .unsupported(name)
    }

    /// diffusers' class name.
    public var name: String {
        switch self {
        case .crossAttnDown: "CrossAttnDownBlock2D"
        case .down: "DownBlock2D"
        case .crossAttnMid: "UNetMidBlock2DCrossAttn"
        case .crossAttnUp: "CrossAttnUpBlock2D"
        case .up: "UpBlock2D"
        case .unsupported(let name): name
        }
    }

    /// Whether the block has transformers (cross-attention to the text).
    public var hasCrossAttention: Bool {
        switch self {
        case .crossAttnDown, .crossAttnMid, .crossAttnUp: true
        case .down, .up, .unsupported: false
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init(name: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
