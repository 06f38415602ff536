import Foundation
import Tensor

/// DPM-Solver-2 in k-diffusion's form (Karras et al. 2022, `sample_dpm_2`): an Euler step to the
/// geometric midpoint of two noise levels, a second model call there, and the full step taken
/// with the midpoint's slope: matches diffusers' `KDPM2DiscreteScheduler` (A1111's "DPM2").
/// Every timestep but the first is preceded by its midpoint's; the last step goes to sigma 0
/// with the first-order slope.
public struct KDPM2Sampler: Sampler {
    public let timesteps: [Float]
    /// The noise level at each inference timestep, then 0.
    public let sigmas: [Float]
    /// `sigmasMidpoint[k]`: the geometric mean of `sigmas[k - 1]` and `sigmas[k]` (float32, as
    /// diffusers' `sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp()`); 0 for the last.
    let sigmasMidpoint: [Float]
    public let initNoiseSigma: Float
    public var order: Int { 2 }
    let prediction: PredictionType
    /// The latents before the pending first-order step, while its correction is pending.
    var pending: Tensor?

    /// `KDPM2DiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        prediction = try Self.prediction(config)
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
        var midpoints: [Float] = [0]
        for k in 1..<sigmas.count {
            midpoints.append(sigmas[k] > 0 ? Self.logMidpoint(sigmas[k], sigmas[k - 1]) : 0)
        }
        sigmasMidpoint = midpoints
        var calls = [plainTimes[0]]
        for k in 1..<plainTimes.count {
            calls += [schedule.float32Timestep(forSigma: midpoints[k]), plainTimes[k]]
        }
        timesteps = calls
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
    }

    /// The prediction type of `config`; diffusers' KDPM2 classes do not implement `sample`.
    static func prediction(_ config: SchedulerConfig) throws(CheckpointError) -> PredictionType {
        let prediction = PredictionType(rawValue: config.predictionType ?? "epsilon") ?? .epsilon
        if prediction == .sample {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "prediction_type", value: "sample", note: "diffusers' KDPM2 schedulers do not implement it"))
        }
        return prediction
    }

    /// torch's float32 `a.log().lerp(b.log(), 0.5).exp()`.
    static func logMidpoint(_ a: Float, _ b: Float) -> Float {
        let start = log(a), end = log(b)
        return exp(end - (end - start) * 0.5)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor {
        let k = stepIndex / 2
        let sigma = stepIndex % 2 == 0 ? sigmas[k] : sigmasMidpoint[k + 1]
        let scale = (sigma * sigma + 1).squareRoot()
        return mapElements(sample) { $0 / scale }
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> Tensor {
        let k = stepIndex / 2
        let sigma = sigmas[k], midpoint = sigmasMidpoint[k + 1]
        let prediction = prediction
        if let start = pending {
            pending = nil
            let dt = sigmas[k + 1] - sigma
            return zipMap(start, sample, modelOutput) { s, x, m in
                let denoised = prediction.denoised(sample: x, output: m, sigma: midpoint)
                return s + (x - denoised) / midpoint * dt
            }
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

extension NoiseSchedule {
    /// diffusers' `_sigma_to_t` on a float32 torch sigma (KDPM2's midpoint timesteps): the same
    /// log-linear interpolation as `timestep(forSigma:)`, computed in float32.
    func float32Timestep(forSigma sigma: Float) -> Float {
        let logSigmas = sigmas.map { log($0) }
        let logSigma = log(max(sigma, 1e-10))
        var low = 0
        var seen = 0
        for (i, value) in logSigmas.enumerated() where logSigma - value >= 0 {
            seen += 1
            low = i
        }
        low = seen == 0 ? 0 : min(low, logSigmas.count - 2)
        let high = low + 1
        var w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high])
        w = min(max(w, 0), 1)
        return (1 - w) * Float(low) + w * Float(high)
    }
}
