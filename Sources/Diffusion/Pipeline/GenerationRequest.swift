import Foundation

/// Everything that decides one image (or a batch of images with consecutive seeds).
public struct GenerationRequest: Sendable, Equatable {
    /// The prompt, in A1111's syntax (`(word:1.2)`, `[word]`, `BREAK`).
    public var prompt: String
    public var negativePrompt: String = ""
    public var steps: Int = 20
    /// Classifier-free guidance scale; 1 and 0 run the conditional pass only (0 as diffusers'
    /// `guidance_scale=0`, the setting distilled models such as SDXL-Turbo are run with).
    public var cfgScale: Double = 7

    /// Whether the scale asks for classifier-free guidance (a second, unconditional pass).
    public var isGuided: Bool { cfgScale != 1 && cfgScale != 0 }
    /// The first image's seed; nil draws a random one (reported in the results).
    public var seed: UInt64?
    /// Which generator draws the noise from the seed (`--rng`): torch's CPU one, or A1111's
    /// Philox imitation of CUDA's.
    public var noiseSource: NoiseSource = .cpu
    /// A1111's variation seed (its "subseed"): the starting noise is the spherical blend of the
    /// seed's noise and this seed's, `variationStrength` of the way towards it. Consecutive images
    /// of a batch take consecutive variation seeds, as their seeds.
    public var variationSeed: UInt64?
    /// How far towards the variation seed's noise, 0 (none) to 1.
    public var variationStrength: Double = 0
    /// Where the noise after the starting noise (the ancestral steps') comes from: nil, the same
    /// stream (diffusers, A1111 by default); a delta, a new stream at seed + delta: A1111's "Eta
    /// noise seed delta" (ENSD, `--ensd`; NovelAI's images use 31337), and 0 ComfyUI's rule (its
    /// ancestral noise starts again from the seed).
    public var noiseSeedDelta: UInt64?
    /// diffusers' samplers (the default) or k-diffusion's (A1111's, ComfyUI's): see `SamplingConvention`.
    public var samplingConvention: SamplingConvention = .diffusers
    /// The sampler (`.default` = the model's own scheduler class). Text such as `euler_a` or
    /// `DPM++ 2M Karras` becomes a sampler and schedule through `SamplerChoice(parsing:)`.
    public var sampler: SamplerName = .default
    /// The sigma spacing (`.model` = the model's own).
    public var schedule: SigmaSchedule = .model
    /// How the steps are spread over the training timesteps; nil keeps the model scheduler's
    /// `timestep_spacing` (SDXL-Turbo and -Lightning were made for `trailing`).
    public var timestepSpacing: TimestepSpacing?
    /// Image size in pixels; nil means the model's native size (or the init image's).
    public var width: Int?
    public var height: Int?
    /// Images in this run, with seeds seed, seed + 1, ...
    public var batchCount: Int = 1
    /// img2img: the starting image (already at the generation size) and how much to change it.
    public var initImage: PixelImage?
    public var strength: Double = 0.75
    /// A1111's clip skip: 1 = the text encoder's last layer, 2 = the one before it, ... (SDXL
    /// conditions on the penultimate layer for 1 and 2 alike, as A1111 does.)
    public var clipSkip: Int = 1
    /// SDXL's original size and crop conditioning (ignored by SD 1.x / 2.x).
    public var sizeConditioning = SizeConditioning()
    /// DDIM's eta (0 = deterministic).
    public var eta: Double = 0
    public var preview: PreviewMode = .approx
    /// Which latent the previews show.
    public var previewLatent: PreviewLatent = .denoised
    /// Also preview the other latent (`StepProgress.otherPreview`): the studio's timeline keeps
    /// both, so a person can toggle between them after the run.
    public var previewBothLatents = false
    /// What decodes the final image: the model's VAE, or its tiny decoder (TAESD: far faster,
    /// a little less detail).
    public var decoder: ImageDecoder = .vae
    /// `full` previews decode with the VAE every this many steps.
    public var fullPreviewInterval: Int = 5
    /// Whether the VAE decodes (and img2img encodes) in overlapping tiles (`TiledDecoder`):
    /// `.auto` tiles when the whole decode would not fit the memory available (`MemoryEstimate`).
    public var vaeTiling: VAETiling = .auto
    /// Where `<lora:NAME:WEIGHT>` in the prompt finds `NAME.safetensors` (`--lora-dir`, `lora_dir`).
    public var loraFolder: String?
    /// The LoRA hashes an image's infotext recorded (`--from`): a LoRA found here with another
    /// hash is reported, since the image will differ.
    public var recordedLoRAHashes: [NamedHash] = []
    /// Whether a `<lora:NAME>` whose file is not here (or with no LoRA folder set) is left out with
    /// a warning, as A1111 does, rather than refused: set for parameters read back from an image
    /// (`--from`, the gallery's `l`), where the prompt names another machine's files; a prompt
    /// typed here keeps the error, which catches a misspelt name.
    public var skipsMissingLoRAs = false
    /// Whether LoRAs are merged into the weights or run beside the layers (`--lora-apply`).
    public var loraApplication: LoRAApplication = .runtime
    /// Where textual-inversion embeddings named in the prompts are found, by file name
    /// (`--embeddings-dir`, `embeddings_dir`).
    public var embeddingsFolder: String?

    public init(prompt: String) {
        self.prompt = prompt
    }

    /// The sampler `choice` names, and its schedule when the name carries one (`DPM++ 2M Karras`).
    public mutating func setSampler(_ choice: SamplerChoice) {
        choice.apply(sampler: &sampler, schedule: &schedule)
    }

    /// The size generated: the request's, else the init image's, else the model's native size.
    public func size(for model: StableDiffusionModel) -> (width: Int, height: Int) {
        size(for: ModelTarget.embedded(model))
    }

    /// Checks everything that can be checked before loading anything heavy, by the rules of
    /// `GenerationLimits`, then the memory the run needs against what the machine has; errors are
    /// one line naming the setting.
    public func validate(for model: StableDiffusionModel) throws(GenerationError) {
        try validateSettings(size: size(for: model), clipSkipLayers: model.conditioner.layerCount)
        if model.tinyDecoder == nil && (preview == .taesd || decoder == .taesd) {
            throw .invalid("\(decoder == .taesd ? "--decoder taesd" : "--preview taesd") needs a tiny decoder: give --taesd PATH "
                           + "(a TAESD folder or taesd_decoder.safetensors), or put one in the model folder's taesd/")
        }
        try MemoryEstimate(request: self, model: model).check()
    }

    /// The size generated on `target`: the request's, else the init image's, else its native size.
    public func size(for target: ModelTarget) -> (width: Int, height: Int) {
        (width ?? initImage?.width ?? target.nativeSize, height ?? initImage?.height ?? target.nativeSize)
    }

    /// `validate(for:)` on whatever `target` is: a server's checkpoint gets the same rules for
    /// every setting (its memory is the server's; its text encoder's depth unknown, so clip skip
    /// is checked against SD's 12 layers).
    public func validate(for target: ModelTarget) throws(GenerationError) {
        switch target {
        case .embedded(let model): try validate(for: model)
        case .remote: try validateSettings(size: size(for: target), clipSkipLayers: 12)
        }
    }

    /// The rules of `GenerationLimits` for every setting, and the init image's size.
    func validateSettings(size: (width: Int, height: Int), clipSkipLayers: Int) throws(GenerationError) {
        let (w, h) = size
        do {
            try GenerationLimits.width.check(w)
            try GenerationLimits.height.check(h)
            try GenerationLimits.steps.check(steps)
            try GenerationLimits.cfgScale.check(cfgScale)
            try GenerationLimits.batchCount.check(batchCount)
            try GenerationLimits.clipSkip(layers: clipSkipLayers).check(clipSkip)
            try GenerationLimits.eta.check(eta)
            try GenerationLimits.check(sizeConditioning)
            try GenerationLimits.previewInterval.check(fullPreviewInterval)
            if initImage != nil { try GenerationLimits.strength.check(strength) }
        } catch {
            throw .invalid(error.description)
        }
        if let image = initImage {
            guard image.width == w, image.height == h else {
                throw .invalid("init image is \(image.width)x\(image.height), the generation \(w)x\(h)")
            }
        }
    }
}

/// What previews a generation produces.
public enum PreviewMode: String, CaseIterable, Sendable {
    /// None.
    case off
    /// The latent through a fixed linear latent -> RGB map (one pixel per latent cell; free).
    case approx
    /// A VAE decode every `fullPreviewInterval` steps (full size; costs a decode each time).
    case full
    /// A tiny-decoder (TAESD) decode after every step: full size, about a sixth of a VAE decode's time.
    case taesd
}

/// What decodes the final image (`GenerationRequest.decoder`, `--decoder`).
public enum ImageDecoder: String, CaseIterable, Sendable {
    /// The model's VAE.
    case vae
    /// The model's tiny decoder (TAESD).
    case taesd
}

/// When the VAE works in tiles (`GenerationRequest.vaeTiling`).
public enum VAETiling: String, CaseIterable, Sendable {
    /// When the whole decode would not fit the memory available (`MemoryEstimate.tilesVAE`).
    case auto
    /// Always for images larger than one tile (`--vae-tiling`).
    case on
    /// Never (`--no-vae-tiling`): a size that fits only tiled is refused.
    case off
}

/// The latent a preview shows.
public enum PreviewLatent: String, CaseIterable, Sendable {
    /// The model's estimate of the clean image at this step.
    case denoised
    /// The noisy latent the sampler holds after the step.
    case noisy
}

/// Why a generation did not run; one line.
public enum GenerationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    case cancelled
    case failed(String)

    public var description: String {
        switch self {
        case .invalid(let why): why
        case .cancelled: "cancelled"
        case .failed(let why): why
        }
    }
}
