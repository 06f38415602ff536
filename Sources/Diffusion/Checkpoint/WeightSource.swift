import Tensor

/// Somewhere named tensors come from: what model constructors take. Layers ask for a tensor by
/// name and the shape they expect,
///
///     let weight = try weights.tensor("conv_in.weight", shape: [c, 4, 3, 3])
///
/// and get Float32 whatever the file stores. Names are relative to the source: a
/// `prefixed("text_model.")` view lets a layer ask for `"encoder.layers.0.self_attn.q_proj.weight"`.
public protocol WeightSource: Sendable {
    /// Every tensor name this source can give, sorted.
    var tensorNames: [String] { get }
    /// Dtype, shape and location of the named tensor; nil when there is none.
    func info(_ name: String) -> TensorInfo?
    /// The named tensor as Float32, after checking that its shape is `shape`.
    func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor
    /// The named tensor kept as stored (a large weight: read in place from a file mapping when
    /// it can be), after checking that its shape is `shape`. Sources of Float32 values give
    /// `tensor(name, shape:)` (the default).
    func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight
    /// Names of the tensors loaded so far through this source (to report unused weights).
    var loadedTensorNames: Set<String> { get }
    /// Low-rank updates to run beside the layer `module` (LoRAs applied at run time); none for
    /// plain weight files.
    func lowRankAdapters(_ module: String) throws(CheckpointError) -> [LowRankAdapter]
}

extension WeightSource {
    /// Whether the source has a tensor of that name.
    public func contains(_ name: String) -> Bool {
        info(name) != nil
    }

    public func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        StoredWeight(try tensor(name, shape: shape))
    }

    public func lowRankAdapters(_ module: String) throws(CheckpointError) -> [LowRankAdapter] { [] }

    /// The named tensor at whatever shape it is stored with (for code that reads the shape
    /// first, e.g. to tell a 1x1 convolution from a linear layer).
    public func tensor(_ name: String) throws(CheckpointError) -> Tensor {
        try tensor(name, shape: info(name)?.shape ?? [])
    }

    /// A view of the tensors whose names start with `prefix`, named without it.
    public func prefixed(_ prefix: String) -> PrefixedWeights {
        PrefixedWeights(self, prefix: prefix)
    }

    /// Tensors never loaded so far, sorted: after building a model, weights it did not use.
    public var unusedTensorNames: [String] {
        let loaded = loadedTensorNames
        return tensorNames.filter { !loaded.contains($0) }
    }
}

extension SafetensorsFile: WeightSource {
    public func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        try storedWeight(name, shape: Optional(shape))
    }
}
