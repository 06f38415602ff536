import Foundation
import Tensor

/// A Stable Diffusion model loaded and ready to generate, held through the engine's seams: a text
/// conditioner (prompts -> `Conditioning`), a denoiser (which states its parameterisation), a
/// latent decoder (pixels <-> latents, owning the latent scaling) and the training noise schedule.
/// Loading maps the weight files; large weights stay as stored (read in place) and are converted
/// to Float32 per layer as it runs, small ones are converted once. The model is then reused by
/// every generation and is safe to share (immutable, but for a `ReloadingDenoiser`'s weights,
/// which may be let go and loaded again).
public final class StableDiffusionModel: Sendable {
    /// Where the model came from (a diffusers folder or a single .safetensors file).
    public let path: String
    /// A short name for people and for A1111's `Model:` field: the folder's or file's name.
    public let name: String
    /// Which Stable Diffusion generation the weights belong to.
    public let family: ModelFamily
    /// Prompts -> conditioning (today one CLIP: `CLIPTextConditioner`).
    public let conditioner: any TextConditioner
    /// (latents, timesteps, conditioning) -> model output (today `UNet2DConditionModel`).
    public let denoiser: any Denoiser
    /// Pixels <-> latents at the denoiser's scale (today `AutoencoderKL`).
    public let decoder: any LatentDecoder
    /// The model's own `scheduler_config.json` (the training schedule every sampler starts from).
    public let scheduler: SchedulerConfig
    /// Pixels per latent cell (8 for SD; 2^(VAE levels - 1)).
    public var vaeScaleFactor: Int { decoder.downscale }
    /// Latent channels (4 for SD1/SD2).
    public var latentChannels: Int { decoder.latentChannels }
    /// The size the model was trained at (`unet.sample_size` x `vaeScaleFactor`), e.g. 512.
    public let nativeSize: Int
    /// The linear latent -> RGB projection for cheap previews.
    public let previewFactors: LatentPreviewFactors
    /// The weight files, for the model hash.
    public let weightFiles: [String]

    /// What the denoiser's output means, as the model states it.
    public var parameterisation: Parameterisation { denoiser.parameterisation }

    /// Loads the diffusers folder at `path` (`model_index.json`, `tokenizer/`, `text_encoder/`,
    /// `unet/`, `vae/`, `scheduler/`). `variant` prefers e.g. `fp16` weights; without it the full
    /// precision files are used when present, else whatever variant is there. `prediction`
    /// overrides the scheduler's `prediction_type`. `weightType` keeps the UNet's large weights in
    /// that precision (converted once, here) instead of reading them in place as stored.
    public convenience init(folder path: String, variant: String? = nil, prediction: PredictionType? = nil,
                            weightType: WeightType? = nil) throws {
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

        let family = ModelFamily(textEncoder: textConfig, crossAttentionWidth: unetConfig.crossAttentionDims.first ?? 0)
        let tokenizerFolder = url.appendingPathComponent("tokenizer").path
        let tokenizer = FileManager.default.fileExists(atPath: tokenizerFolder)
            ? try CLIPTokenizer(folder: tokenizerFolder) : try family.bundledTokenizer()
        let factors = LatentPreviewFactors.load(folder: path) ?? .standard(latentChannels: vaeConfig.latentChannels)

        func files(_ component: DiffusersComponent) -> [String] {
            switch component.weights {
            case .file(let file): return [file]
            case .sharded(let index): return [index]
            }
        }
        let conditioner = CLIPTextConditioner(tokenizer: tokenizer, textModel: try CLIPTextModel(
            config: textConfig, weights: textComponent.openWeights()), padToken: tokenizer.pad)
        try self.init(path: path, name: url.lastPathComponent, family: family, conditioner: conditioner,
                      unetConfig: unetConfig, unetWeights: unetComponent.openWeights(), weightType: weightType,
                      vaeConfig: vaeConfig, vaeWeights: vaeComponent.openWeights(), scheduler: scheduler,
                      previewFactors: factors,
                      weightFiles: files(unetComponent) + files(textComponent) + files(vaeComponent))
    }

    /// An SD 1.x / 2.x model from its parts: a UNet that predicts what `scheduler` states and a VAE
    /// (single-file checkpoints and tests). With a `weightType` the UNet's large weights are
    /// converted to it into memory of its own, and it is a `ReloadingDenoiser` that can let them
    /// go; the text encoder and the VAE, which run once an image, always read theirs in place
    /// (converting them would only add memory: a mapped weight is held one layer at a time).
    convenience init(path: String, name: String, family: ModelFamily, conditioner: any TextConditioner,
                     unetConfig: UNet2DConditionConfig, unetWeights: any WeightSource, weightType: WeightType? = nil,
                     vaeConfig: AutoencoderKLConfig, vaeWeights: any WeightSource, scheduler: SchedulerConfig,
                     previewFactors: LatentPreviewFactors, weightFiles: [String]) throws {
        let parameterisation = Parameterisation(scheduler: scheduler)
        let denoiser: any Denoiser
        if let weightType {
            let weights = unetWeights.keeping(weightType)
            denoiser = try ReloadingDenoiser {
                try UNet2DConditionModel(config: unetConfig, weights: weights, parameterisation: parameterisation)
            }
        } else {
            denoiser = try UNet2DConditionModel(config: unetConfig, weights: unetWeights, parameterisation: parameterisation)
        }
        try self.init(path: path, name: name, family: family, conditioner: conditioner, denoiser: denoiser,
                      decoder: AutoencoderKL(config: vaeConfig, weights: vaeWeights), scheduler: scheduler,
                      previewFactors: previewFactors, weightFiles: weightFiles)
    }

    /// A model of any parts that fit together: the conditioning as wide as the denoiser attends
    /// to, the decoder's latents the denoiser's.
    init(path: String, name: String, family: ModelFamily, conditioner: any TextConditioner, denoiser: any Denoiser,
         decoder: any LatentDecoder, scheduler: SchedulerConfig, previewFactors: LatentPreviewFactors,
         weightFiles: [String]) throws {
        self.path = path
        self.name = name
        self.family = family
        self.conditioner = conditioner
        self.denoiser = denoiser
        self.decoder = decoder
        self.scheduler = scheduler
        nativeSize = (denoiser.sampleSize ?? 64) * decoder.downscale
        self.previewFactors = previewFactors
        self.weightFiles = weightFiles
    }
}

/// The Stable Diffusion generations stipple runs.
public enum ModelFamily: String, Sendable, CaseIterable, CustomStringConvertible {
    /// SD 1.x: OpenAI CLIP ViT-L/14 text encoder (768), pad with `<|endoftext|>`.
    case sd1
    /// SD 2.x: OpenCLIP ViT-H/14 text encoder (1024), pad with `!`.
    case sd2

    /// The family of a diffusers folder, the one place it is decided. The two generations differ
    /// in their text encoder: OpenAI's CLIP ViT-L/14 (768 wide, quick_gelu MLPs) against
    /// OpenCLIP's ViT-H/14 (1024 wide, exact gelu), so the UNet cross-attends to 768 or 1024
    /// wide states. The width decides for real models; a small model of either kind (the tests',
    /// the bundled one) has its own width, and there the encoder's activation tells them apart.
    public init(textEncoder: CLIPTextConfig, crossAttentionWidth: Int) {
        switch crossAttentionWidth {
        case 1024: self = .sd2
        case 768: self = .sd1
        default: self = textEncoder.hiddenAct == "gelu" ? .sd2 : .sd1
        }
    }

    /// The token that pads a prompt window: `<|endoftext|>` for SD 1.x, `!` for SD 2.x (which
    /// transformers then also cuts out of prompts).
    public var padToken: CLIPTokenizer.PadToken {
        switch self {
        case .sd1: .endOfText
        case .sd2: .exclamationMark
        }
    }

    public var description: String {
        switch self {
        case .sd1: "Stable Diffusion 1.x"
        case .sd2: "Stable Diffusion 2.x"
        }
    }

    /// The CLIP vocabulary shipped with stipple, padding as this family pads (for models without
    /// a tokenizer folder).
    public func bundledTokenizer() throws -> CLIPTokenizer {
        let bundled = try CLIPTokenizer.bundled()
        return padToken == .exclamationMark ? bundled.withPadToken("!") ?? bundled : bundled
    }
}
