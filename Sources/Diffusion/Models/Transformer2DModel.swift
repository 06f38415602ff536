import Tensor

/// diffusers' `Transformer2DModel` for continuous (image) input: group norm, projection in
/// (1x1 conv, or linear when `use_linear_projection`), transformer blocks over the H*W tokens,
/// projection out, plus the input as a residual.
struct Transformer2DModel {
    let norm: GroupNorm
    let linearProjection: Bool
    let projectionIn: Projection
    let blocks: [BasicTransformerBlock]
    let projectionOut: Projection

    /// A 1x1 convolution or a linear layer: the same map, applied before or after flattening.
    enum Projection {
        case conv(Conv2d)
        case linear(Linear)
    }

    init(_ weights: any WeightSource, _ name: String, channels: Int, heads: Int, contextDim: Int,
         layers: Int, groups: Int, linearProjection: Bool, onlyCrossAttention: Bool) throws {
        let headDim = channels / heads, inner = heads * headDim
        norm = try GroupNorm(weights, name + ".norm", groups: groups, channels: channels, eps: 1e-6)
        self.linearProjection = linearProjection
        if linearProjection {
            projectionIn = .linear(try Linear(weights, name + ".proj_in", input: channels, output: inner))
            projectionOut = .linear(try Linear(weights, name + ".proj_out", input: inner, output: channels))
        } else {
            projectionIn = .conv(try Conv2d(weights, name + ".proj_in", input: channels, output: inner, kernel: 1))
            projectionOut = .conv(try Conv2d(weights, name + ".proj_out", input: inner, output: channels, kernel: 1))
        }
        blocks = try (0..<layers).map {
            try BasicTransformerBlock(weights, name + ".transformer_blocks.\($0)", dimension: inner, heads: heads,
                                      headDim: headDim, contextDim: contextDim, onlyCrossAttention: onlyCrossAttention)
        }
    }

    /// x [N, C, H, W], context [N, S, contextDim] -> [N, C, H, W]
    /// `check` runs before each transformer block (cancellation).
    func callAsFunction(_ x: Tensor, context: Tensor, check: () throws -> Void) rethrows -> Tensor {
        let (height, width) = (x.shape[2], x.shape[3])
        var h = norm(x)
        switch projectionIn {
        case .conv(let conv): h = nchwToTokens(conv(h))      // [N, H*W, inner]
        case .linear(let proj): h = proj(nchwToTokens(h))    // [N, H*W, inner]
        }
        for block in blocks {
            try check()
            h = block(h, context: context)
        }
        switch projectionOut {
        case .conv(let conv): h = conv(tokensToNCHW(h, height: height, width: width))  // [N, C, H, W]
        case .linear(let proj): h = tokensToNCHW(proj(h), height: height, width: width)
        }
        return add(h, x)
    }
}

/// diffusers' `BasicTransformerBlock` as Stable Diffusion uses it: self-attention,
/// cross-attention and a GEGLU feed-forward, each pre-normed and residual.
struct BasicTransformerBlock {
    let norm1: LayerNorm
    let attention1: Attention
    let norm2: LayerNorm
    let attention2: Attention
    let norm3: LayerNorm
    let feedForwardIn: Linear   // ff.net.0.proj: dim -> 2 * 4 * dim (GEGLU)
    let feedForwardOut: Linear  // ff.net.2: 4 * dim -> dim
    let onlyCrossAttention: Bool

    init(_ weights: any WeightSource, _ name: String, dimension: Int, heads: Int, headDim: Int, contextDim: Int,
         onlyCrossAttention: Bool) throws {
        norm1 = try LayerNorm(weights, name + ".norm1", dimension: dimension, eps: 1e-5)
        attention1 = try Attention(weights, name + ".attn1", queryDim: dimension,
                                   contextDim: onlyCrossAttention ? contextDim : nil, heads: heads, headDim: headDim)
        norm2 = try LayerNorm(weights, name + ".norm2", dimension: dimension, eps: 1e-5)
        attention2 = try Attention(weights, name + ".attn2", queryDim: dimension, contextDim: contextDim, heads: heads, headDim: headDim)
        norm3 = try LayerNorm(weights, name + ".norm3", dimension: dimension, eps: 1e-5)
        let inner = 4 * dimension
        feedForwardIn = try Linear(weights, name + ".ff.net.0.proj", input: dimension, output: 2 * inner)
        feedForwardOut = try Linear(weights, name + ".ff.net.2", input: inner, output: dimension)
        self.onlyCrossAttention = onlyCrossAttention
    }

    /// x [N, T, dim], context [N, S, contextDim] -> [N, T, dim]
    func callAsFunction(_ x: Tensor, context: Tensor) -> Tensor {
        var h = add(attention1(norm1(x), context: onlyCrossAttention ? context : nil), x)
        h = add(attention2(norm2(h), context: context), h)
        return add(feedForward(norm3(h)), h)
    }

    /// Rows (tokens of every image) per pass of the feed-forward: its hidden activations are
    /// 8·dim wide (GEGLU's input), 1.3 GB whole for SD1.5's 64x64 level at 2048x2048 with CFG
    /// and 84 MB at 512x512; in passes they stay within 16 MB (1,638 rows of SD1.5's 320-wide
    /// level, still large products for sgemm).
    static let feedForwardFloats = 1 << 22

    /// GEGLU feed-forward of x [N, T, dim], over passes of at most `floats / (8·dim)` rows (rows
    /// never mix: the passes give the one-pass result, up to sgemm's rounding of smaller products).
    func feedForward(_ x: Tensor, floats: Int = Self.feedForwardFloats) -> Tensor {
        let dim = x.shape.last ?? 1, rows = x.count / max(1, dim)
        let chunk = max(1, floats / max(1, 8 * dim))
        guard rows > chunk else { return feedForwardOut(geglu(feedForwardIn(x))) }
        var out = x
        for start in stride(from: 0, to: rows, by: chunk) {
            let part = start..<min(rows, start + chunk)
            let input = Tensor(shape: [part.count, dim], values: Array(x.storage[(part.lowerBound * dim)..<(part.upperBound * dim)]))
            let y = feedForwardOut(geglu(feedForwardIn(input)))
            out.storage.replaceSubrange((part.lowerBound * dim)..<(part.upperBound * dim), with: y.storage)
        }
        return out
    }
}
