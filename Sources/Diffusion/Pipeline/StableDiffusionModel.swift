import Foundation
import Tensor

/// A Stable Diffusion model loaded and ready to generate: tokenizer, text encoder, UNet, VAE and
/// the training noise schedule. Loading maps the weight files and converts them to Float32 once;
/// the model is then reused by every generation (it is immutable and safe to share).
public final class StableDiffusionModel: @unchecked Sendable {  // immutable after init
    /// Where the model came from (a diffusers folder or a single .safetensors file).
    public let path: String
    /// A short name for people and for A1111's `Model:` field: the folder's or file's name.
    public let name: String
    /// Which Stable Diffusion generation the weights belong to.
    public let family: ModelFamily
    public let tokenizer: CLIPTokenizer
    /// The token that pads a text-encoder window after EOS.
    public let padToken: Int
    public let textModel: CLIPTextModel
    public let unet: UNet2DConditionModel
    public let vae: AutoencoderKL
    /// The model's own `scheduler_config.json` (the training schedule every sampler starts from).
    public let scheduler: SchedulerConfig
    /// Pixels per latent cell (8 for SD; 2^(VAE levels - 1)).
    public let vaeScaleFactor: Int
    /// Latent channels (4 for SD1/SD2).
    public let latentChannels: Int
    /// The size the model was trained at (`unet.sample_size` x `vaeScaleFactor`), e.g. 512.
    public let nativeSize: Int
    /// The linear latent -> RGB projection for cheap previews.
    public let previewFactors: LatentPreviewFactors
    /// The weight files, for the model hash.
    public let weightFiles: [String]

    /// Loads the diffusers folder at `path` (`model_index.json`, `tokenizer/`, `text_encoder/`,
    /// `unet/`, `vae/`, `scheduler/`). `variant` prefers e.g. `fp16` weights; without it the full
    /// precision files are used when present, else whatever variant is there. `prediction`
    /// overrides the scheduler's `prediction_type`.
    public convenience init(folder path: String, variant: String? = nil, prediction: PredictionType? = nil) throws {
        let url = URL(fileURLWithPath: path)
        let index = url.appendingPathComponent("model_index.json").path
        guard FileManager.default.fileExists(atPath: index) else {
            throw CheckpointError(path: path, reason: .missing(
                "no model_index.json: not a diffusers model folder (give a folder with model_index.json, unet/, vae/, "
                    + "text_encoder/, or a single-file .safetensors checkpoint)"))
        }
        let textComponent = try DiffusersComponent(model: path, component: "text_encoder", variant: variant)
        let unetComponent = try DiffusersComponent(model: path, component: "unet", variant: variant)
        let vaeComponent = try DiffusersComponent(model: path, component: "vae", variant: variant)
        let textConfig = try textComponent.loadConfig(CLIPTextConfig.self)
        let unetConfig = try unetComponent.loadConfig(UNet2DConditionConfig.self)
        let vaeConfig = try vaeComponent.loadConfig(AutoencoderKLConfig.self)
        let schedulerPath = url.appendingPathComponent("scheduler/scheduler_config.json").path
        guard FileManager.default.fileExists(atPath: schedulerPath) else {
            throw CheckpointError(path: path, reason: .missing("no scheduler/scheduler_config.json in this model folder"))
        }
        var scheduler = try SchedulerConfig.read(from: schedulerPath)
        do { try scheduler.validate() } catch { throw error.at(schedulerPath) }
        if let prediction { scheduler.predictionType = prediction.rawValue }

        let tokenizerFolder = url.appendingPathComponent("tokenizer").path
        let (tokenizer, pad) = try Self.loadTokenizer(folder: tokenizerFolder, textConfig: textConfig)
        let family: ModelFamily = unetConfig.crossAttentionDims.first == 1024 || textConfig.hiddenAct == "gelu" ? .sd2 : .sd1
        let factors = LatentPreviewFactors.load(folder: path) ?? .standard(latentChannels: vaeConfig.latentChannels)

        func files(_ component: DiffusersComponent) -> [String] {
            switch component.weights {
            case .file(let file): return [file]
            case .sharded(let index): return [index]
            }
        }
        try self.init(path: path, name: url.lastPathComponent, family: family, tokenizer: tokenizer, padToken: pad,
                      textModel: CLIPTextModel(config: textConfig, weights: textComponent.openWeights()),
                      unetConfig: unetConfig, unetWeights: unetComponent.openWeights(),
                      vaeConfig: vaeConfig, vaeWeights: vaeComponent.openWeights(), scheduler: scheduler,
                      previewFactors: factors,
                      weightFiles: files(unetComponent) + files(textComponent) + files(vaeComponent))
    }

    /// The parts, already built (single-file checkpoints and tests).
    init(path: String, name: String, family: ModelFamily, tokenizer: CLIPTokenizer, padToken: Int,
         textModel: CLIPTextModel, unetConfig: UNet2DConditionConfig, unetWeights: any WeightSource,
         vaeConfig: AutoencoderKLConfig, vaeWeights: any WeightSource, scheduler: SchedulerConfig,
         previewFactors: LatentPreviewFactors, weightFiles: [String]) throws {
        self.path = path
        self.name = name
        self.family = family
        self.tokenizer = tokenizer
        self.padToken = padToken
        self.textModel = textModel
        unet = try UNet2DConditionModel(config: unetConfig, weights: unetWeights)
        vae = try AutoencoderKL(config: vaeConfig, weights: vaeWeights)
        self.scheduler = scheduler
        vaeScaleFactor = 1 << max(vaeConfig.blockOutChannels.count - 1, 0)
        latentChannels = vaeConfig.latentChannels
        nativeSize = (unetConfig.sampleSize ?? 64) * vaeScaleFactor
        self.previewFactors = previewFactors
        self.weightFiles = weightFiles
    }

    /// The tokenizer in `folder` (vocab.json + merges.txt) when there is one, else the CLIP
    /// vocabulary shipped with stipple; the pad token from the folder, else the family's.
    static func loadTokenizer(folder: String, textConfig: CLIPTextConfig) throws -> (CLIPTokenizer, Int) {
        if FileManager.default.fileExists(atPath: folder) {
            let tokenizer = try CLIPTokenizer(folder: folder)
            return (tokenizer, tokenizer.pad)
        }
        let bundled = try CLIPTokenizer.bundled()
        // SD2 (OpenCLIP, gelu) pads with `!`, which transformers then also cuts out of prompts.
        let tokenizer = textConfig.hiddenAct == "gelu" ? bundled.withPadToken("!") ?? bundled : bundled
        return (tokenizer, tokenizer.pad)
    }
}

/// The Stable Diffusion generations stipple runs.
public enum ModelFamily: String, Sendable {
    /// SD 1.x: OpenAI CLIP ViT-L/14 text encoder (768), pad with `<|endoftext|>`.
    case sd1
    /// SD 2.x: OpenCLIP ViT-H/14 text encoder (1024), pad with `!`.
    case sd2
}
