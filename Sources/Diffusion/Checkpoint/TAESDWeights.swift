import Foundation
import Tensor

/// madebyollin's original TAESD files (`taesd_decoder.safetensors`, `taesd_encoder.safetensors`,
/// and the `taesdxl_` ones) under diffusers' `AutoencoderTiny` names: each file is the state dict
/// of one `nn.Sequential`, so `decoder.layers.K.rest` is `K+1.rest` of the decoder file (its index
/// 0 is the tanh clamp, which diffusers does in `forward`) and `encoder.layers.K.rest` is `K.rest`
/// of the encoder file.
struct TAESDOriginalWeights: WeightSource {
    let decoder: SafetensorsFile
    let encoder: SafetensorsFile?

    private func locate(_ name: String) -> (SafetensorsFile, String)? {
        for (prefix, file, offset) in [("decoder.layers.", Optional(decoder), 1), ("encoder.layers.", encoder, 0)] {
            guard let file, name.hasPrefix(prefix) else { continue }
            let rest = name.dropFirst(prefix.count)
            let digits = rest.prefix { $0.isNumber }
            guard let index = Int(digits) else { return nil }
            return (file, "\(index + offset)" + rest.dropFirst(digits.count))
        }
        return nil
    }

    var tensorNames: [String] {
        let decoded = decoder.tensorNames.compactMap { name -> String? in
            let digits = name.prefix { $0.isNumber }
            guard let index = Int(digits), index >= 1 else { return nil }
            return "decoder.layers.\(index - 1)" + name.dropFirst(digits.count)
        }
        return (decoded + (encoder?.tensorNames.map { "encoder.layers." + $0 } ?? [])).sorted()
    }

    func info(_ name: String) -> TensorInfo? {
        locate(name).flatMap { $0.0.info($0.1) }
    }

    func tensor(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        guard let (file, stored) = locate(name) else {
            throw CheckpointError(path: decoder.path, tensor: name, reason: .noSuchTensor)
        }
        return try file.tensor(stored, shape: shape)
    }

    func storedWeight(_ name: String, shape: [Int]) throws(CheckpointError) -> StoredWeight {
        guard let (file, stored) = locate(name) else {
            throw CheckpointError(path: decoder.path, tensor: name, reason: .noSuchTensor)
        }
        return try file.storedWeight(stored, shape: shape)
    }

    var loadedTensorNames: Set<String> { [] }

    /// The config the files' keys describe: the stages and blocks read off the indices (a
    /// `N.conv.0.weight` is a block; in the decoder an index gap is an upsample, a plain
    /// `N.weight` with a bias the output convolution; in the encoder a plain `N.weight` without a
    /// bias is a stride-2 convolution), the widths from the first convolution's shape.
    func config() throws(CheckpointError) -> AutoencoderTinyConfig {
        var config = AutoencoderTinyConfig()
        guard let first = decoder.info("1.weight")?.shape, first.count == 4 else {
            throw CheckpointError(path: decoder.path, tensor: "1.weight", reason: .noSuchTensor)
        }
        let (width, latent) = (first[0], first[1])
        config.latentChannels = latent
        config.decoderBlockOutChannels = []
        config.numDecoderBlocks = []
        var index = 3, blocks = 0
        while index < 10_000 {
            if decoder.info("\(index).conv.0.weight") != nil {
                blocks += 1
                index += 1
            } else if decoder.info("\(index).bias") != nil {
                config.numDecoderBlocks.append(blocks)  // the output convolution ends the last stage
                config.outChannels = decoder.info("\(index).weight")?.shape.first ?? 3
                break
            } else if decoder.info("\(index + 1).weight") != nil {
                config.numDecoderBlocks.append(blocks)  // an upsample, then the stage's convolution
                blocks = 0
                index += 2
            } else {
                throw CheckpointError(path: decoder.path, reason: .unsupportedConfig(
                    key: "layer \(index)", value: "missing", note: "not a TAESD decoder: expected a block, an upsample and convolution, or the output convolution"))
            }
        }
        config.decoderBlockOutChannels = Array(repeating: width, count: config.numDecoderBlocks.count)
        if let encoder {
            config.numEncoderBlocks = []
            var index = 1, blocks = 0
            while index < 10_000 {
                if encoder.info("\(index).conv.0.weight") != nil {
                    blocks += 1
                } else if encoder.info("\(index).bias") != nil {
                    config.numEncoderBlocks.append(blocks)
                    break
                } else if encoder.info("\(index).weight") != nil {
                    config.numEncoderBlocks.append(blocks)  // a stride-2 convolution starts a stage
                    blocks = 0
                } else {
                    throw CheckpointError(path: encoder.path, reason: .unsupportedConfig(
                        key: "layer \(index)", value: "missing", note: "not a TAESD encoder"))
                }
                index += 1
            }
            config.encoderBlockOutChannels = Array(repeating: width, count: config.numEncoderBlocks.count)
        }
        return config
    }
}

extension AutoencoderTiny {
    /// A tiny autoencoder from `path`: a diffusers `AutoencoderTiny` folder (`config.json` and its
    /// weights), a folder with madebyollin's `taesd*_decoder.safetensors` (and `_encoder`), or such
    /// a decoder file itself (its `_encoder` sibling is used when present).
    public static func load(path: String) throws -> AutoencoderTiny {
        let url = URL(fileURLWithPath: path)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw CheckpointError(path: path, reason: .missing("no such TAESD file or folder"))
        }
        if isFolder.boolValue {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) {
                let component = try DiffusersComponent(folder: path)
                return try AutoencoderTiny(config: component.loadConfig(AutoencoderTinyConfig.self), weights: component.openWeights())
            }
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard let decoder = files.sorted().first(where: { $0.hasPrefix("taesd") && $0.hasSuffix("_decoder.safetensors") }) else {
                throw CheckpointError(path: path, reason: .missing(
                    "neither a diffusers AutoencoderTiny folder (config.json) nor madebyollin's taesd*_decoder.safetensors"))
            }
            return try original(decoder: url.appendingPathComponent(decoder).path)
        }
        return try original(decoder: path)
    }

    /// madebyollin's layout: the decoder file, and the encoder file beside it when there is one.
    static func original(decoder path: String) throws -> AutoencoderTiny {
        let decoder = try SafetensorsFile(path: path)
        let encoderPath = path.replacingOccurrences(of: "_decoder", with: "_encoder")
        let encoder = encoderPath != path && FileManager.default.fileExists(atPath: encoderPath)
            ? try SafetensorsFile(path: encoderPath) : nil
        let weights = TAESDOriginalWeights(decoder: decoder, encoder: encoder)
        do {
            return try AutoencoderTiny(config: weights.config(), weights: weights, encoder: encoder != nil)
        } catch let error as CheckpointError {
            throw error.path.isEmpty ? error.at(path) : error
        }
    }
}
