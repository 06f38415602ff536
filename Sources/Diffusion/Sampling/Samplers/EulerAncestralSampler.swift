import Tensor

/// Euler steps to a lower noise level plus fresh noise back up to the next one (k-diffusion's
/// `sample_euler_ancestral`, eta 1): matches diffusers' `EulerAncestralDiscreteScheduler`
/// (A1111's "Euler a"). Draws one noise tensor per step, the last included.
public struct EulerAncestralSampler: SigmaSpaceSampler {
    public let timesteps: [Float]
    /// The noise level at each timestep, then 0.
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public var order: Int { 1 }
    let prediction: PredictionType

    /// `EulerAncestralDiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true, floorsZeroSNR: true)
        let spacing: TimestepSpacing
        (spacing, sigmas, timesteps) = schedule.sigmaSamplerSchedule(config: config, steps: steps, finalSigma: 0)
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
        prediction = PredictionType(config: config)
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let from = sigmas[stepIndex], to = sigmas[stepIndex + 1]
        let (down, up) = ancestralStep(from: from, to: to)
        let dt = down - from
        let prediction = prediction
        let noise = random.normal(shape: sample.shape)
        return stepMap(sample, modelOutput, noise) { x, m, n in
            let denoised = prediction.denoised(sample: x, output: m, sigma: from)
            return ((x + (x - denoised) / from * dt) + n * up, denoised)
        }
    }
}
