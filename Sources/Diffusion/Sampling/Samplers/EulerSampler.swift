import Tensor

/// Euler's method on the probability-flow ODE in sigma (Karras et al. 2022, algorithm 2 without
/// churn): matches diffusers' `EulerDiscreteScheduler` (A1111's "Euler").
public struct EulerSampler: Sampler {
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
        let spacing = TimestepSpacing(rawValue: config.timestepSpacing ?? "linspace") ?? .linspace
        let times = spacing.timesteps(steps: steps, trainSteps: schedule.count, offset: config.stepsOffset ?? 0)
            .map { Double(Float($0)) }
        let finalSigma: Float = config.finalSigmasType == "sigma_min" ? schedule.sigmaMin : 0
        (sigmas, timesteps) = schedule.discreteSigmas(timesteps: times, schedule: SigmaSchedule(config: config),
                                                      finalSigma: finalSigma)
        initNoiseSigma = Self.initNoiseSigma(sigmas: sigmas, spacing: spacing)
        prediction = PredictionType(rawValue: config.predictionType ?? "epsilon") ?? .epsilon
    }

    /// diffusers' `init_noise_sigma` of the sigma samplers: the largest sigma for `linspace` and
    /// `trailing` spacing, `sqrt(sigma_max^2 + 1)` for `leading`.
    static func initNoiseSigma(sigmas: [Float], spacing: TimestepSpacing) -> Float {
        let maximum = sigmas.max() ?? 1
        return spacing == .leading ? (maximum * maximum + 1).squareRoot() : maximum
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        let scale = (sigma * sigma + 1).squareRoot()
        return mapElements(sample) { $0 / scale }
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> Tensor {
        let sigma = sigmas[stepIndex]
        let dt = sigmas[stepIndex + 1] - sigma
        let prediction = prediction
        return zipMap(sample, modelOutput) { x, m in
            let denoised = prediction.denoised(sample: x, output: m, sigma: sigma)
            return x + (x - denoised) / sigma * dt
        }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return zipMap(original, noise) { x, n in x + n * sigma }
    }
}

extension SigmaSchedule {
    /// The schedule a scheduler config asks for (`use_karras_sigmas`, `use_exponential_sigmas`).
    init(config: SchedulerConfig) {
        if config.useKarrasSigmas == true {
            self = .karras
        } else if config.useExponentialSigmas == true {
            self = .exponential
        } else {
            self = .model
        }
    }
}
