import Tensor

/// Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, algorithm 2 without
/// churn): matches diffusers' `EulerDiscreteScheduler` (A1111's "Euler").
public struct EulerSampler: SigmaSpaceSampler {
    public let timesteps: [Float]
    /// The noise level at each timestep, then the final one (float32, as diffusers).
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public var order: Int { 1 }
    let prediction: PredictionType

    /// `EulerDiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true, floorsZeroSNR: true)
        if let interpolation = config.interpolationType, interpolation != "linear" {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "interpolation_type", value: interpolation, note: ""))
        }
        if let type = config.timestepType, type != "discrete" {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "timestep_type", value: type, note: ""))
        }
        let finalSigma: Float = config.finalSigmasType == "sigma_min" ? schedule.sigmaMin : 0
        let spacing: TimestepSpacing
        (spacing, sigmas, timesteps) = schedule.sigmaSamplerSchedule(config: config, steps: steps, finalSigma: finalSigma)
        initNoiseSigma = Self.initNoiseSigma(sigmas: sigmas, spacing: spacing)
        prediction = PredictionType(config: config)
    }

    /// diffusers' `init_noise_sigma` of the sigma samplers: the largest sigma for `linspace` and
    /// `trailing` spacing, `sqrt(sigma_max^2 + 1)` for `leading`.
    static func initNoiseSigma(sigmas: [Float], spacing: TimestepSpacing) -> Float {
        let maximum = sigmas.max() ?? 1
        return spacing == .leading ? (maximum * maximum + 1).squareRoot() : maximum
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let sigma = sigmas[stepIndex]
        let dt = sigmas[stepIndex + 1] - sigma
        return prediction.eulerStep(sample: sample, modelOutput: modelOutput, sigma: sigma, dt: dt)
    }
}

extension SigmaSchedule {
    /// The schedule a scheduler config asks for (`use_karras_sigmas`, `use_exponential_sigmas`;
    /// neither, with k-diffusion's sigmas, is k-diffusion's own uniform schedule).
    init(config: SchedulerConfig) {
        if config.useKarrasSigmas == true {
            self = .karras
        } else if config.useExponentialSigmas == true {
            self = .exponential
        } else {
            self = config.kDiffusionSigmas == true ? .uniform : .model
        }
    }
}
