import Tensor

/// One component (text encoder, UNet or VAE) of a single-file checkpoint, under the diffusers /
/// transformers names our models read. A name map over the memory-mapped file: nothing is read
/// until a tensor is asked for, and then only that tensor (a 1x1 convolution is read as a linear
/// weight, OpenCLIP's fused q, k, v as one of its three parts).
///
/// Errors name the file and the tensor as the file names it:
///
///     v1-5.safetensors: no tensor named model.diffusion_model.input_blocks.1.0.in_layers.2.weight
public struct SingleFileWeights: WeightSource {
    /// Where a diffusers tensor comes from.
    struct Entry: Sendable {
        /// The tensor's name in the file (full, with the component's prefix).
        var stored: String
        /// How it becomes the diffusers tensor.
        var transform: LDMTransform
        /// Dtype, shape and bytes of the diffusers tensor (a part of the stored one).
        var info: TensorInfo
    }

    /// The checkpoint file.
    public let file: SafetensorsFile
    /// The component's prefix in the file, e.g. `model.diffusion_model.`.
    public let prefix: String
    /// Every diffusers name the component has, sorted.
    public let tensorNames: [String]
    let entries: [String: Entry]
    let keyMap: LDMKeyMap
    private let loaded = LoadedNames()

    init(file: SafetensorsFile, prefix: String, keyMap: LDMKeyMap, entries: [String: Entry]) {
        self.file = file
        self.prefix = prefix
        self.keyMap = keyMap
        self.entries = entries
        self.tensorNames = entries.keys.sorted()
    }

    public func info(_ name: String) -> TensorInfo? {
        entries[name]?.info
    }

    /// The name in the file of the tensor read as `name` (for a q, k or v: the fused tensor), or
    /// of where it would be when the file lacks it; nil for names the component cannot have.
    public func storedName(of name: String) -> String? {
        entries[name]?.stored ?? keyMap.ldmName(of: name).map { prefix + $0.name }
    }

    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        let entry = try entry(name, shape: shape)
        let stored = try file.tensor(entry.stored)
        let part = entry.transform.elements(of: stored.count)
        let tensor = entry.transform == .transposed ? transpose2D(stored)
            : part.count == stored.count ? Tensor(shape: shape, values: stored.storage)
            : Tensor(shape: shape, values: Array(stored.storage[part]))
        loaded.insert(name)
        return tensor
    }

    public func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        let entry = try entry(name, shape: shape)
        if entry.transform == .transposed { return StoredWeight(try tensor(name, shape: shape)) }
        let stored = try file.storedWeight(entry.stored)
        let weight = stored.part(entry.transform.elements(of: stored.count), shape: shape)
        loaded.insert(name)
        return weight
    }

    /// The entry of `name`, checked to have `shape`.
    private func entry(_ name: String, shape: [Int]) throws(CheckpointError) -> Entry {
        guard let entry = entries[name] else {
            throw CheckpointError(path: file.path, tensor: storedName(of: name) ?? name, reason: .noSuchTensor)
        }
        guard entry.info.shape == shape else {
            throw CheckpointError(path: file.path, tensor: entry.stored, reason: .shapeMismatch(actual: entry.info.shape, expected: shape))
        }
        return entry
    }

    public var loadedTensorNames: Set<String> {
        loaded.names
    }
}

/// The names loaded so far, shared by copies of a `SingleFileWeights`.
private final class LoadedNames: Sendable {
    private let storage = Locked<Set<String>>([])

    func insert(_ name: String) {
        storage.withLock { _ = $0.insert(name) }
    }

    var names: Set<String> {
        storage.withLock { $0 }
    }
}
