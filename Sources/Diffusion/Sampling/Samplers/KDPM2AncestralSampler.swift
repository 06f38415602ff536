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
        prediction = try KDPM2Sampler.prediction(config)
        var defaults = SchedulerDefaults()
        defaults.betaStart = 0.00085
        defaults.betaEnd = 0.012
        let schedule = try NoiseSchedule(config: config, defaults: defaults, allowsZeroSNR: false)
        let spacing = TimestepSpacing(rawValue: config.timestepSpacing ?? "linspace") ?? .linspace
        let times = spacing.timesteps(steps: steps, trainSteps: schedule.count, offset: config.stepsOffset ?? 0)
            .map { Double(Float($0)) }
        let sigmaSchedule = SigmaSchedule(config: config)
        var plainTimes: [Float]
        (sigmas, plainTimes) = schedule.discreteSigmas(timesteps: times, schedule: sigmaSchedule, finalSigma: 0)
        if sigmaSchedule == .karras {
            plainTimes = plainTimes.map { Float(Double($0).rounded(.toNearestOrEven)) }
        }
        let n = steps
        var up: [Float] = [], down: [Float] = [], midpoints: [Float] = []
        for k in 0..<n {
            let s = sigmas[k], next = sigmas[k + 1]
            let u = (next * next * (s * s - next * next) / (s * s)).squareRoot()
            let d = (next * next - u * u).squareRoot()
            up.append(u)
            down.append(d)
            midpoints.append(k < n - 1 ? KDPM2Sampler.logMidpoint(s, d) : 0)
        }
        (sigmasUp, sigmasDown, sigmasMidpoint) = (up, down, midpoints)
        var calls = [plainTimes[0]]
        for k in 1..<plainTimes.count {
            calls += [schedule.float32Timestep(forSigma: midpoints[k - 1]), plainTimes[k]]
        }
        timesteps = calls
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let k = stepIndex / 2
        let sigma = stepIndex % 2 == 0 ? sigmas[k] : sigmasMidpoint[k]
        let scale = (sigma * sigma + 1).squareRoot()
        return mapElements(sample) { $0 / scale }
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> Tensor {
        let k = stepIndex / 2
        let sigma = sigmas[k], midpoint = sigmasMidpoint[k]
        let prediction = prediction
        if let start = pending {
            pending = nil
            let dt = sigmasDown[k] - sigma
            let up = sigmasUp[k]
            let noise = random.normal(shape: sample.shape)
            let stepped = zipMap(start, sample, modelOutput) { s, x, m in
                let denoised = prediction.denoised(sample: x, output: m, sigma: midpoint)
                return s + (x - denoised) / midpoint * dt
            }
            return zipMap(stepped, noise) { x, n in x + n * up }
        }
        pending = sample
        let dt = midpoint - sigma
        return zipMap(sample, modelOutput) { x, m in
            let denoised = prediction.denoised(sample: x, output: m, sigma: sigma)
            return x + (x - denoised) / sigma * dt
        }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let sigma = sigmas[(stepIndex + 1) / 2]
        return zipMap(original, noise) { x, n in x + n * sigma }
    }
}
