import Tensor

/// Heun's method (Karras et al. 2022, algorithm 1 without churn): an Euler step, then a second
/// model call at the new noise level to average the slopes: matches diffusers'
/// `HeunDiscreteScheduler` (A1111's "Heun"). Every timestep but the first is repeated; the last
/// step is a plain Euler step to sigma 0.
public struct HeunSampler: SigmaSpaceSampler {
    public let timesteps: [Float]
    /// Per model call: `[s0, s1, s1, s2, s2, ..., 0]` (diffusers' interleaved sigmas).
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public var order: Int { 2 }
    let prediction: PredictionType
    let clipRange: Float?
    /// The Euler step's slope, step size and starting latents while the correction is pending.
    var pending: (derivative: Tensor, dt: Float, sample: Tensor)?

    /// `HeunDiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: .kDiffusion, allowsZeroSNR: false)
        let (spacing, plain, plainTimes) = schedule.sigmaSamplerSchedule(config: config, steps: steps, finalSigma: 0)
        sigmas = [plain[0]] + plain.dropFirst().dropLast().flatMap { [$0, $0] } + [0]
        timesteps = [plainTimes[0]] + plainTimes.dropFirst().flatMap { [$0, $0] }
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
        prediction = PredictionType(config: config)
        clipRange = (config.clipSample ?? false) ? Float(config.clipSampleRange ?? 1) : nil
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let (prediction, clip) = (prediction, clipRange)
        if let (previousDerivative, dt, start) = pending {
            let sigmaNext = sigmas[stepIndex]
            pending = nil
            var values = [Float](repeating: 0, count: sample.count), denoised = values
            for i in 0..<values.count {
                var x0 = prediction.denoised(sample: sample.storage[i], output: modelOutput.storage[i], sigma: sigmaNext)
                denoised[i] = x0
                if let clip { x0 = min(max(x0, -clip), clip) }
                let derivative = (previousDerivative.storage[i] + (sample.storage[i] - x0) / sigmaNext) / 2
                values[i] = start.storage[i] + derivative * dt
            }
            return SamplerStep(sample: Tensor(shape: sample.shape, values: values),
                               denoised: Tensor(shape: sample.shape, values: denoised))
        }
        let sigma = sigmas[stepIndex]
        let dt = sigmas[stepIndex + 1] - sigma
        let first = stepMap(sample, modelOutput) { x, m in
            let x0 = prediction.denoised(sample: x, output: m, sigma: sigma)
            return ((x - (clip.map { min(max(x0, -$0), $0) } ?? x0)) / sigma, x0)
        }
        let derivative = first.sample
        pending = (derivative, dt, sample)
        return SamplerStep(sample: zipMap(sample, derivative) { x, d in x + d * dt }, denoised: first.denoised)
    }
}
