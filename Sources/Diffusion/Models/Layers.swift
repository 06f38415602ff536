import Tensor

/// `y = x · Wᵀ + b`; weight [out, in] as in PyTorch's nn.Linear. The weight is kept as stored
/// (`StoredWeight`) and converted to Float32 for each call; the bias is Float32.
struct Linear {
    let weight: StoredWeight
    let bias: Tensor?
    /// LoRAs applied at run time: `x · downᵀ · upᵀ` added to the output.
    let adapters: [LowRankAdapter]

    init(_ weights: any WeightSource, _ name: String, input: Int, output: Int, bias hasBias: Bool = true) throws {
        weight = try weights.storedWeight(name + ".weight", shape: [output, input])
        bias = hasBias ? try weights.tensor(name + ".bias", shape: [output]) : nil
        adapters = try weights.lowRankAdapters(name)
        for adapter in adapters { try adapter.check(outputs: output, columns: input, kernel: 1) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        OperationCount.add(multiplyAdds: x.count * weight.shape[0])
        var y = weight.withFloat32Matrix { linear(x, weight: $0, bias: bias) }  // [..., in] -> [..., out]
        for adapter in adapters {
            let low = adapter.down.withFloat32Matrix { linear(x, weight: $0, bias: nil) }
            y = add(y, adapter.up.withFloat32Matrix { linear(low, weight: $0, bias: nil) })
        }
        return y
    }
}

/// 2-D convolution with zero padding; weight [out, in, k, k] as in PyTorch's nn.Conv2d, kept as
/// stored and converted to Float32 for each call.
struct Conv2d {
    let weight: StoredWeight
    let bias: Tensor?
    let stride: Int
    let padding: Int

    init(_ weights: any WeightSource, _ name: String, input: Int, output: Int, kernel: Int,
         stride: Int = 1, padding: Int = 0, bias hasBias: Bool = true) throws {
        weight = try weights.storedWeight(name + ".weight", shape: [output, input, kernel, kernel])
        bias = hasBias ? try weights.tensor(name + ".bias", shape: [output]) : nil
        self.stride = stride
        self.padding = padding
        adapters = try weights.lowRankAdapters(name)
        for adapter in adapters { try adapter.check(outputs: output, columns: input * kernel * kernel, kernel: kernel) }
    }

    /// LoRAs applied at run time: a kxk convolution to the rank's channels, then a 1x1 one, added.
    let adapters: [LowRankAdapter]

    /// [N, in, H, W] -> [N, out, H', W'], plus `residual` (shaped as the output) where given.
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        var y = weight.withFloat32Matrix {
            conv2d(x, weight: $0, weightShape: weight.shape, bias: bias, stride: stride, padding: padding, residual: residual)
        }
        OperationCount.add(multiplyAdds: y.count * weight.count / weight.shape[0])
        for adapter in adapters {
            let kernel = weight.shape[2], rank = adapter.down.shape[0], shape = [rank, weight.shape[1], kernel, kernel]
            let low = adapter.down.withFloat32Matrix { conv2d(x, weight: $0, weightShape: shape, bias: nil, stride: stride, padding: padding) }
            y = adapter.up.withFloat32Matrix {
                conv2d(low, weight: $0, weightShape: [weight.shape[0], rank, 1, 1], bias: nil, residual: y)
            }
        }
        return y
    }
}

/// Group normalisation with a per-channel affine, optionally followed by SiLU (fused).
struct GroupNorm {
    let groups: Int
    let eps: Float
    let weight: Tensor
    let bias: Tensor

    init(_ weights: any WeightSource, _ name: String, groups: Int, channels: Int, eps: Float) throws {
        self.groups = groups
        self.eps = eps
        weight = try weights.tensor(name + ".weight", shape: [channels])
        bias = try weights.tensor(name + ".bias", shape: [channels])
    }

    func callAsFunction(_ x: Tensor, silu: Bool = false) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps, silu: silu)
    }
}

/// Layer normalisation over the last dimension.
struct LayerNorm {
    let eps: Float
    let weight: Tensor
    let bias: Tensor

    init(_ weights: any WeightSource, _ name: String, dimension: Int, eps: Float) throws {
        self.eps = eps
        weight = try weights.tensor(name + ".weight", shape: [dimension])
        bias = try weights.tensor(name + ".bias", shape: [dimension])
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}
