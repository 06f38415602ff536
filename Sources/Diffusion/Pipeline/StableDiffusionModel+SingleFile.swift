import Foundation

extension StableDiffusionModel {
    /// Loads a single-file SD1.x / SD2.x checkpoint (.safetensors in the original LDM layout, as
    /// model sites distribute them), with the CLIP vocabulary shipped with stipple. `prediction`
    /// overrides the prediction type (SD2 768-v files cannot be told from 512 epsilon ones by their
    /// tensors; without it the file's ModelSpec metadata decides, else epsilon). `weightType` keeps
    /// the UNet's large weights in that precision instead of reading them in place as stored.
    public convenience init(singleFile path: String, prediction: PredictionType? = nil, weightType: WeightType? = nil) throws {
        let checkpoint = try SingleFileCheckpoint(path: path, options: .init(prediction: prediction))
        let family = checkpoint.family
        let tokenizer = try family.bundledTokenizer()
        try self.init(checkpoint: checkpoint, tokenizer: tokenizer, padToken: family.padToken.id(in: tokenizer),
                      weightType: weightType)
    }

    /// The model of an opened checkpoint, with `tokenizer` (and, for tests, another scheduler).
    convenience init(checkpoint: SingleFileCheckpoint, tokenizer: CLIPTokenizer, padToken: Int,
                     scheduler: SchedulerConfig? = nil, weightType: WeightType? = nil) throws {
        let path = checkpoint.path
        do {
            try self.init(path: path, name: URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                          family: checkpoint.family,
                          conditioner: CLIPTextConditioner(
                            tokenizer: tokenizer, textModel: CLIPTextModel(config: checkpoint.textEncoderConfig,
                                                                           weights: checkpoint.textEncoderWeights),
                            padToken: padToken),
                          unetConfig: checkpoint.unetConfig, unetWeights: checkpoint.unetWeights, weightType: weightType,
                          vaeConfig: checkpoint.vaeConfig, vaeWeights: checkpoint.vaeWeights,
                          scheduler: scheduler ?? checkpoint.schedulerConfig,
                          previewFactors: .standard(latentChannels: checkpoint.vaeConfig.latentChannels),
                          weightFiles: [path])
        } catch let error as CheckpointError {
            throw error.path.isEmpty ? error.at(path) : error
        }
    }
}
