import Tensor

/// diffusers' `ResnetBlock2D` (resnet_time_scale_shift "default", output_scale_factor 1):
/// norm → SiLU → conv → (+ time embedding) → norm → SiLU → conv, plus a 1x1 shortcut when the
/// channel count changes.
struct ResnetBlock2D {
    let norm1: GroupNorm
    let conv1: Conv2d
    let timeEmbeddingProjection: Linear?
    let norm2: GroupNorm
    let conv2: Conv2d
    let shortcut: Conv2d?

    init(_ weights: any WeightSource, _ name: String, input: Int, output: Int, timeEmbeddingChannels: Int?,
         groups: Int, eps: Float) throws {
        norm1 = try GroupNorm(weights, name + ".norm1", groups: groups, channels: input, eps: eps)
        conv1 = try Conv2d(weights, name + ".conv1", input: input, output: output, kernel: 3, padding: 1)
        timeEmbeddingProjection = try timeEmbeddingChannels.map {
            try Linear(weights, name + ".time_emb_proj", input: $0, output: output)
        }
        norm2 = try GroupNorm(weights, name + ".norm2", groups: groups, channels: output, eps: eps)
        conv2 = try Conv2d(weights, name + ".conv2", input: output, output: output, kernel: 3, padding: 1)
        shortcut = input == output ? nil : try Conv2d(weights, name + ".conv_shortcut", input: input, output: output, kernel: 1)
    }

    /// x [N, in, H, W], timeEmbedding [N, T] -> [N, out, H, W]
    func callAsFunction(_ x: Tensor, timeEmbedding: Tensor? = nil) -> Tensor {
        var h = norm1(x, silu: true)
        h = conv1(h)
        if let projection = timeEmbeddingProjection, let timeEmbedding {
            h = addChannelBias(h, projection(silu(timeEmbedding)))  // + [N, out] over H, W
        }
        h = norm2(h, silu: true)
        return conv2(h, residual: shortcut.map { $0(x) } ?? x)  // the skip connection added as conv2 writes
    }
}
