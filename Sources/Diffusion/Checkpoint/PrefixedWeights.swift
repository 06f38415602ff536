import Tensor

/// The tensors of another source whose names start with a prefix, named without it:
/// `file.prefixed("text_model.")` gives `"encoder.layers.0.mlp.fc1.weight"` for
/// `"text_model.encoder.layers.0.mlp.fc1.weight"`. Errors name the full tensor name.
public struct PrefixedWeights: WeightSource {
    /// The source the names are looked up in.
    public let base: any WeightSource
    /// What is put in front of every name asked for.
    public let prefix: String

    /// A view of `base` under `prefix`; prefixing a view again joins the prefixes.
    public init(_ base: any WeightSource, prefix: String) {
        if let inner = base as? PrefixedWeights {
            self.base = inner.base
            self.prefix = inner.prefix + prefix
        } else {
            self.base = base
            self.prefix = prefix
        }
    }

    public var tensorNames: [String] {
        base.tensorNames.compactMap(stripped)
    }

    public func info(_ name: String) -> TensorInfo? {
        base.info(prefix + name)
    }

    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        try base.tensor(prefix + name, shape: shape)
    }

    public func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        try base.storedWeight(prefix + name, shape: shape)
    }

    public func lowRankAdapters(_ module: String) throws(CheckpointError) -> [LowRankAdapter] {
        try base.lowRankAdapters(prefix + module)
    }

    public var loadedTensorNames: Set<String> {
        Set(base.loadedTensorNames.compactMap(stripped))
    }

    private func stripped(_ name: String) -> String? {
        name.utf8.starts(with: prefix.utf8) ? String(decoding: name.utf8.dropFirst(prefix.utf8.count), as: UTF8.self) : nil
    }
}
