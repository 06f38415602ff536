import Tensor

/// The shape of a Stable-Diffusion-family UNet, resolved from its config.
struct UNetLayout {
    /// One resolution level of the contracting path (mirrored on the way up).
    struct Level {
        /// Output channels.
        var channels: Int
        /// Resnet blocks on the way down (one more on the way up).
        var layers: Int
        /// Attention heads (head width = channels / heads).
        var heads: Int
        /// Whether the level has transformer blocks (CrossAttn*Block2D).
        var crossAttention: Bool
        /// Whether self-attention also attends to the context.
        var onlyCrossAttention: Bool
        /// Transformer blocks in each of the level's Transformer2DModels (1 in SD 1.x / 2.x; SDXL: 1, 2, 10).
        var transformerDepth: Int
    }

    /// SDXL's added conditioning (`addition_embed_type: "text_time"`): each of the time ids is
    /// embedded sinusoidally `timeIdWidth` wide, joined after the pooled text embedding, and the
    /// `inputWidth`-wide vector goes through `add_embedding` into the time embedding.
    struct TextTimeEmbedding {
        /// `addition_time_embed_dim` (256 in SDXL).
        var timeIdWidth: Int
        /// `projection_class_embeddings_input_dim` (2816 in SDXL: 1280 pooled + 6 x 256).
        var inputWidth: Int
    }

    var levels: [Level]
    /// Whether each up level, from the lowest resolution, has attention.
    var upCrossAttention: [Bool]
    var inChannels: Int
    var outChannels: Int
    var contextDim: Int
    var groups: Int
    var eps: Float
    var linearProjection: Bool
    var flipSinToCos: Bool
    var freqShift: Float
    var downsamplePadding: Int
    /// Width of the time embedding MLP's output (4 x the first level's channels).
    var timeEmbeddingChannels: Int
    /// SDXL's pooled-text and size/crop conditioning; nil for SD 1.x / 2.x.
    var textTime: TextTimeEmbedding?
    /// LCM's `time_cond_proj_dim`: the width of the guidance-scale embedding added to the
    /// timestep features through `time_embedding.cond_proj`; nil for other UNets.
    var guidanceEmbeddingWidth: Int?
}

/// diffusers' `UNet2DConditionModel` for the SD 1.x / 2.x and SDXL families: predicts noise (or v)
/// for a latent at a timestep, conditioned on text embeddings through cross-attention and, in
/// SDXL, on the pooled text embedding and the size and crop ids added to the time embedding.
public struct UNet2DConditionModel {
    /// What the output means; the model's scheduler config states it (default epsilon).
    public var parameterisation: Parameterisation
    /// `sample_size`: the latent size it was trained at, when the config gives it.
    public let sampleSize: Int?
    let layout: UNetLayout
    let timeLinear1: Linear
    let timeLinear2: Linear
    /// LCM's `time_embedding.cond_proj` (guidance embedding -> timestep features, no bias).
    let guidanceProjection: Linear?
    /// SDXL's `add_embedding.linear_1` / `linear_2` (pooled text + time ids -> time embedding).
    let addLinear1: Linear?
    let addLinear2: Linear?
    let convIn: Conv2d
    let down: [UNetDownBlock]
    let mid: UNetMidBlock
    let up: [UNetUpBlock]
    let normOut: GroupNorm
    let convOut: Conv2d

    /// Builds the model from its config, reading weights named as diffusers names them.
    public init(config: UNet2DConditionConfig, weights: any WeightSource,
                parameterisation: Parameterisation = .epsilon) throws {
        self.parameterisation = parameterisation
        sampleSize = config.sampleSize
        let layout = try UNetLayout(config)
        self.layout = layout
        let first = layout.levels[0].channels
        timeLinear1 = try Linear(weights, "time_embedding.linear_1", input: first, output: layout.timeEmbeddingChannels)
        timeLinear2 = try Linear(weights, "time_embedding.linear_2", input: layout.timeEmbeddingChannels, output: layout.timeEmbeddingChannels)
        guidanceProjection = try layout.guidanceEmbeddingWidth.map {
            try Linear(weights, "time_embedding.cond_proj", input: $0, output: first, bias: false)
        }
        if let textTime = layout.textTime {
            addLinear1 = try Linear(weights, "add_embedding.linear_1", input: textTime.inputWidth, output: layout.timeEmbeddingChannels)
            addLinear2 = try Linear(weights, "add_embedding.linear_2", input: layout.timeEmbeddingChannels, output: layout.timeEmbeddingChannels)
        } else {
            (addLinear1, addLinear2) = (nil, nil)
        }
        convIn = try Conv2d(weights, "conv_in", input: layout.inChannels, output: first, kernel: 3, padding: 1)

        var down: [UNetDownBlock] = []
        var input = first
        for (i, level) in layout.levels.enumerated() {
            down.append(try UNetDownBlock(weights, "down_blocks.\(i)", input: input, output: level.channels, level: level,
                                          layout: layout, isLast: i == layout.levels.count - 1))
            input = level.channels
        }
        self.down = down
        let deepest = layout.levels[layout.levels.count - 1]
        mid = try UNetMidBlock(weights, "mid_block", channels: deepest.channels, heads: deepest.heads,
                               depth: deepest.transformerDepth, layout: layout)

        var up: [UNetUpBlock] = []
        let reversed = Array(layout.levels.reversed())
        var previous = reversed[0].channels
        for (i, level) in reversed.enumerated() {
            let inputChannels = reversed[min(i + 1, reversed.count - 1)].channels
            var upLevel = level
            upLevel.crossAttention = layout.upCrossAttention[i]
            up.append(try UNetUpBlock(weights, "up_blocks.\(i)", input: inputChannels, output: level.channels, previous: previous,
                                      level: upLevel, layout: layout, isLast: i == reversed.count - 1))
            previous = level.channels
        }
        self.up = up
        normOut = try GroupNorm(weights, "conv_norm_out", groups: layout.groups, channels: first, eps: layout.eps)
        convOut = try Conv2d(weights, "conv_out", input: first, output: layout.outChannels, kernel: 3, padding: 1)
    }

    /// The time embedding MLP's output for each timestep: [N, 4 * channels], plus SDXL's added
    /// embedding of `added` (pooled [N, P] and time ids [N, k]) when the model has one.
    func timeEmbedding(_ timesteps: [Float], added: (pooled: Tensor, timeIds: Tensor)? = nil, guidance: [Float]? = nil) -> Tensor {
        var t = timestepEmbedding(timesteps: timesteps, dimension: layout.levels[0].channels,
                                  flipSinToCos: layout.flipSinToCos, downscaleFreqShift: layout.freqShift)  // [N, C0]
        if let guidanceProjection, let width = layout.guidanceEmbeddingWidth, let guidance {
            // diffusers' `get_guidance_scale_embedding`: w = scale - 1, times 1000, sines then cosines
            // at frequencies exp(-ln(10000) k / (half - 1)).
            let w = timestepEmbedding(timesteps: guidance.map { ($0 - 1) * 1000 }, dimension: width,
                                      flipSinToCos: false, downscaleFreqShift: 1)  // [N, width]
            t = add(t, guidanceProjection(w))
        }
        t = timeLinear1(t)
        t = timeLinear2(silu(t))  // [N, 4 * C0]
        if let textTime = layout.textTime, let addLinear1, let addLinear2, let added {
            let n = timesteps.count, ids = added.timeIds.shape[1]
            let idEmbedding = timestepEmbedding(timesteps: added.timeIds.storage, dimension: textTime.timeIdWidth,
                                                flipSinToCos: layout.flipSinToCos, downscaleFreqShift: layout.freqShift)  // [N * k, w]
            let joined = concatLastDimension(added.pooled, idEmbedding.reshaped([n, ids * textTime.timeIdWidth]))  // [N, P + k w]
            t = add(t, addLinear2(silu(addLinear1(joined))))
        }
        return t
    }

    /// The width `pooled` + time ids must have together (SDXL's `projection_class_embeddings_input_dim`);
    /// nil when the model takes neither.
    public var addedConditioningWidth: Int? { layout.textTime?.inputWidth }
    /// Width of each time id's sinusoidal embedding (SDXL's `addition_time_embed_dim`); nil without.
    public var timeIdEmbeddingWidth: Int? { layout.textTime?.timeIdWidth }

    /// sample [N, 4, h, w], one timestep per sample, context [N, 77 * k, contextDim] -> [N, 4, h, w].
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], context: Tensor,
                               added: (pooled: Tensor, timeIds: Tensor)? = nil, guidance: [Float]? = nil) -> Tensor {
        self(sample, timesteps: timesteps, context: context, added: added, guidance: guidance, check: {})
    }

    /// As `callAsFunction(_:timesteps:context:added:)`; `check` runs before every resnet and transformer block, so a caller can abandon the call
    /// part-way by throwing from it (cancellation takes effect within one layer). `added` (SDXL's
    /// pooled text [N, P] and time ids [N, k]) must be given exactly when the model takes them.
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], context: Tensor,
                               added: (pooled: Tensor, timeIds: Tensor)? = nil, guidance: [Float]? = nil,
                               check: () throws -> Void) rethrows -> Tensor {
        precondition(timesteps.count == sample.shape[0], "one timestep per sample")
        precondition((added == nil) == (layout.textTime == nil), "SDXL's pooled text and time ids go with SDXL's UNet only")
        precondition((guidance == nil) == (layout.guidanceEmbeddingWidth == nil) && (guidance?.count ?? timesteps.count) == timesteps.count,
                     "a guidance scale per sample goes with an LCM UNet only")
        let t = timeEmbedding(timesteps, added: added, guidance: guidance)
        var h = convIn(sample)
        var skips = [h]
        for block in down {
            let (out, states) = try block(h, timeEmbedding: t, context: context, check: check)
            h = out
            skips += states
        }
        h = try mid(h, timeEmbedding: t, context: context, check: check)
        for block in up {
            h = try block(h, skips: &skips, timeEmbedding: t, context: context, check: check)
        }
        h = normOut(h, silu: true)
        return convOut(h)
    }
}

/// Immutable after init (weights are only read), so one model serves several threads.
extension UNet2DConditionModel: @unchecked Sendable {}
