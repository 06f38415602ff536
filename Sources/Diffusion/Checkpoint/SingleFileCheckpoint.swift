import Foundation

/// A Stable Diffusion 1.x or 2.x checkpoint in one `.safetensors` file, as model sites share
/// them: UNet, VAE and text encoder under the original CompVis/LDM names
/// (`model.diffusion_model.*`, `first_stage_model.*`, `cond_stage_model.*`). Opening it maps the
/// file, tells the family from the tensor names, infers the configs from the shapes (and the
/// family's conventions for what shapes cannot tell) and gives each component as a
/// `WeightSource` under the names our models read:
///
///     let checkpoint = try SingleFileCheckpoint(path: "v1-5-pruned-emaonly.safetensors")
///     let unet = try UNet2DConditionModel(config: checkpoint.unetConfig, weights: checkpoint.unetWeights)
///
/// Nothing is copied up front: each weight is read from the mapping when a model asks for it.
/// SDXL and other architectures are refused with a one-line error naming what was found; pickle
/// checkpoints (`.ckpt`, `.pt`, `.pth`, `.bin`) with advice on converting them.
public struct SingleFileCheckpoint: Sendable {
    /// The Stable Diffusion generation, told apart by the text encoder's tensors: SD 1.x's OpenAI
    /// CLIP ViT-L/14 (`cond_stage_model.transformer.*`), SD 2.x's OpenCLIP ViT-H/14
    /// (`cond_stage_model.model.*`, penultimate layer, 64-channel attention heads).
    public typealias Family = ModelFamily

    /// What the caller knows better than the file.
    public struct Options: Sendable {
        /// What the UNet predicts. SD 2.x 768-v models (v-prediction) and 512 base models
        /// (epsilon) have the same tensors, so nil takes the file's `modelspec.prediction_type`
        /// (or a `modelspec.architecture` ending in `-v`) and otherwise epsilon.
        public var prediction: PredictionType?
        /// The text encoder's config, instead of the one inferred.
        public var textEncoderConfig: CLIPTextConfig?
        /// SDXL's second text encoder's config (`CLIPTextModelWithProjection`), instead of the one inferred.
        public var textEncoder2Config: CLIPTextConfig?
        /// The UNet's config, instead of the one inferred (e.g. for head counts other than the family's).
        public var unetConfig: UNet2DConditionConfig?
        /// The VAE's config, instead of the one inferred (e.g. another `scaling_factor`).
        public var vaeConfig: AutoencoderKLConfig?

        /// Everything from the file.
        public init(prediction: PredictionType? = nil, textEncoderConfig: CLIPTextConfig? = nil,
                    textEncoder2Config: CLIPTextConfig? = nil,
                    unetConfig: UNet2DConditionConfig? = nil, vaeConfig: AutoencoderKLConfig? = nil) {
            self.prediction = prediction
            self.textEncoderConfig = textEncoderConfig
            self.textEncoder2Config = textEncoder2Config
            self.unetConfig = unetConfig
            self.vaeConfig = vaeConfig
        }
    }

    /// The path the file was opened with.
    public let path: String
    /// SD 1.x, 2.x or XL.
    public let family: Family
    /// What the UNet predicts (also in `schedulerConfig.predictionType`).
    public let prediction: PredictionType
    /// The text encoder's config (inferred unless given in `Options`).
    public let textEncoderConfig: CLIPTextConfig
    /// The UNet's config (inferred unless given in `Options`).
    public let unetConfig: UNet2DConditionConfig
    /// The VAE's config (inferred unless given in `Options`).
    public let vaeConfig: AutoencoderKLConfig
    /// The training noise schedule of the family, as the `scheduler_config.json` of the official
    /// diffusers release: SD 1.x PNDM, SD 2.x DDIM; scaled_linear betas 0.00085 to 0.012 over
    /// 1000 steps, `steps_offset` 1.
    public let schedulerConfig: SchedulerConfig
    /// The text encoder's weights, named as transformers' `CLIPTextModel` (`text_model.*`).
    public let textEncoderWeights: SingleFileWeights
    /// SDXL's second text encoder (OpenCLIP-bigG) as transformers' `CLIPTextModelWithProjection`
    /// and its config; nil for SD 1.x / 2.x.
    public let textEncoder2Weights: SingleFileWeights?
    public let textEncoder2Config: CLIPTextConfig?
    /// The UNet's weights, named as diffusers' `UNet2DConditionModel`.
    public let unetWeights: SingleFileWeights
    /// The VAE's weights, named as diffusers' `AutoencoderKL`.
    public let vaeWeights: SingleFileWeights
    /// Tensors of the file that SD inference does not use and that were left out on purpose: EMA
    /// copies (`model_ema.*`), the training schedule buffers (`betas`, `alphas_cumprod`, ...),
    /// CLIP's `position_ids`, OpenCLIP's last layer (SD 2.x conditions on the penultimate),
    /// `text_projection` and `logit_scale`. Sorted.
    public let ignoredTensorNames: [String]
    /// Tensors of the file that none of the above explains (not used; worth a warning). Sorted.
    public let unrecognizedTensorNames: [String]

    /// The token that pads a prompt window for this family.
    public var padToken: CLIPTokenizer.PadToken { family.padToken }

    /// Opens, maps and reads the layout of the checkpoint at `path`.
    public init(path: String, options: Options = Options()) throws(CheckpointError) {
        let fileExtension = (path as NSString).pathExtension.lowercased()
        if DiffusersComponent.pickleExtensions.contains(fileExtension) {
            throw CheckpointError(path: path, reason: .pickle)
        }
        let file = try SafetensorsFile(path: path)
        let layout = try SingleFileLayout(tensors: file.entries, metadata: file.metadata, path: path, options: options)
        self.path = path
        family = layout.family
        prediction = layout.prediction
        textEncoderConfig = layout.textEncoderConfig
        unetConfig = layout.unetConfig
        vaeConfig = layout.vaeConfig
        schedulerConfig = layout.schedulerConfig
        textEncoderWeights = SingleFileWeights(file: file, component: layout.textEncoder)
        textEncoder2Weights = layout.textEncoder2.map { SingleFileWeights(file: file, component: $0) }
        textEncoder2Config = layout.textEncoder2Config
        unetWeights = SingleFileWeights(file: file, component: layout.unet)
        vaeWeights = SingleFileWeights(file: file, component: layout.vae)
        ignoredTensorNames = layout.ignored
        unrecognizedTensorNames = layout.unrecognized
    }

    /// Tensors of the three components that no model has read so far, as the file names them:
    /// after building the text encoder, UNet and VAE, weights they did not use. Sorted.
    public var unusedTensorNames: [String] {
        var unused: Set<String> = []
        var used: Set<String> = []
        for weights in [textEncoderWeights, unetWeights, vaeWeights] + [textEncoder2Weights].compactMap({ $0 }) {
            let loaded = weights.loadedTensorNames
            for (name, entry) in weights.entries {
                if loaded.contains(name) { used.insert(entry.stored) } else { unused.insert(entry.stored) }
            }
        }
        return unused.subtracting(used).sorted()  // a fused q, k, v counts as used when any part was read
    }
}

extension SingleFileWeights {
    init(file: SafetensorsFile, component: SingleFileLayout.Component) {
        self.init(file: file, prefix: component.prefix, keyMap: component.keyMap, entries: component.entries)
    }
}
