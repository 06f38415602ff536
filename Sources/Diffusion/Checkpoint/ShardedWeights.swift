import Foundation
import UserFiles
import Tensor

/// A checkpoint split over several safetensors files, as diffusers and transformers save large
/// models: `diffusion_pytorch_model.safetensors.index.json` (or `model.safetensors.index.json`)
/// holds `{"weight_map": {tensor name: shard file name}}` and the shards lie beside it.
///
/// Every shard named in the map is opened and checked when the index is read; the tensors are
/// those of all shards (as diffusers loads whole shards), and each name the map lists must be in
/// the shard it names.
public struct ShardedWeights: WeightSource {
    /// The index file's path.
    public let indexPath: String
    /// The shards, in file-name order.
    public let shards: [SafetensorsFile]
    /// Every tensor name, sorted.
    public let tensorNames: [String]
    private let shardOfTensor: [String: Int]

    /// Reads the index at `indexPath` and opens the shards it names.
    public init(indexPath: String) throws(CheckpointError) {
        func fail(_ detail: String) -> CheckpointError {
            CheckpointError(path: indexPath, reason: .invalidIndex(detail))
        }
        let folder = URL(fileURLWithPath: indexPath).deletingLastPathComponent()
        let index: Index
        do {
            let data = try UserFile.read(indexPath)
            index = try JSONDecoder().decode(Index.self, from: data)
        } catch let error as DecodingError {
            throw fail(error.summary.text)
        } catch let error as UserFile.Problem {
            throw CheckpointError(path: indexPath, reason: .unreadable(error.reason))
        } catch {
            throw CheckpointError(path: indexPath, reason: .unreadable(error.localizedDescription))
        }
        let fileNames = Set(index.weightMap.values).sorted()
        guard !fileNames.isEmpty else { throw fail("weight_map is empty") }
        var shards: [SafetensorsFile] = []
        var shardOfTensor: [String: Int] = [:]
        for fileName in fileNames {
            // Shards lie beside the index; a path elsewhere is not a diffusers index.
            guard !fileName.contains("/"), fileName != "..", fileName != "." else {
                throw fail("shard \(fileName) is not a file name beside the index")
            }
            let shard = try SafetensorsFile(path: folder.appendingPathComponent(fileName).path)
            for name in shard.tensorNames {
                if let other = shardOfTensor[name] {
                    throw fail("tensor \(name) is in both \(fileNames[other]) and \(fileName)")
                }
                shardOfTensor[name] = shards.count
            }
            shards.append(shard)
        }
        for (name, fileName) in index.weightMap where shardOfTensor[name].map({ fileNames[$0] }) != fileName {
            throw fail("weight_map puts tensor \(name) in \(fileName), which has no such tensor")
        }
        self.indexPath = indexPath
        self.shards = shards
        self.shardOfTensor = shardOfTensor
        self.tensorNames = shardOfTensor.keys.sorted()
    }

    public func info(_ name: String) -> TensorInfo? {
        shardOfTensor[name].flatMap { shards[$0].info(name) }
    }

    public func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        guard let shard = shardOfTensor[name] else {
            throw CheckpointError(path: indexPath, tensor: name, reason: .noSuchTensor)
        }
        return try shards[shard].tensor(name, shape: shape)
    }

    public func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        guard let shard = shardOfTensor[name] else {
            throw CheckpointError(path: indexPath, tensor: name, reason: .noSuchTensor)
        }
        return try shards[shard].storedWeight(name, shape: shape)
    }

    public var loadedTensorNames: Set<String> {
        shards.reduce(into: Set<String>()) { $0.formUnion($1.loadedTensorNames) }
    }

    /// The index JSON; its `metadata` (total size) is not needed.
    private struct Index: Decodable {
        var weightMap: [String: String]

        enum CodingKeys: String, CodingKey {
            case weightMap = "weight_map"
        }
    }
}
