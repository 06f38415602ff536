import Tensor

/// One level of the UNet's contracting path: `CrossAttnDownBlock2D` (with attentions) or
/// `DownBlock2D` (without), then a stride-2 convolution unless it is the last level.
struct UNetDownBlock {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let downsample: Conv2d?

    init(_ weights: any WeightSource, _ name: String, input: Int, output: Int, level: UNetLayout.Level,
         layout: UNetLayout, isLast: Bool) throws {
        resnets = try (0..<level.layers).map {
            try ResnetBlock2D(weights, name + ".resnets.\($0)", input: $0 == 0 ? input : output, output: output,
                              timeEmbeddingChannels: layout.timeEmbeddingChannels, groups: layout.groups, eps: layout.eps)
        }
        attentions = level.crossAttention ? try (0..<level.layers).map {
            try Transformer2DModel(weights, name + ".attentions.\($0)", channels: output, heads: level.heads,
                                   contextDim: layout.contextDim, layers: level.transformerDepth, groups: layout.groups,
                                   linearProjection: layout.linearProjection, onlyCrossAttention: level.onlyCrossAttention)
        } : []
        downsample = isLast ? nil : try Conv2d(weights, name + ".downsamplers.0.conv", input: output, output: output,
                                               kernel: 3, stride: 2, padding: layout.downsamplePadding)
    }

    /// Returns the block's output and every intermediate state the expanding path will need.
    /// `check` runs before each layer (cancellation).
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor,
                        check: () throws -> Void) rethrows -> (Tensor, [Tensor]) {
        var h = x
        var skips: [Tensor] = []
        for (i, resnet) in resnets.enumerated() {
            try check()
            h = resnet(h, timeEmbedding: timeEmbedding)
            if !attentions.isEmpty { h = try attentions[i](h, context: context, check: check) }
            skips.append(h)
        }
        if let downsample {
            h = downsample(h)  // [N, C, H/2, W/2]
            skips.append(h)
        }
        return (h, skips)
    }
}

/// `UNetMidBlock2DCrossAttn`: resnet, attention (`depth` transformer blocks), resnet at the lowest resolution.
struct UNetMidBlock {
    let first: ResnetBlock2D
    let attention: Transformer2DModel
    let second: ResnetBlock2D

    init(_ weights: any WeightSource, _ name: String, channels: Int, heads: Int, depth: Int, layout: UNetLayout) throws {
        first = try ResnetBlock2D(weights, name + ".resnets.0", input: channels, output: channels,
                                  timeEmbeddingChannels: layout.timeEmbeddingChannels, groups: layout.groups, eps: layout.eps)
        attention = try Transformer2DModel(weights, name + ".attentions.0", channels: channels, heads: heads,
                                           contextDim: layout.contextDim, layers: depth, groups: layout.groups,
                                           linearProjection: layout.linearProjection, onlyCrossAttention: false)
        second = try ResnetBlock2D(weights, name + ".resnets.1", input: channels, output: channels,
                                   timeEmbeddingChannels: layout.timeEmbeddingChannels, groups: layout.groups, eps: layout.eps)
    }

    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor, context: Tensor,
                        check: () throws -> Void) rethrows -> Tensor {
        try check()
        var h = first(x, timeEmbedding: timeEmbedding)
        h = try attention(h, context: context, check: check)
        try check()
        return second(h, timeEmbedding: timeEmbedding)
    }
}

/// One level of the expanding path: `CrossAttnUpBlock2D` or `UpBlock2D`. Each resnet takes the
/// running state concatenated with one skip state; then a 2x nearest upsample and a convolution
/// unless it is the last level.
struct UNetUpBlock {
    let resnets: [ResnetBlock2D]
    let attentions: [Transformer2DModel]
    let upsample: Conv2d?

    /// `input`: channels of the matching down level's input; `previous`: channels coming from below.
    init(_ weights: any WeightSource, _ name: String, input: Int, output: Int, previous: Int, level: UNetLayout.Level,
         layout: UNetLayout, isLast: Bool) throws {
        let count = level.layers + 1
        resnets = try (0..<count).map { i in
            let skipChannels = i == count - 1 ? input : output
            let runningChannels = i == 0 ? previous : output
            return try ResnetBlock2D(weights, name + ".resnets.\(i)", input: runningChannels + skipChannels, output: output,
                                     timeEmbeddingChannels: layout.timeEmbeddingChannels, groups: layout.groups, eps: layout.eps)
        }
        attentions = level.crossAttention ? try (0..<count).map {
            try Transformer2DModel(weights, name + ".attentions.\($0)", channels: output, heads: level.heads,
                                   contextDim: layout.contextDim, layers: level.transformerDepth, groups: layout.groups,
                                   linearProjection: layout.linearProjection, onlyCrossAttention: level.onlyCrossAttention)
        } : []
        upsample = isLast ? nil : try Conv2d(weights, name + ".upsamplers.0.conv", input: output, output: output, kernel: 3, padding: 1)
    }

    /// Consumes skip states from the end of `skips`. `check` runs before each layer.
    func callAsFunction(_ x: Tensor, skips: inout [Tensor], timeEmbedding: Tensor, context: Tensor,
                        check: () throws -> Void) rethrows -> Tensor {
        var h = x
        for (i, resnet) in resnets.enumerated() {
            try check()
            h = concatChannels(h, skips.removeLast())  // [N, C + C_skip, H, W]
            h = resnet(h, timeEmbedding: timeEmbedding)
            if !attentions.isEmpty { h = try attentions[i](h, context: context, check: check) }
        }
        if let upsample {
            // Twice the size, or the size of the skip state waiting above when the latent's side
            // was odd somewhere on the way down (diffusers' `upsample_size`).
            let target = skips.last.map { ($0.shape[2], $0.shape[3]) } ?? (2 * h.shape[2], 2 * h.shape[3])
            h = upsample(upsampleNearest(h, height: target.0, width: target.1))  // [N, C, H', W']
        }
        return h
    }
}
