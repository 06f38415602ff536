import Tensor

/// Denoising diffusion implicit models (Song et al. 2020): matches diffusers' `DDIMScheduler`
/// (A1111's "DDIM") with `step(eta: eta)` and `use_clipped_model_output` false. Eta 0 is
/// deterministic; eta > 0 adds `eta * sigma_t` of fresh noise each step (eta 1 is DDPM-like).
public struct DDIMSampler: Sampler {
    public let timesteps: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let schedule: NoiseSchedule
    let prediction: PredictionType
    /// `num_train_timesteps // steps`: how far back each step's previous timestep is.
    let stride: Int
    /// `alphas_cumprod` after the last step: 1 with `set_alpha_to_one`, else `alphas_cumprod[0]`.
    let finalAlphaCumprod: Float
    /// The clamp applied to the predicted clean sample (`clip_sample`), if any.
    let clipRange: Float?
    /// The stochasticity of each step (`eta` of `DDIMScheduler.step`): 0 deterministic, 1 DDPM-like.
    public let eta: Float

    /// `DDIMScheduler.from_config(config)` after `set_timesteps(steps)`, stepped with `eta`
    /// (at least 0).
    public init(config: SchedulerConfig, steps: Int, eta: Float = 0) throws(CheckpointError) {
        guard eta >= 0, eta.isFinite else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "eta", value: "\(eta)", note: "DDIM's eta must be a finite number of at least 0"))
        }
        self.eta = eta
        var defaults = SchedulerDefaults()
        defaults.setAlphaToOne = true
        schedule = try NoiseSchedule(config: config, defaults: defaults, allowsZeroSNR: true)
        let spacing = TimestepSpacing(rawValue: config.timestepSpacing ?? "leading") ?? .leading
        timesteps = Self.integerTimesteps(spacing: spacing, steps: steps, trainSteps: schedule.count,
                                          offset: config.stepsOffset ?? 0)
        stride = schedule.count / steps
        finalAlphaCumprod = (config.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
        clipRange = (config.clipSample ?? true) ? Float(config.clipSampleRange ?? 1) : nil
        prediction = PredictionType(config: config)
    }

    /// The integer timesteps of DDIM, DDPM and LCM: `linspace` rounded half to even.
    static func integerTimesteps(spacing: TimestepSpacing, steps: Int, trainSteps: Int, offset: Int) -> [Float] {
        spacing.timesteps(steps: steps, trainSteps: trainSteps, offset: offset).map { Float($0.rounded(.toNearestOrEven)) }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let t = Int(timesteps[stepIndex])
        let previous = t - stride
        let alpha = schedule.alphasCumprod[t]
        let alphaPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let beta = 1 - alpha
        let (rootAlpha, rootBeta) = (alpha.squareRoot(), beta.squareRoot())
        let rootAlphaPrevious = alphaPrevious.squareRoot()
        // sigma_t(eta) of formula (16): eta * sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev)).
        let variance = (1 - alphaPrevious) / beta * (1 - alpha / alphaPrevious)
        let deviation = eta * variance.squareRoot()
        let direction = (1 - alphaPrevious - deviation * deviation).squareRoot()
        let (prediction, clip) = (prediction, clipRange)
        let step = stepMap(sample, modelOutput) { x, m in
            var x0: Float, eps: Float
            switch prediction {
            case .epsilon:
                x0 = (x - rootBeta * m) / rootAlpha
                eps = m
            case .sample:
                x0 = m
                eps = (x - rootAlpha * x0) / rootBeta
            case .vPrediction:
                x0 = rootAlpha * x - rootBeta * m
                eps = rootAlpha * m + rootBeta * x
            }
            let denoised = x0
            if let clip { x0 = min(max(x0, -clip), clip) }
            return (rootAlphaPrevious * x0 + direction * eps, denoised)
        }
        guard eta > 0 else { return step }
        let noise = random.normal(shape: modelOutput.shape)
        return SamplerStep(sample: zipMap(step.sample, noise) { x, n in x + deviation * n }, denoised: step.denoised)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        schedule.noised(original, noise: noise, timestep: Int(timesteps[stepIndex]))
    }
}
