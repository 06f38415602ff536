import Tensor

/// diffusers' `AutoencoderTiny` config (`config.json` of a TAESD / TAESDXL folder). Absent keys
/// take diffusers' defaults, which are TAESD's: 64 channels, encoder blocks (1, 3, 3, 3), decoder
/// blocks (3, 3, 3, 1), ReLU, nearest 2x upsampling, 4 latent channels.
public struct AutoencoderTinyConfig: DiffusersConfig, Equatable {
    public var inChannels = 3
    public var outChannels = 3
    public var encoderBlockOutChannels = [64, 64, 64, 64]
    public var decoderBlockOutChannels = [64, 64, 64, 64]
    public var actFn = "relu"
    public var upsampleFn = "nearest"
    public var latentChannels = 4
    public var upsamplingScalingFactor = 2
    public var numEncoderBlocks = [1, 3, 3, 3]
    public var numDecoderBlocks = [3, 3, 3, 1]
    /// Latents are divided by this before decoding (1 for TAESD: it reads the denoiser's latents as they are).
    public var scalingFactor: Float = 1
    public var shiftFactor: Float = 0

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case encoderBlockOutChannels = "encoder_block_out_channels"
        case decoderBlockOutChannels = "decoder_block_out_channels"
        case actFn = "act_fn"
        case upsampleFn = "upsample_fn"
        case latentChannels = "latent_channels"
        case upsamplingScalingFactor = "upsampling_scaling_factor"
        case numEncoderBlocks = "num_encoder_blocks"
        case numDecoderBlocks = "num_decoder_blocks"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderTinyConfig()
        inChannels = try c.decode(.inChannels, default: d.inChannels)
        outChannels = try c.decode(.outChannels, default: d.outChannels)
        encoderBlockOutChannels = try c.decode(.encoderBlockOutChannels, default: d.encoderBlockOutChannels)
        decoderBlockOutChannels = try c.decode(.decoderBlockOutChannels, default: d.decoderBlockOutChannels)
        actFn = try c.decode(.actFn, default: d.actFn)
        upsampleFn = try c.decode(.upsampleFn, default: d.upsampleFn)
        latentChannels = try c.decode(.latentChannels, default: d.latentChannels)
        upsamplingScalingFactor = try c.decode(.upsamplingScalingFactor, default: d.upsamplingScalingFactor)
        numEncoderBlocks = try c.decode(.numEncoderBlocks, default: d.numEncoderBlocks)
        numDecoderBlocks = try c.decode(.numDecoderBlocks, default: d.numDecoderBlocks)
        scalingFactor = try c.decode(.scalingFactor, default: d.scalingFactor)
        shiftFactor = try c.decode(.shiftFactor, default: d.shiftFactor)
    }

    public func validate() throws(CheckpointError) {
        func unsupported(_ key: String, _ value: Any, _ note: String) -> CheckpointError {
            CheckpointError(path: "", reason: .unsupportedConfig(key: key, value: "\(value)", note: note))
        }
        if actFn != "relu" { throw unsupported("act_fn", actFn, "only relu (TAESD's)") }
        if upsampleFn != "nearest" { throw unsupported("upsample_fn", upsampleFn, "only nearest") }
        if upsamplingScalingFactor != 2 { throw unsupported("upsampling_scaling_factor", upsamplingScalingFactor, "only 2") }
        for (key, channels, blocks) in [("encoder", encoderBlockOutChannels, numEncoderBlocks),
                                        ("decoder", decoderBlockOutChannels, numDecoderBlocks)] {
            guard !channels.isEmpty, channels.count == blocks.count else {
                throw CheckpointError(path: "", reason: .invalidConfig(
                    "\(key)_block_out_channels has \(channels.count) entries for \(blocks.count) num_\(key)_blocks"))
            }
            // diffusers' tiny encoder and decoder keep one width between levels (their
            // level-to-level convolutions map a level's channels to themselves).
            guard Set(channels).count == 1, let width = channels.first, width > 0, blocks.allSatisfy({ $0 >= 0 }) else {
                throw unsupported("\(key)_block_out_channels", channels, "one positive width for every level")
            }
        }
        guard inChannels > 0, outChannels > 0, latentChannels > 0, scalingFactor != 0, scalingFactor.isFinite, shiftFactor.isFinite else {
            throw CheckpointError(path: "", reason: .invalidConfig("channels must be positive and scaling_factor finite and non-zero"))
        }
    }
}

/// diffusers' `AutoencoderTiny` (madebyollin's TAESD / TAESDXL): a small convolutional encoder
/// and decoder trained to match the full VAE, a few percent of its weights and about a sixth of its
/// decode time (0.6 s against 3.7-4.3 s at 512x512 on two cores). Its latents are the
/// denoiser's as they are (`scaling_factor` 1), so it is a `LatentDecoder` for cheap previews and,
/// when speed matters more than the last detail, the final image.
public struct AutoencoderTiny: LatentDecoder {
    /// One entry of the encoder's or decoder's `layers` (an `nn.Sequential`, indexed as stored).
    enum Layer {
        case conv(Conv2d)
        case relu
        case block(TinyBlock)
        case upsample
    }

    /// `AutoencoderTinyBlock`: three 3x3 convolutions with ReLUs, plus the input (through a 1x1
    /// convolution when the widths differ), then ReLU.
    struct TinyBlock {
        let conv1: Conv2d
        let conv2: Conv2d
        let conv3: Conv2d
        let skip: Conv2d?

        init(_ weights: any WeightSource, _ name: String, input: Int, output: Int) throws {
            conv1 = try Conv2d(weights, name + ".conv.0", input: input, output: output, kernel: 3, padding: 1)
            conv2 = try Conv2d(weights, name + ".conv.2", input: output, output: output, kernel: 3, padding: 1)
            conv3 = try Conv2d(weights, name + ".conv.4", input: output, output: output, kernel: 3, padding: 1)
            skip = input == output ? nil : try Conv2d(weights, name + ".skip", input: input, output: output, kernel: 1, bias: false)
        }

        func callAsFunction(_ x: Tensor) -> Tensor {
            let h = conv3(relu(conv2(relu(conv1(x)))))
            return relu(add(h, skip.map { $0(x) } ?? x))
        }
    }

    public let config: AutoencoderTinyConfig
    let encoderLayers: [Layer]
    let decoderLayers: [Layer]

    /// Builds both halves from `weights` named as diffusers names them (`encoder.layers.N...`,
    /// `decoder.layers.N...`); `encoder: false` builds the decoder alone (madebyollin's
    /// `taesd_decoder` files, or previews that never encode).
    public init(config: AutoencoderTinyConfig, weights: any WeightSource, encoder: Bool = true) throws {
        try config.validate()
        self.config = config
        var layers: [Layer] = []
        var index = 0
        func next(_ layer: Layer) { layers.append(layer); index += 1 }
        if encoder {
            let width = config.encoderBlockOutChannels[0]
            for (level, blocks) in config.numEncoderBlocks.enumerated() {
                next(.conv(try Conv2d(weights, "encoder.layers.\(index)", input: level == 0 ? config.inChannels : width, output: width,
                                      kernel: 3, stride: level == 0 ? 1 : 2, padding: 1, bias: level == 0)))
                for _ in 0..<blocks { next(.block(try TinyBlock(weights, "encoder.layers.\(index)", input: width, output: width))) }
            }
            next(.conv(try Conv2d(weights, "encoder.layers.\(index)", input: width, output: config.latentChannels, kernel: 3, padding: 1)))
        }
        encoderLayers = layers
        layers = []
        index = 0
        let width = config.decoderBlockOutChannels[0]
        next(.conv(try Conv2d(weights, "decoder.layers.\(index)", input: config.latentChannels, output: width, kernel: 3, padding: 1)))
        next(.relu)
        for (level, blocks) in config.numDecoderBlocks.enumerated() {
            let last = level == config.numDecoderBlocks.count - 1
            for _ in 0..<blocks { next(.block(try TinyBlock(weights, "decoder.layers.\(index)", input: width, output: width))) }
            if !last { next(.upsample) }
            next(.conv(try Conv2d(weights, "decoder.layers.\(index)", input: width, output: last ? config.outChannels : width,
                                  kernel: 3, padding: 1, bias: last)))
        }
        decoderLayers = layers
    }

    public var latentChannels: Int { config.latentChannels }
    public var downscale: Int { 1 << max(0, config.numDecoderBlocks.count - 1) }
    public var fullResolutionChannels: Int { config.decoderBlockOutChannels.first ?? 64 }
    /// Whether it can encode (built with its encoder).
    public var canEncode: Bool { !encoderLayers.isEmpty }

    static func run(_ layers: [Layer], _ x: Tensor, check: () throws -> Void) rethrows -> Tensor {
        var h = x
        for layer in layers {
            switch layer {
            case .conv(let conv):
                try check()
                h = conv(h)
            case .relu: h = relu(h)
            case .block(let block):
                try check()
                h = block(h)
            case .upsample: h = upsampleNearest2x(h)
            }
        }
        return h
    }

    /// latents at the denoiser's scale -> image in [-1, 1] (the decoder's `tanh(x / 3) * 3` soft
    /// clamp first, its [0, 1] output mapped as diffusers does, `x * 2 - 1`; not clamped further).
    public func decode(latents: Tensor, check: () throws -> Void) throws -> Tensor {
        var z = latents
        if config.scalingFactor != 1 || config.shiftFactor != 0 {
            let (scale, shift) = (config.scalingFactor, config.shiftFactor)
            z = Tensor(shape: z.shape, values: z.storage.map { $0 / scale + shift })
        }
        let y = try Self.run(decoderLayers, softClamp3(z), check: check)
        return Tensor(shape: y.shape, values: y.storage.map { $0 * 2 - 1 })
    }

    /// image in [-1, 1] -> latents at the denoiser's scale (deterministic: TAESD has no latent
    /// distribution; `random` is not drawn from).
    public func encode<Random: RandomSource>(image: Tensor, random: inout Random, check: () throws -> Void) throws -> Tensor {
        guard canEncode else { throw GenerationError.invalid("this tiny autoencoder has no encoder (a decoder-only TAESD file)") }
        let x = Tensor(shape: image.shape, values: image.storage.map { ($0 + 1) / 2 })
        var z = try Self.run(encoderLayers, x, check: check)
        if config.scalingFactor != 1 || config.shiftFactor != 0 {
            let (scale, shift) = (config.scalingFactor, config.shiftFactor)
            z = Tensor(shape: z.shape, values: z.storage.map { ($0 - shift) * scale })
        }
        return z
    }
}

/// Immutable after init, so one model serves several threads.
extension AutoencoderTiny: @unchecked Sendable {}
