import Tensor

/// Denoising diffusion probabilistic models (Ho et al. 2020), ancestral sampling from the
/// posterior q(x_{t-1} | x_t, x_0) over the inference timesteps: matches diffusers'
/// `DDPMScheduler` (`fixed_small` or `fixed_large` variance). Draws one noise tensor per step
/// whose timestep is above 0.
public struct DDPMSampler: Sampler {
    public let timesteps: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let schedule: NoiseSchedule
    let prediction: PredictionType
    let clipRange: Float?
    /// `fixed_large` uses beta_t as the variance instead of the posterior's.
    let largeVariance: Bool

    /// `DDPMScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true)
        let spacing = TimestepSpacing(rawValue: config.timestepSpacing ?? "leading") ?? .leading
        timesteps = DDIMSampler.integerTimesteps(spacing: spacing, steps: steps, trainSteps: schedule.count,
                                                 offset: config.stepsOffset ?? 0)
        let variance = config.varianceType ?? "fixed_small"
        guard variance == "fixed_small" || variance == "fixed_large" else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "variance_type", value: variance,
                                                                     note: "fixed_small and fixed_large are"))
        }
        largeVariance = variance == "fixed_large"
        clipRange = (config.clipSample ?? true) ? Float(config.clipSampleRange ?? 1) : nil
        prediction = PredictionType(config: config)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let t = Int(timesteps[stepIndex])
        let previous = stepIndex + 1 < timesteps.count ? Int(timesteps[stepIndex + 1]) : -1
        let alpha = schedule.alphasCumprod[t]
        let alphaPrevious: Float = previous >= 0 ? schedule.alphasCumprod[previous] : 1
        let beta = 1 - alpha, betaPrevious = 1 - alphaPrevious
        let currentAlpha = alpha / alphaPrevious
        let currentBeta = 1 - currentAlpha
        let (rootAlpha, rootBeta) = (alpha.squareRoot(), beta.squareRoot())
        let x0Scale = alphaPrevious.squareRoot() * currentBeta / beta
        let sampleScale = currentAlpha.squareRoot() * betaPrevious / beta
        let (prediction, clip) = (prediction, clipRange)
        let step = stepMap(sample, modelOutput) { x, m in
            let denoised = prediction.cleanSample(sample: x, output: m, alpha: rootAlpha, sigma: rootBeta)
            let x0 = clip.map { min(max(denoised, -$0), $0) } ?? denoised
            return (x0Scale * x0 + sampleScale * x, denoised)
        }
        guard t > 0 else { return step }
        let noise = random.normal(shape: sample.shape)
        let variance = largeVariance ? currentBeta : max(betaPrevious / beta * currentBeta, 1e-20)
        let deviation = variance.squareRoot()
        return SamplerStep(sample: zipMap(step.sample, noise) { $0 + deviation * $1 }, denoised: step.denoised)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        schedule.noised(original, noise: noise, timestep: Int(timesteps[stepIndex]))
    }
}
