/// What the tensor names and shapes of a single-file checkpoint say: the family, the configs,
/// and for each component a map from diffusers names to stored tensors; every other tensor is
/// either a known leftover (ignored) or unrecognized. Works on the header alone (no tensor data),
/// so full-size layouts can be checked from their names and shapes.
struct SingleFileLayout {
    /// One component: where it is in the file and which stored tensor each diffusers name reads.
    struct Component {
        /// The component's prefix in the file.
        var prefix: String
        /// Its module table.
        var keyMap: LDMKeyMap
        /// Diffusers name -> stored tensor.
        var entries: [String: SingleFileWeights.Entry] = [:]
    }

    static let unetPrefix = "model.diffusion_model."
    static let vaePrefix = "first_stage_model."
    /// SD 1.x: transformers' CLIPTextModel inside LDM's `FrozenCLIPEmbedder`.
    static let clipPrefix = "cond_stage_model.transformer."
    /// SD 2.x: open_clip's model inside LDM's `FrozenOpenCLIPEmbedder`.
    static let openCLIPPrefix = "cond_stage_model.model."
    /// SDXL (SGM's `GeneralConditioner`): CLIP ViT-L as transformers' `CLIPTextModel`.
    static let sdxlCLIPPrefix = "conditioner.embedders.0.transformer."
    /// SDXL: open_clip's ViT-bigG text tower, with its `text_projection`.
    static let sdxlOpenCLIPPrefix = "conditioner.embedders.1.model."

    /// Buffers of LDM's `DDPM` training class (the noise schedule, kept in every full checkpoint).
    static let scheduleBuffers: Set<String> = [
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
        "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "logvar",
    ]

    var family: SingleFileCheckpoint.Family
    var prediction: PredictionType
    var textEncoderConfig: CLIPTextConfig
    var unetConfig: UNet2DConditionConfig
    var vaeConfig: AutoencoderKLConfig
    var schedulerConfig: SchedulerConfig
    var textEncoder: Component
    /// SDXL's second text encoder (OpenCLIP-bigG) and its config; nil for SD 1.x / 2.x.
    var textEncoder2: Component?
    var textEncoder2Config: CLIPTextConfig?
    var unet: Component
    var vae: Component
    /// Known leftovers, sorted.
    var ignored: [String] = []
    /// Neither used nor known, sorted.
    var unrecognized: [String] = []

    /// Reads the layout of a file with these tensors and `__metadata__`; `path` names it in errors.
    init(tensors: [String: TensorInfo], metadata: [String: String], path: String,
         options: SingleFileCheckpoint.Options) throws(CheckpointError) {
        let shapes = ShapeTable(tensors: tensors, path: path)
        family = try Self.family(of: shapes)
        prediction = options.prediction ?? Self.prediction(from: metadata) ?? .epsilon
        if let given = options.unetConfig {
            unetConfig = given
        } else {
            unetConfig = try Self.unetConfig(shapes, family: family, prediction: prediction)
        }
        if let given = options.vaeConfig {
            vaeConfig = given
        } else {
            vaeConfig = try Self.vaeConfig(shapes, family: family, sampleSize: 8 * (unetConfig.sampleSize ?? 64))
        }
        if let given = options.textEncoderConfig {
            textEncoderConfig = given
        } else {
            textEncoderConfig = try Self.textEncoderConfig(shapes, family: family)
        }
        if family == .sdxl {
            if let given = options.textEncoder2Config {
                textEncoder2Config = given
            } else {
                textEncoder2Config = try Self.openCLIPConfig(shapes, root: Self.sdxlOpenCLIPPrefix, keepsLastLayer: true)
            }
        }
        schedulerConfig = Self.schedulerConfig(family: family, prediction: prediction)
        let textWidth = textEncoderConfig.hiddenSize + (textEncoder2Config?.hiddenSize ?? 0)
        guard unetConfig.crossAttentionDim == textWidth else {
            throw CheckpointError(path: path, reason: .invalidConfig(
                "the UNet's cross-attention reads \(unetConfig.crossAttentionDim)-wide text states, the text encoder gives \(textWidth)"))
        }
        if let second = textEncoder2Config, let input = unetConfig.projectionClassEmbeddingsInputDim,
           let idWidth = unetConfig.additionTimeEmbedDim, input != second.projectionDim + 6 * idWidth {
            throw CheckpointError(path: path, reason: .invalidConfig(
                "the UNet's added embedding reads \(input) values, the pooled text and six time ids give \(second.projectionDim + 6 * idWidth)"))
        }

        unet = Component(prefix: Self.unetPrefix, keyMap: .unet(unetConfig))
        vae = Component(prefix: Self.vaePrefix, keyMap: .vae(vaeConfig))
        switch family {
        case .sd1:
            textEncoder = Component(prefix: Self.clipPrefix, keyMap: .clip)
        case .sd2:
            textEncoder = Component(prefix: Self.openCLIPPrefix, keyMap: .openCLIP(layers: textEncoderConfig.numHiddenLayers))
        case .sdxl:
            textEncoder = Component(prefix: Self.sdxlCLIPPrefix, keyMap: .clip)
            textEncoder2 = Component(prefix: Self.sdxlOpenCLIPPrefix,
                                     keyMap: .openCLIP(layers: textEncoder2Config?.numHiddenLayers ?? 0, projection: true))
        }
        for name in tensors.keys.sorted() {
            guard let info = tensors[name] else { continue }
            if isIgnored(name) {
                ignored.append(name)
            } else if name.hasPrefix(unet.prefix) {
                try Self.add(name, info, to: &unet, unrecognized: &unrecognized, path: path)
            } else if name.hasPrefix(vae.prefix) {
                try Self.add(name, info, to: &vae, unrecognized: &unrecognized, path: path)
            } else if name.hasPrefix(textEncoder.prefix) {
                try Self.add(name, info, to: &textEncoder, unrecognized: &unrecognized, path: path)
            } else if var second = textEncoder2, name.hasPrefix(second.prefix) {
                try Self.add(name, info, to: &second, unrecognized: &unrecognized, path: path)
                textEncoder2 = second
            } else {
                unrecognized.append(name)
            }
        }
    }

    /// Whether a tensor is one SD inference does not need and that real files are known to carry.
    private func isIgnored(_ name: String) -> Bool {
        if name.hasPrefix("model_ema.") || Self.scheduleBuffers.contains(name) { return true }
        switch family {
        case .sd1:
            // transformers 4's int64 buffer [0, 1, ..., 76].
            return name == Self.clipPrefix + "text_model.embeddings.position_ids" || name == Self.clipPrefix + "embeddings.position_ids"
        case .sd2:
            let text = Self.openCLIPPrefix
            // CLIP's projection and temperature (contrastive training only); older open_clip saved its causal mask.
            if [text + "text_projection", text + "logit_scale", text + "attn_mask"].contains(name) { return true }
            // Layers after those used: SD 2.x conditions on the penultimate layer of OpenCLIP-H's 24.
            guard name.hasPrefix(text + "transformer.resblocks.") else { return false }
            let layer = name.dropFirst((text + "transformer.resblocks.").count).prefix { $0.isNumber }
            return Int(layer).map { $0 >= textEncoderConfig.numHiddenLayers } ?? false
        case .sdxl:
            // CLIP-L's int64 position ids; bigG's contrastive temperature and (older open_clip) causal mask.
            return [Self.sdxlCLIPPrefix + "text_model.embeddings.position_ids", Self.sdxlCLIPPrefix + "embeddings.position_ids",
                    Self.sdxlOpenCLIPPrefix + "logit_scale", Self.sdxlOpenCLIPPrefix + "attn_mask"].contains(name)
        }
    }

    /// Maps one stored tensor of `component` (to one or three diffusers names), or lists it as unrecognized.
    private static func add(_ name: String, _ info: TensorInfo, to component: inout Component,
                            unrecognized: inout [String], path: String) throws(CheckpointError) {
        let targets = component.keyMap.diffusersNames(of: String(name.dropFirst(component.prefix.count)))
        guard !targets.isEmpty else {
            unrecognized.append(name)
            return
        }
        for (diffusersName, transform) in targets {
            guard let shape = transform.shape(from: info.shape) else {
                let expected = transform == .convToLinear ? "a linear weight or a 1x1 convolution" : "rows that split into q, k and v"
                throw CheckpointError(path: path, tensor: name, reason: .unsupportedConfig(key: "shape", value: "\(info.shape)", note: "expected " + expected))
            }
            let bytes = info.dataOffsets.count, elements = transform.elements(of: info.elementCount)
            let byteCount = info.elementCount == 0 ? 0 : bytes / info.elementCount * elements.count
            let start = info.dataOffsets.lowerBound + (info.elementCount == 0 ? 0 : bytes / info.elementCount * elements.lowerBound)
            component.entries[diffusersName] = SingleFileWeights.Entry(
                stored: name, transform: transform, info: TensorInfo(dtype: info.dtype, shape: shape, dataOffsets: start..<(start + byteCount)))
        }
    }

    /// The prediction type a file's ModelSpec metadata states (`modelspec.prediction_type` "v" or
    /// "epsilon", or a `modelspec.architecture` such as `stable-diffusion-v2-768-v`); nil when it says none.
    static func prediction(from metadata: [String: String]) -> PredictionType? {
        switch metadata["modelspec.prediction_type"]?.lowercased() {
        case "v", "v_prediction", "v-prediction": return .vPrediction
        case "epsilon", "eps": return .epsilon
        default: break
        }
        if let architecture = metadata["modelspec.architecture"]?.lowercased(), architecture.hasSuffix("-v") {
            return .vPrediction
        }
        return nil
    }

    /// The scheduler config of the family's official diffusers release (`scheduler_config.json`):
    /// SD 1.x PNDM, SD 2.x DDIM, SDXL Euler with leading spacing and linear interpolation.
    static func schedulerConfig(family: SingleFileCheckpoint.Family, prediction: PredictionType) -> SchedulerConfig {
        var config = SchedulerConfig()
        switch family {
        case .sd1: config.className = "PNDMScheduler"
        case .sd2: config.className = "DDIMScheduler"
        case .sdxl:
            config.className = "EulerDiscreteScheduler"
            config.timestepSpacing = "leading"
            config.interpolationType = "linear"
        }
        config.numTrainTimesteps = 1000
        config.betaStart = 0.00085
        config.betaEnd = 0.012
        config.betaSchedule = "scaled_linear"
        config.clipSample = false
        config.setAlphaToOne = false
        config.skipPrkSteps = true
        config.stepsOffset = 1
        config.predictionType = prediction.rawValue
        return config
    }
}

/// The shapes of a file's tensors, read by name; errors name the file.
struct ShapeTable {
    let tensors: [String: TensorInfo]
    let path: String

    /// The tensor's shape; nil when there is none.
    subscript(_ name: String) -> [Int]? { tensors[name]?.shape }

    func has(_ name: String) -> Bool { tensors[name] != nil }

    /// The shape of a tensor that must be there with `rank` dimensions.
    func required(_ name: String, rank: Int) throws(CheckpointError) -> [Int] {
        guard let shape = self[name] else { throw CheckpointError(path: path, tensor: name, reason: .noSuchTensor) }
        guard shape.count == rank else {
            throw CheckpointError(path: path, tensor: name, reason: .unsupportedConfig(key: "shape", value: "\(shape)", note: "expected \(rank) dimensions"))
        }
        return shape
    }

    /// How many of `name(0)`, `name(1)`, ... exist before the first gap.
    func count(_ name: (Int) -> String) -> Int {
        var count = 0
        while has(name(count)) { count += 1 }
        return count
    }

    /// Whether any tensor name starts with `prefix`.
    func hasAny(prefix: String) -> Bool {
        tensors.keys.contains { $0.hasPrefix(prefix) }
    }
}
