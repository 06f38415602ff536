import Tensor

/// Euler's method on a rectified-flow ODE (SD3, Flux): the model predicts the velocity
/// `noise - sample` and each step moves along it from one sigma to the next: matches diffusers'
/// `FlowMatchEulerDiscreteScheduler` with a fixed `shift` (SD3: 3.0) and the default, Karras or
/// exponential sigma spacing (no dynamic shifting, terminal stretch or stochastic sampling; the
/// config refuses those). The latents start as the noise itself and the model sees them unscaled.
public struct FlowMatchEulerSampler: Sampler {
    public let timesteps: [Float]
    /// The noise fraction at each timestep, then 0.
    public let sigmas: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    public var flowMatching: Bool { true }

    /// `FlowMatchEulerDiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let train = config.numTrainTimesteps ?? 1000
        let shift = config.shift ?? 1
        guard shift > 0 else {
            throw CheckpointError(path: "", reason: .invalidConfig("shift = \(shift) must be positive"))
        }
        // The class shifts its training sigmas (float32) in __init__, then shifts the inference
        // sigmas spaced between the shifted ends again (double) in set_timesteps.
        func trainingSigma(_ t: Int) -> Double {
            let sigma = Float(t) / Float(train)
            return Double(Float(shift) * sigma / (1 + Float(shift - 1) * sigma))
        }
        let high = trainingSigma(train) * Double(train), low = trainingSigma(1) * Double(train)
        let shifted = TimestepSpacing.linspace(high, low, steps).map { t -> Double in
            let sigma = t / Double(train)
            return shift * sigma / (1 + (shift - 1) * sigma)
        }
        // Re-spacing (after the shift, in double, as numpy) keeps the shifted ends.
        let spaced = SigmaSchedule(config: config).respaced(shifted, count: steps).map { Float($0) }
        timesteps = spaced.map { $0 * Float(train) }
        sigmas = spaced + [0]
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let sigma = sigmas[stepIndex]
        let dt = sigmas[stepIndex + 1] - sigma
        // x = (1 - sigma) x0 + sigma noise and v = noise - x0, so x0 = x - sigma v.
        return stepMap(sample, modelOutput) { x, v in (x + dt * v, x - sigma * v) }
    }

    /// `StableDiffusion3Img2ImgPipeline.get_timesteps` (Flux's is the same): unlike SD's, it keeps
    /// `steps * strength` unrounded, t_start = Int(max(steps - min(steps * strength, steps), 0)).
    public func firstStepIndex(strength: Double, steps: Int) -> Int {
        let kept = min(Double(steps) * strength, Double(steps))
        return min(Int(max(Double(steps) - kept, 0)) * order, timesteps.count)
    }

    /// diffusers' `scale_noise`: the straight line from `original` to `noise` at this sigma.
    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[stepIndex]
        return zipMap(original, noise) { x, n in sigma * n + (1 - sigma) * x }
    }
}
