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
    /// Prompts -> conditioning (`CLIPTextConditioner` for SD 1.x / 2.x, `SDXLTextConditioner` for SDXL).
    public let conditioner: any TextConditioner
    /// (latents, timesteps, conditioning) -> model output (today `UNet2DConditionModel`).
    public let denoiser: any Denoiser
    /// Pixels <-> latents at the denoiser's scale (today `AutoencoderKL`).
    public let decoder: any LatentDecoder
    /// The model's own `scheduler_config.json` (the training schedule every sampler starts from).
    public let scheduler: SchedulerConfig
    /// Pixels per latent cell (8 for SD; 2^(VAE levels - 1)).
    public var vaeScaleFactor: Int { decoder.downscale }
    /// Latent channels (4 for SD 1.x, 2.x and XL).
    public var latentChannels: Int { decoder.latentChannels }
    /// The size the model was trained at (`unet.sample_size` x `vaeScaleFactor`), e.g. 512.
    public let nativeSize: Int
    /// The linear latent -> RGB projection for cheap previews.
    public let previewFactors: LatentPreviewFactors
    /// The weight files, for the model hash.
    public let weightFiles: [String]
    /// A tiny autoencoder (TAESD) for cheap previews and, on request, the final decode: the
    /// folder's `taesd/` when it has one, or one given with `withTinyDecoder`; nil otherwise.
    public let tinyDecoder: AutoencoderTiny?
    /// How the conditioner and the denoiser are built from their weights, to build them again with
    /// LoRAs merged (`withLoRAs`); nil for a model put together from ready parts.
    let parts: WeightedParts?
    /// The last `withLoRAs` result, reused while the same LoRAs at the same weights are asked for.
    let loraCache = Locked<LoRACacheEntry?>(nil)

    /// What the denoiser's output means, as the model states it.
    public var parameterisation: Parameterisation { denoiser.parameterisation }

    /// Loads the diffusers folder at `path` (`model_index.json`, `tokenizer/`, `text_encoder/`,
    /// `unet/`, `vae/`, `scheduler/`; SDXL also `tokenizer_2/` and `text_encoder_2/`). `variant`
    /// prefers e.g. `fp16` weights; without it the full precision files are used when present, else
    /// whatever variant is there. `prediction` overrides the scheduler's `prediction_type`.
    /// `weightType` keeps the UNet's large weights in that precision (converted once, here)
    /// instead of reading them in place as stored.
    public convenience init(folder path: String, variant: String? = nil, prediction: PredictionType? = nil,
                            weightType: WeightType? = nil) throws {
        let url = URL(fileURLWithPath: path)
        let indexPath = url.appendingPathComponent("model_index.json").path
        guard FileManager.default.fileExists(atPath: indexPath) else {
            throw CheckpointError(path: path, reason: .missing(
                "no model_index.json: not a diffusers model folder (give a folder with model_index.json, unet/, vae/, "
                    + "text_encoder/, or a single-file .safetensors checkpoint)"))
        }
        let index = try ModelIndex(path: indexPath)
        if index.requiresAestheticsScore || (index.isSDXL && !index.components.contains("text_encoder")) {
            throw CheckpointError(path: path, reason: .unsupportedConfig(
                key: "model", value: "SDXL refiner", note: "the refiner (OpenCLIP-bigG only, aesthetic-score conditioning) "
                    + "is not supported; use an SDXL base model or a fine-tune of one"))
        }
        let unetComponent = try DiffusersComponent(model: path, component: "unet", variant: variant)
        let vaeComponent = try DiffusersComponent(model: path, component: "vae", variant: variant)
        let unetConfig = try unetComponent.loadConfig(UNet2DConditionConfig.self)
        let vaeConfig = try vaeComponent.loadConfig(AutoencoderKLConfig.self)
        let schedulerPath = url.appendingPathComponent("scheduler/scheduler_config.json").path
        guard FileManager.default.fileExists(atPath: schedulerPath) else {
            throw CheckpointError(path: path, reason: .missing("no scheduler/scheduler_config.json in this model folder"))
        }
        var scheduler = try SchedulerConfig.read(from: schedulerPath)
        do { try scheduler.validate() } catch { throw error.at(schedulerPath) }
        if let prediction { scheduler.predictionType = prediction.rawValue }

        let text = index.isSDXL
            ? try Self.sdxlConditioner(folder: path, variant: variant, forceZerosForEmptyPrompt: index.forceZerosForEmptyPrompt)
            : try Self.clipConditioner(folder: path, variant: variant, crossAttentionWidth: unetConfig.crossAttentionDim)
        let conditioner = try text.build(WeightedParts.unpatched)
        let factors = LatentPreviewFactors.load(folder: path)
            ?? .standard(family: text.family, latentChannels: vaeConfig.latentChannels)
        let taesd = url.appendingPathComponent("taesd").path
        let tiny = FileManager.default.fileExists(atPath: taesd) ? try AutoencoderTiny.load(path: taesd) : nil
        try self.init(path: path, name: url.lastPathComponent, family: text.family, conditioner: conditioner, text: text.build,
                      unetConfig: unetConfig, unetWeights: unetComponent.openWeights(), weightType: weightType,
                      vaeConfig: vaeConfig, vaeWeights: vaeComponent.openWeights(), scheduler: scheduler,
                      previewFactors: factors,
                      weightFiles: unetComponent.weightFiles + text.weightFiles + vaeComponent.weightFiles, tinyDecoder: tiny)
    }

    /// This model with `tiny` as its tiny decoder (`--taesd`); refused when its latents are not
    /// the model's (channels, or pixels per latent cell).
    public func withTinyDecoder(_ tiny: AutoencoderTiny) throws -> StableDiffusionModel {
        guard tiny.latentChannels == latentChannels, tiny.downscale == vaeScaleFactor else {
            throw CheckpointError(path: path, reason: .invalidConfig(
                "the tiny decoder reads \(tiny.latentChannels)-channel latents at \(tiny.downscale) pixels a cell; "
                    + "this model makes \(latentChannels)-channel latents at \(vaeScaleFactor)"))
        }
        return try StableDiffusionModel(path: path, name: name, family: family, conditioner: conditioner, denoiser: denoiser,
                                        decoder: decoder, scheduler: scheduler, previewFactors: previewFactors,
                                        weightFiles: weightFiles, tinyDecoder: tiny, parts: parts)
    }

    /// SD 1.x / 2.x's text side of a folder: `tokenizer/` (or the bundled vocabulary) and `text_encoder/`.
    private static func clipConditioner(folder path: String, variant: String?, crossAttentionWidth: Int) throws
        -> (family: ModelFamily, build: WeightedParts.TextBuilder, weightFiles: [String]) {
        let component = try DiffusersComponent(model: path, component: "text_encoder", variant: variant)
        let config = try component.loadConfig(CLIPTextConfig.self)
        let family = ModelFamily(textEncoder: config, crossAttentionWidth: crossAttentionWidth)
        let tokenizer = try tokenizer(folder: path, name: "tokenizer", bundled: family.padToken)
        let weights = try component.openWeights()
        return (family, { patch in
            CLIPTextConditioner(tokenizer: tokenizer, textModel: try CLIPTextModel(config: config, weights: patch(.textEncoder, weights)),
                                padToken: tokenizer.pad)
        }, component.weightFiles)
    }

    /// SDXL's text side of a folder: `tokenizer/` + `text_encoder/` (CLIP-L) and `tokenizer_2/` +
    /// `text_encoder_2/` (OpenCLIP-bigG with its projection); without tokenizer folders, the
    /// bundled vocabulary padding with `<|endoftext|>` and `!` respectively.
    private static func sdxlConditioner(folder path: String, variant: String?, forceZerosForEmptyPrompt: Bool) throws
        -> (family: ModelFamily, build: WeightedParts.TextBuilder, weightFiles: [String]) {
        let components = (try DiffusersComponent(model: path, component: "text_encoder", variant: variant),
                          try DiffusersComponent(model: path, component: "text_encoder_2", variant: variant))
        let configs = (try components.0.loadConfig(CLIPTextConfig.self), try components.1.loadConfig(CLIPTextConfig.self))
        let tokenizers = (try tokenizer(folder: path, name: "tokenizer", bundled: .endOfText),
                          try tokenizer(folder: path, name: "tokenizer_2", bundled: .exclamationMark))
        let weights = (try components.0.openWeights(), try components.1.openWeights())
        return (.sdxl, { patch in
            try sdxlConditioner(configs: configs, tokenizers: tokenizers,
                                weights: (patch(.textEncoder, weights.0), patch(.textEncoder2, weights.1)),
                                forceZerosForEmptyPrompt: forceZerosForEmptyPrompt)
        }, components.0.weightFiles + components.1.weightFiles)
    }

    /// SDXL's conditioner from both encoders' configs, tokenizers (each padding with its own pad
    /// token) and weights (bigG's also give its `text_projection`).
    static func sdxlConditioner(configs: (CLIPTextConfig, CLIPTextConfig), tokenizers: (CLIPTokenizer, CLIPTokenizer),
                                weights: (any WeightSource, any WeightSource), forceZerosForEmptyPrompt: Bool) throws
        -> SDXLTextConditioner {
        try SDXLTextConditioner(
            first: CLIPTextConditioner(tokenizer: tokenizers.0, textModel: CLIPTextModel(config: configs.0, weights: weights.0),
                                       padToken: tokenizers.0.pad),
            second: CLIPTextConditioner(tokenizer: tokenizers.1, textModel: CLIPTextModel(config: configs.1, weights: weights.1),
                                        padToken: tokenizers.1.pad),
            projectionWeights: weights.1, projectionDim: configs.1.projectionDim, forceZerosForEmptyPrompt: forceZerosForEmptyPrompt)
    }

    /// The tokenizer in the folder's `name/`, else the bundled vocabulary padding with `bundled`.
    private static func tokenizer(folder path: String, name: String, bundled: CLIPTokenizer.PadToken) throws -> CLIPTokenizer {
        let folder = URL(fileURLWithPath: path).appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: folder) { return try CLIPTokenizer(folder: folder) }
        return try CLIPTokenizer.bundled(padding: bundled)
    }

    /// A model (SD 1.x, 2.x or XL) from its parts: a text conditioner, a UNet that predicts what `scheduler` states and a VAE
    /// (single-file checkpoints and tests). With a `weightType` the UNet's large weights are
    /// converted to it into memory of its own, and it is a `ReloadingDenoiser` that can let them
    /// go; the text encoder and the VAE, which run once an image, always read theirs in place
    /// (converting them would only add memory: a mapped weight is held one layer at a time).
    /// `text` builds the conditioner again from patched weights (LoRAs); `conditioner` is what it
    /// built unpatched.
    convenience init(path: String, name: String, family: ModelFamily, conditioner: any TextConditioner,
                     text: @escaping WeightedParts.TextBuilder,
                     unetConfig: UNet2DConditionConfig, unetWeights: any WeightSource, weightType: WeightType? = nil,
                     vaeConfig: AutoencoderKLConfig, vaeWeights: any WeightSource, scheduler: SchedulerConfig,
                     previewFactors: LatentPreviewFactors, weightFiles: [String],
                     tinyDecoder: AutoencoderTiny? = nil) throws {
        let parameterisation = Parameterisation(scheduler: scheduler)
        let denoiserBuilder: WeightedParts.DenoiserBuilder = { patch in
            let weights = patch(.unet, unetWeights)
            guard let weightType else {
                return try UNet2DConditionModel(config: unetConfig, weights: weights, parameterisation: parameterisation)
            }
            let typed = weights.keeping(weightType)
            return try ReloadingDenoiser {
                try UNet2DConditionModel(config: unetConfig, weights: typed, parameterisation: parameterisation)
            }
        }
        let parts = WeightedParts(conditioner: text, denoiser: denoiserBuilder, unetLDMNames: LDMKeyMap.unet(unetConfig))
        try self.init(path: path, name: name, family: family, conditioner: conditioner,
                      denoiser: denoiserBuilder(WeightedParts.unpatched),
                      decoder: AutoencoderKL(config: vaeConfig, weights: vaeWeights), scheduler: scheduler,
                      previewFactors: previewFactors, weightFiles: weightFiles, tinyDecoder: tinyDecoder, parts: parts)
    }

    /// A model of any parts that fit together: the conditioning as wide as the denoiser attends
    /// to, the decoder's latents the denoiser's.
    init(path: String, name: String, family: ModelFamily, conditioner: any TextConditioner, denoiser: any Denoiser,
         decoder: any LatentDecoder, scheduler: SchedulerConfig, previewFactors: LatentPreviewFactors,
         weightFiles: [String], tinyDecoder: AutoencoderTiny? = nil, parts: WeightedParts? = nil) throws {
        self.parts = parts
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
        self.tinyDecoder = tinyDecoder
    }
}

/// The Stable Diffusion generations stipple runs.
public enum ModelFamily: String, Sendable, CaseIterable, CustomStringConvertible {
    /// SD 1.x: OpenAI CLIP ViT-L/14 text encoder (768), pad with `<|endoftext|>`.
    case sd1
    /// SD 2.x: OpenCLIP ViT-H/14 text encoder (1024), pad with `!`.
    case sd2
    /// SDXL (1.0, Turbo, Lightning, and fine-tunes such as Pony, Illustrious, NoobAI): CLIP ViT-L
    /// and OpenCLIP ViT-bigG (2048 joined), pooled text and size ids, 1024x1024 native.
    case sdxl

    /// The family of an SD 1.x / 2.x diffusers folder (SDXL is told by its second text encoder).
    /// The two generations differ in their text encoder: OpenAI's CLIP ViT-L/14 (768 wide,
    /// quick_gelu MLPs) against OpenCLIP's ViT-H/14 (1024 wide, exact gelu), so the UNet
    /// cross-attends to 768 or 1024 wide states. The width decides for real models; a small model
    /// of either kind (the tests', the bundled one) has its own width, and there the encoder's
    /// activation tells them apart.
    public init(textEncoder: CLIPTextConfig, crossAttentionWidth: Int) {
        switch crossAttentionWidth {
        case 1024: self = .sd2
        case 768: self = .sd1
        default: self = textEncoder.hiddenAct == "gelu" ? .sd2 : .sd1
        }
    }

    /// The token that pads a prompt window of the (first) text encoder: `<|endoftext|>` for SD 1.x
    /// and SDXL's CLIP-L, `!` for SD 2.x (which transformers then also cuts out of prompts).
    /// SDXL's second encoder pads with `!`.
    public var padToken: CLIPTokenizer.PadToken {
        switch self {
        case .sd1, .sdxl: .endOfText
        case .sd2: .exclamationMark
        }
    }

    public var description: String {
        switch self {
        case .sd1: "Stable Diffusion 1.x"
        case .sd2: "Stable Diffusion 2.x"
        case .sdxl: "Stable Diffusion XL"
        }
    }

    /// The short name shown beside a model's name (the studio's Model field).
    public var shortName: String {
        switch self {
        case .sd1: "SD 1.x"
        case .sd2: "SD 2.x"
        case .sdxl: "SDXL"
        }
    }

    /// SDXL's training buckets near one megapixel (Stability's published aspect-ratio list, as
    /// A1111 and ComfyUI users pick from): square, then each landscape size and its portrait twin.
    public static let sdxlSizes: [(width: Int, height: Int)] = [
        (1024, 1024), (1152, 896), (896, 1152), (1216, 832), (832, 1216), (1344, 768), (768, 1344), (1536, 640), (640, 1536),
    ]

    /// The sizes offered for a model made at `nativeSize` x `nativeSize`: SDXL's buckets scaled to
    /// that area (multiples of 8), so an SD 1.x model gets 512x512, 576x448, 448x576, ... and a
    /// 1024 model exactly SDXL's list.
    public static func presetSizes(nativeSize: Int) -> [(width: Int, height: Int)] {
        let scale = Double(max(8, nativeSize)) / 1024
        var sizes: [(width: Int, height: Int)] = []
        for (width, height) in sdxlSizes {
            let scaled = (max(8, Int((Double(width) * scale / 8).rounded()) * 8), max(8, Int((Double(height) * scale / 8).rounded()) * 8))
            if !sizes.contains(where: { $0 == scaled }) { sizes.append(scaled) }
        }
        return sizes
    }

    /// The CLIP vocabulary shipped with stipple, padding as this family pads (for models without
    /// a tokenizer folder).
    public func bundledTokenizer() throws -> CLIPTokenizer {
        try CLIPTokenizer.bundled(padding: padToken)
    }
}

extension CLIPTokenizer {
    /// The CLIP vocabulary shipped with stipple, padding with `padding`.
    static func bundled(padding: PadToken) throws -> CLIPTokenizer {
        let bundled = try CLIPTokenizer.bundled()
        return padding == .exclamationMark ? bundled.withPadToken("!") ?? bundled : bundled
    }
}
