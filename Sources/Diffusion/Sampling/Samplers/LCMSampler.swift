import Tensor

/// Latent consistency model sampling (Luo et al. 2023): each step predicts the clean sample with
/// the consistency boundary condition (`c_skip`, `c_out`), then noises it afresh to the next
/// timestep: matches diffusers' `LCMScheduler` (A1111's "LCM"). Timesteps are picked from the
/// distillation schedule of `original_inference_steps`; `timestep_spacing` is ignored. Draws one
/// noise tensor per step except the last.
public struct LCMSampler: Sampler {
    public let timesteps: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let schedule: NoiseSchedule
    let prediction: PredictionType
    /// `alphas_cumprod` after the last step: 1 with `set_alpha_to_one`, else `alphas_cumprod[0]`.
    let finalAlphaCumprod: Float
    /// The clamp applied to the predicted clean sample (`clip_sample`), if any.
    let clipRange: Float?
    /// `timestep_scaling`: how the timestep is scaled in the boundary condition.
    let timestepScaling: Float
    /// The img2img strength the timesteps were picked for (LCM pipelines' own img2img), nil when
    /// they span the whole distillation schedule.
    let scheduleStrength: Double?

    /// `LCMScheduler.from_config(config)` after `set_timesteps(steps)`; with `strength`, after
    /// `set_timesteps(steps, strength: strength)` as `LatentConsistencyModelImg2ImgPipeline` calls
    /// it: the distillation schedule is cut to its first `Int(original * strength)` timesteps and
    /// all `steps` are picked from that (img2img then starts at the first, not part-way).
    public init(config: SchedulerConfig, steps: Int, strength: Double? = nil) throws(CheckpointError) {
        var defaults = SchedulerDefaults()
        defaults.betaStart = 0.00085
        defaults.betaEnd = 0.012
        defaults.betaSchedule = .scaledLinear
        defaults.setAlphaToOne = true
        schedule = try NoiseSchedule(config: config, defaults: defaults, allowsZeroSNR: true)
        let train = schedule.count
        let original = config.originalInferenceSteps ?? 50
        guard original <= train else {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "original_inference_steps = \(original) exceeds num_train_timesteps = \(train)"))
        }
        guard steps <= original else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "steps", value: "\(steps)", note: "LCM allows at most original_inference_steps = \(original)"))
        }
        let k = train / original
        let kept = strength.map { Int(Double(original) * $0) } ?? original
        guard kept >= steps, kept >= 1 else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "steps", value: "\(steps)", note: "LCM img2img at strength \(Infotext.number(strength ?? 1)) keeps \(kept) of the "
                    + "\(original) distillation timesteps; use at most \(kept) steps or a higher strength"))
        }
        scheduleStrength = strength
        let origin = (1...kept).reversed().map { $0 * k - 1 }
        timesteps = TimestepSpacing.linspace(0, Double(origin.count), steps + 1).dropLast()
            .map { Float(origin[Int($0.rounded(.down))]) }
        finalAlphaCumprod = (config.setAlphaToOne ?? true) ? 1 : schedule.alphasCumprod[0]
        clipRange = (config.clipSample ?? false) ? Float(config.clipSampleRange ?? 1) : nil
        prediction = PredictionType(config: config)
        timestepScaling = Float(config.timestepScaling ?? 10)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    /// Where img2img starts: at the first timestep when `strength` already cut the schedule,
    /// else as every sampler (diffusers' `get_timesteps`).
    public func firstStepIndex(strength: Double, steps: Int) -> Int {
        guard scheduleStrength == nil else { return 0 }
        let kept = min(Int(Double(steps) * strength), steps)
        return min(max(steps - kept, 0) * order, timesteps.count)
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let t = Int(timesteps[stepIndex])
        let alpha = schedule.alphasCumprod[t]
        let (rootAlpha, rootBeta) = (alpha.squareRoot(), (1 - alpha).squareRoot())
        let scaled = Float(t) * timestepScaling
        let cSkip: Float = 0.25 / (scaled * scaled + 0.25)
        let cOut: Float = scaled / (scaled * scaled + 0.25).squareRoot()
        let (prediction, clip) = (prediction, clipRange)
        let denoised = zipMap(sample, modelOutput) { x, m in
            var x0 = prediction.cleanSample(sample: x, output: m, alpha: rootAlpha, sigma: rootBeta)
            if let clip { x0 = min(max(x0, -clip), clip) }
            return cOut * x0 + cSkip * x
        }
        guard stepIndex + 1 < timesteps.count else { return SamplerStep(sample: denoised, denoised: denoised) }
        let previous = Int(timesteps[stepIndex + 1])
        let alphaPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let (a, b) = (alphaPrevious.squareRoot(), (1 - alphaPrevious).squareRoot())
        let noise = random.normal(shape: sample.shape)
        return SamplerStep(sample: zipMap(denoised, noise) { d, n in a * d + b * n }, denoised: denoised)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        schedule.noised(original, noise: noise, timestep: Int(timesteps[stepIndex]))
    }
}
