import Foundation
import Tensor

/// DPM-Solver-2 with ancestral noise (k-diffusion's `sample_dpm_2_ancestral`, eta 1): each step
/// splits the next noise level into a deterministic part (`down`) and fresh noise (`up`), takes
/// a DPM2 step to `down` through the geometric midpoint, then adds the noise: matches diffusers'
/// `KDPM2AncestralDiscreteScheduler` (A1111's "DPM2 a"). Draws one noise tensor per second model
/// call; the last step goes to sigma 0 with the first-order slope and draws none.
public struct KDPM2AncestralSampler: Sampler {
    public let timesteps: [Float]
    /// The noise level at each inference timestep, then 0.
    public let sigmas: [Float]
    /// Per inference step: the noise added back after the step.
    let sigmasUp: [Float]
    /// Per inference step: the noise level the deterministic part of the step reaches.
    let sigmasDown: [Float]
    /// Per inference step: the geometric mean of `sigmas[k]` and `sigmasDown[k]`; 0 for the last.
    let sigmasMidpoint: [Float]
    public let initNoiseSigma: Float
    public var order: Int { 2 }
    let prediction: PredictionType
    /// The latents before the pending first-order step, while its correction is pending.
    var pending: Tensor?

    /// `KDPM2AncestralDiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let (prediction, schedule, spacing, sigmas, plainTimes) = try KDPM2Sampler.setup(config: config, steps: steps)
        (self.prediction, self.sigmas) = (prediction, sigmas)
        // One step per sigma but the final 0: trailing spacing can give one timestep more than
        // `steps` (numpy's arange(1000, 0, -1000 / 499) has 500 entries), and the last step's
        // midpoint must be the last one's, not that of step `steps - 1`.
        let n = sigmas.count - 1
        var up: [Float] = [], down: [Float] = [], midpoints: [Float] = []
        for k in 0..<n {
            let s = sigmas[k], next = sigmas[k + 1]
            let (d, u) = ancestralStep(from: s, to: next)
            up.append(u)
            down.append(d)
            // A step whose deterministic part reaches 0 (`ancestralStep` capped `up`) has no
            // geometric midpoint (diffusers' is NaN there): k-diffusion takes an Euler step to the
            // denoised sample instead. With the midpoint at `s` itself, the first call's step is
            // empty and the second call's slope, taken at `s` again, is exactly that Euler step.
            midpoints.append(k < n - 1 ? (d > 0 ? KDPM2Sampler.logMidpoint(s, d) : s) : 0)
        }
        (sigmasUp, sigmasDown, sigmasMidpoint) = (up, down, midpoints)
        timesteps = KDPM2Sampler.modelCallTimesteps(plainTimes, midpoints: midpoints[...], schedule: schedule)
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let k = stepIndex / 2
        let sigma = stepIndex % 2 == 0 ? sigmas[k] : sigmasMidpoint[k]
        return scaledModelInput(sample, sigma: sigma)
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let k = stepIndex / 2
        let sigma = sigmas[k], midpoint = sigmasMidpoint[k]
        if let start = pending {
            pending = nil
            let dt = sigmasDown[k] - sigma
            let up = sigmasUp[k]
            let noise = random.normal(shape: sample.shape)
            let stepped = prediction.eulerStep(from: start, sample: sample, modelOutput: modelOutput, sigma: midpoint,
                                               dt: dt)
            return SamplerStep(sample: zipMap(stepped.sample, noise) { x, n in x + n * up }, denoised: stepped.denoised)
        }
        pending = sample
        return prediction.eulerStep(sample: sample, modelOutput: modelOutput, sigma: sigma, dt: midpoint - sigma)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        noised(original, noise: noise, sigma: sigmas[(stepIndex + 1) / 2])
    }
}
