/// diffusers' `AutoencoderKL` config: the `vae/config.json` of a diffusers model. Absent keys take
/// diffusers' constructor defaults, which describe a one-level toy VAE; SD's files give the real
/// shape (`block_out_channels: [128, 256, 512, 512]`, `layers_per_block: 2`, four
/// `DownEncoderBlock2D` / `UpDecoderBlock2D`), while `scaling_factor` and the quant convolutions
/// are usually left to the defaults.
public struct AutoencoderKLConfig: DiffusersConfig, Equatable {
    /// Channels of the image (3, RGB).
    public var inChannels: Int = 3
    /// Channels of the decoded image.
    public var outChannels: Int = 3
    /// Block class of each encoder level, highest resolution first.
    public var downBlockTypes: [String] = ["DownEncoderBlock2D"]
    /// Block class of each decoder level, lowest resolution first.
    public var upBlockTypes: [String] = ["UpDecoderBlock2D"]
    /// Channels of each encoder level (the decoder uses them reversed).
    public var blockOutChannels: [Int] = [64]
    /// Resnet blocks per encoder level (decoder levels have one more).
    public var layersPerBlock: Int = 1
    /// Activation after the norms (`"silu"`).
    public var actFn: String = "silu"
    /// Channels of the latent (4 for SD1/SD2/SDXL, 16 for SD3 and Flux).
    public var latentChannels: Int = 4
    /// Groups of every GroupNorm.
    public var normNumGroups: Int = 32
    /// Image side the VAE was trained at (512 for SD1.5, 768 for SD2.1); nil when a non-square list.
    public var sampleSize: Int? = 32
    /// Latents are multiplied by this after encoding and divided by it before decoding (0.18215 for SD1/SD2, 0.13025 for SDXL).
    public var scalingFactor: Float = 0.18215
    /// Latents have this subtracted before scaling (SD3, Flux); nil when none. Applied by `LatentScaling`.
    public var shiftFactor: Float?
    /// Per-channel latent means some pipelines normalise with (with `latentsStd`); nil when none.
    /// Applied by `LatentScaling`: (z - mean) * scaling_factor / std.
    public var latentsMean: [Float]?
    /// Per-channel latent standard deviations some pipelines normalise with; nil when none.
    public var latentsStd: [Float]?
    /// Whether diffusers runs this VAE in float32 even in a half-precision pipeline (no effect on CPU float32).
    public var forceUpcast: Bool = true
    /// Whether a 1x1 quant_conv follows the encoder.
    public var useQuantConv: Bool = true
    /// Whether a 1x1 post_quant_conv precedes the decoder.
    public var usePostQuantConv: Bool = true
    /// Whether the mid blocks of encoder and decoder have self-attention.
    public var midBlockAddAttention: Bool = true

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case actFn = "act_fn"
        case latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
        case latentsMean = "latents_mean"
        case latentsStd = "latents_std"
        case forceUpcast = "force_upcast"
        case useQuantConv = "use_quant_conv"
        case usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    /// The diffusers defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderKLConfig()
        inChannels = try c.decode(.inChannels, default: d.inChannels)
        outChannels = try c.decode(.outChannels, default: d.outChannels)
        downBlockTypes = try c.decode(.downBlockTypes, default: d.downBlockTypes)
        upBlockTypes = try c.decode(.upBlockTypes, default: d.upBlockTypes)
        blockOutChannels = try c.decode(.blockOutChannels, default: d.blockOutChannels)
        layersPerBlock = try c.decode(.layersPerBlock, default: d.layersPerBlock)
        actFn = try c.decode(.actFn, default: d.actFn)
        latentChannels = try c.decode(.latentChannels, default: d.latentChannels)
        normNumGroups = try c.decode(.normNumGroups, default: d.normNumGroups)
        sampleSize = c.contains(.sampleSize) ? try c.decodeSide(.sampleSize) : d.sampleSize
        scalingFactor = try c.decode(.scalingFactor, default: d.scalingFactor)
        shiftFactor = try c.decodeIfPresent(Float.self, forKey: .shiftFactor)
        latentsMean = try c.decodeIfPresent([Float].self, forKey: .latentsMean)
        latentsStd = try c.decodeIfPresent([Float].self, forKey: .latentsStd)
        forceUpcast = try c.decode(.forceUpcast, default: d.forceUpcast)
        useQuantConv = try c.decode(.useQuantConv, default: d.useQuantConv)
        usePostQuantConv = try c.decode(.usePostQuantConv, default: d.usePostQuantConv)
        midBlockAddAttention = try c.decode(.midBlockAddAttention, default: d.midBlockAddAttention)
    }

    /// Throws for block kinds or activations our VAE does not build, and for inconsistent shapes.
    public func validate() throws(CheckpointError) {
        func unsupported(_ key: String, _ value: String, _ note: String) -> CheckpointError {
            CheckpointError(path: "", reason: .unsupportedConfig(key: key, value: value, note: note))
        }
        func invalid(_ detail: String) -> CheckpointError {
            CheckpointError(path: "", reason: .invalidConfig(detail))
        }
        for type in downBlockTypes where type != "DownEncoderBlock2D" {
            throw unsupported("down_block_types", type, "only DownEncoderBlock2D")
        }
        for type in upBlockTypes where type != "UpDecoderBlock2D" {
            throw unsupported("up_block_types", type, "only UpDecoderBlock2D")
        }
        if actFn != "silu" { throw unsupported("act_fn", actFn, "only silu") }
        guard !blockOutChannels.isEmpty else { throw invalid("block_out_channels is empty") }
        guard downBlockTypes.count == blockOutChannels.count, upBlockTypes.count == blockOutChannels.count else {
            throw invalid("\(blockOutChannels.count) block_out_channels but \(downBlockTypes.count) down_block_types and \(upBlockTypes.count) up_block_types")
        }
        guard inChannels > 0, outChannels > 0, latentChannels > 0, layersPerBlock > 0, normNumGroups > 0 else {
            throw invalid("in_channels, out_channels, latent_channels, layers_per_block and norm_num_groups must be positive")
        }
        for channels in blockOutChannels where channels <= 0 || channels % normNumGroups != 0 {
            throw invalid("block_out_channels \(channels) is not a positive multiple of norm_num_groups \(normNumGroups)")
        }
        for (key, values) in [("latents_mean", latentsMean), ("latents_std", latentsStd)] {
            if let values, values.count != latentChannels {
                throw invalid("\(key) has \(values.count) entries for \(latentChannels) latent channels")
            }
        }
        guard scalingFactor.isFinite, scalingFactor != 0 else { throw invalid("scaling_factor must be a finite non-zero number") }
        // diffusers' pipelines use the per-channel statistics only as a pair, and the shift or
        // them, never both: any other combination has no defined meaning, so it is refused.
        if (latentsMean == nil) != (latentsStd == nil) {
            let (given, missing) = latentsMean == nil ? ("latents_std", "latents_mean") : ("latents_mean", "latents_std")
            throw invalid("\(given) is given without \(missing) (latents are normalised with the two together)")
        }
        if shiftFactor != nil, latentsMean != nil {
            throw invalid("shift_factor and latents_mean are both given (latents are shifted by one or the other)")
        }
        if let shiftFactor, !shiftFactor.isFinite { throw invalid("shift_factor must be a finite number") }
        for (key, values) in [("latents_mean", latentsMean ?? []), ("latents_std", latentsStd ?? [])]
        where values.contains(where: { !$0.isFinite }) {
            throw invalid("\(key) must be finite numbers")
        }
        if let std = latentsStd, std.contains(0) { throw invalid("latents_std has a zero entry") }
    }
}
