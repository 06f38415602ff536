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
}

/// diffusers' `UNet2DConditionModel` for the SD1.x / SD2.x family: predicts noise (or v) for a
/// latent at a timestep, conditioned on text embeddings through cross-attention.
public struct UNet2DConditionModel {
    /// What the output means; the model's scheduler config states it (default epsilon).
    public var parameterisation: Parameterisation
    /// `sample_size`: the latent size it was trained at, when the config gives it.
    public let sampleSize: Int?
    let layout: UNetLayout
    let timeLinear1: Linear
    let timeLinear2: Linear
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
        mid = try UNetMidBlock(weights, "mid_block", channels: deepest.channels, heads: deepest.heads, layout: layout)

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

    /// The time embedding MLP's output for each timestep: [N, 4 * channels].
    func timeEmbedding(_ timesteps: [Float]) -> Tensor {
        var t = timestepEmbedding(timesteps: timesteps, dimension: layout.levels[0].channels,
                                  flipSinToCos: layout.flipSinToCos, downscaleFreqShift: layout.freqShift)  // [N, C0]
        t = timeLinear1(t)
        t = timeLinear2(silu(t))  // [N, 4 * C0]
        return t
    }

    /// sample [N, 4, h, w], one timestep per sample, context [N, 77 * k, contextDim] -> [N, 4, h, w].
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], context: Tensor) -> Tensor {
        self(sample, timesteps: timesteps, context: context, check: {})
    }

    /// As `callAsFunction(_:timesteps:context:)`; `check` runs before every resnet and transformer block, so a caller can abandon the call
    /// part-way by throwing from it (cancellation takes effect within one layer).
    public func callAsFunction(_ sample: Tensor, timesteps: [Float], context: Tensor,
                               check: () throws -> Void) rethrows -> Tensor {
        precondition(timesteps.count == sample.shape[0], "one timestep per sample")
        let t = timeEmbedding(timesteps)
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
