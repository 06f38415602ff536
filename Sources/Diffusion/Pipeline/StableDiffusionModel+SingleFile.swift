import Foundation

extension StableDiffusionModel {
    /// Loads a single-file SD 1.x / 2.x / XL checkpoint (.safetensors in the original LDM / SGM
    /// layout, as model sites distribute them), with the CLIP vocabulary shipped with stipple. `prediction`
    /// overrides the prediction type (SD2 768-v files cannot be told from 512 epsilon ones by their
    /// tensors; without it the file's ModelSpec metadata decides, else epsilon). `weightType` keeps
    /// the UNet's large weights in that precision instead of reading them in place as stored.
    public convenience init(singleFile path: String, prediction: PredictionType? = nil, weightType: WeightType? = nil) throws {
        let checkpoint = try SingleFileCheckpoint(path: path, options: .init(prediction: prediction))
        let tokenizers = (try checkpoint.family.bundledTokenizer(), try CLIPTokenizer.bundled(padding: .exclamationMark))
        try self.init(checkpoint: checkpoint, tokenizer: tokenizers.0, padToken: checkpoint.family.padToken.id(in: tokenizers.0),
                      secondTokenizer: tokenizers.1, weightType: weightType)
    }

    /// The model of an opened checkpoint, with `tokenizer` (SDXL: and `secondTokenizer`, padding
    /// with its own pad token; an empty negative prompt is zeros) and, for tests, another scheduler.
    convenience init(checkpoint: SingleFileCheckpoint, tokenizer: CLIPTokenizer, padToken: Int,
                     secondTokenizer: CLIPTokenizer? = nil, scheduler: SchedulerConfig? = nil,
                     weightType: WeightType? = nil) throws {
        let path = checkpoint.path
        do {
            let text: WeightedParts.TextBuilder
            if let secondWeights = checkpoint.textEncoder2Weights, let secondConfig = checkpoint.textEncoder2Config {
                let firstWeights = checkpoint.textEncoderWeights, configs = (checkpoint.textEncoderConfig, secondConfig)
                let tokenizers = (tokenizer, secondTokenizer ?? tokenizer)
                text = { patch in
                    try Self.sdxlConditioner(configs: configs, tokenizers: tokenizers,
                                             weights: (patch(.textEncoder, firstWeights), patch(.textEncoder2, secondWeights)),
                                             forceZerosForEmptyPrompt: true)
                }
            } else {
                let (config, weights) = (checkpoint.textEncoderConfig, checkpoint.textEncoderWeights)
                text = { patch in
                    CLIPTextConditioner(tokenizer: tokenizer, textModel: try CLIPTextModel(config: config, weights: patch(.textEncoder, weights)),
                                        padToken: padToken)
                }
            }
            try self.init(path: path, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                          family: checkpoint.family,
                          conditioner: text(WeightedParts.unpatched), text: text,
                          unetConfig: checkpoint.unetConfig, unetWeights: checkpoint.unetWeights, weightType: weightType,
                          vaeConfig: checkpoint.vaeConfig, vaeWeights: checkpoint.vaeWeights,
                          scheduler: scheduler ?? checkpoint.schedulerConfig,
                          previewFactors: .standard(family: checkpoint.family, latentChannels: checkpoint.vaeConfig.latentChannels),
                          weightFiles: [path])
        } catch let error as CheckpointError {
            throw error.path.isEmpty ? error.at(path) : error
        }
    }
}
