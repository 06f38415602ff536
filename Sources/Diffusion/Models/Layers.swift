import Tensor

/// `y = x · Wᵀ + b`; weight [out, in] as in PyTorch's nn.Linear. The weight is kept as stored
/// (`StoredWeight`) and converted to Float32 for each call; the bias is Float32.
struct Linear {
    let weight: StoredWeight
    let bias: Tensor?

    init(_ weights: any WeightSource, _ name: String, input: Int, output: Int, bias hasBias: Bool = true) throws {
        weight = try weights.storedWeight(name + ".weight", shape: [output, input])
        bias = hasBias ? try weights.tensor(name + ".bias", shape: [output]) : nil
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        OperationCount.add(multiplyAdds: x.count * weight.shape[0])
        return weight.withFloat32Matrix { linear(x, weight: $0, bias: bias) }  // [..., in] -> [..., out]
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
    }

    /// [N, in, H, W] -> [N, out, H', W'], plus `residual` (shaped as the output) where given.
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil) -> Tensor {
        let y = weight.withFloat32Matrix {
            conv2d(x, weight: $0, weightShape: weight.shape, bias: bias, stride: stride, padding: padding, residual: residual)
        }
        OperationCount.add(multiplyAdds: y.count * weight.count / weight.shape[0])
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
