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
        let (prediction, schedule, spacing, sigmas, plainTimes) = try Self.setup(config: config, steps: steps)
        var midpoints: [Float] = [0]
        for k in 1..<sigmas.count {
            midpoints.append(sigmas[k] > 0 ? Self.logMidpoint(sigmas[k], sigmas[k - 1]) : 0)
        }
        (self.prediction, self.sigmas, sigmasMidpoint) = (prediction, sigmas, midpoints)
        timesteps = Self.modelCallTimesteps(plainTimes, midpoints: midpoints.dropFirst(), schedule: schedule)
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
    }

    /// The setup both KDPM2 classes share: the prediction type, the schedule (`kDiffusion`
    /// defaults), the spacing, the sigmas (then 0) and the plain timesteps (Karras ones rounded).
    static func setup(config: SchedulerConfig, steps: Int) throws(CheckpointError)
        -> (prediction: PredictionType, schedule: NoiseSchedule, spacing: TimestepSpacing, sigmas: [Float],
            plainTimes: [Float]) {
        let prediction = try prediction(config)
        let schedule = try NoiseSchedule(config: config, defaults: .kDiffusion, allowsZeroSNR: false)
        let (spacing, times) = schedule.discreteTimesteps(config: config, steps: steps)
        let sigmaSchedule = SigmaSchedule(config: config)
        var (sigmas, plainTimes) = schedule.discreteSigmas(timesteps: times, schedule: sigmaSchedule, finalSigma: 0)
        if sigmaSchedule == .karras {
            plainTimes = plainTimes.map { Float(Double($0).rounded(.toNearestOrEven)) }
        }
        return (prediction, schedule, spacing, sigmas, plainTimes)
    }

    /// The timesteps of the model calls: the first plain timestep, then each later one preceded by
    /// the timestep of the midpoint sigma before it (`midpoints`, one per later plain timestep).
    static func modelCallTimesteps(_ plainTimes: [Float], midpoints: ArraySlice<Float>,
                                   schedule: NoiseSchedule) -> [Float] {
        var calls = [plainTimes[0]]
        for k in 1..<plainTimes.count {
            calls += [schedule.float32Timestep(forSigma: midpoints[midpoints.startIndex + k - 1]), plainTimes[k]]
        }
        return calls
    }

    /// The prediction type of `config`; diffusers' KDPM2 classes do not implement `sample`.
    static func prediction(_ config: SchedulerConfig) throws(CheckpointError) -> PredictionType {
        let prediction = PredictionType(config: config)
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
        return scaledModelInput(sample, sigma: sigma)
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let k = stepIndex / 2
        let sigma = sigmas[k], midpoint = sigmasMidpoint[k + 1]
        if let start = pending {
            pending = nil
            return prediction.eulerStep(from: start, sample: sample, modelOutput: modelOutput, sigma: midpoint,
                                        dt: sigmas[k + 1] - sigma)
        }
        pending = sample
        return prediction.eulerStep(sample: sample, modelOutput: modelOutput, sigma: sigma, dt: midpoint - sigma)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        noised(original, noise: noise, sigma: sigmas[(stepIndex + 1) / 2])
    }
}

extension NoiseSchedule {
    /// diffusers' `_sigma_to_t` on a float32 torch sigma (KDPM2's midpoint timesteps): the same
    /// log-linear interpolation as `timestep(forSigma:)`, computed in float32.
    func float32Timestep(forSigma sigma: Float) -> Float {
        Self.interpolatedTimestep(logSigma: log(max(sigma, 1e-10)), logSigmas: sigmas.map { log($0) })
    }
}
