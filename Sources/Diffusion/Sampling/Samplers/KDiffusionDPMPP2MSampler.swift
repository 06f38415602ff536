import Foundation
import Tensor

/// k-diffusion's `sample_dpmpp_2m`, the "DPM++ 2M" of A1111 and ComfyUI: the same second-order
/// DPM-Solver++ as `DPMSolverMultistepSampler`, but in sigma space from noise times the largest
/// sigma, with the model at each sigma's fractional timestep. diffusers' class starts from
/// unit-variance noise (as though the largest sigma were infinite) and rounds Karras timesteps to
/// whole steps, which moves the image a little; this is what `SamplingConvention.kDiffusion` runs.
public struct KDiffusionDPMPP2MSampler: SigmaSpaceSampler {
    public let timesteps: [Float]
    /// The noise level at each timestep, then 0.
    public let sigmas: [Float]
    public var initNoiseSigma: Float { sigmas[0] }
    public var order: Int { 1 }
    let prediction: PredictionType
    /// The previous step's clean-sample prediction, once a step has been taken.
    var previousDenoised: Tensor?

    /// k-diffusion's sigmas for `schedule` on `config`'s training schedule (`.model` is its uniform one).
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true, floorsZeroSNR: true)
        let spaced = schedule.kDiffusionSigmas(SigmaSchedule(config: config), steps: steps)
        sigmas = spaced.sigmas + [0]
        timesteps = spaced.timesteps
        prediction = PredictionType(config: config)
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let (sigma, next) = (sigmas[stepIndex], sigmas[stepIndex + 1])
        let prediction = prediction
        let denoised = zipMap(sample, modelOutput) { x, m in prediction.denoised(sample: x, output: m, sigma: sigma) }
        defer { previousDenoised = denoised }
        // To sigma 0 the step lands on the clean-sample prediction (k-diffusion's first-order
        // update with t_next = inf).
        guard next > 0 else { return SamplerStep(sample: denoised, denoised: denoised) }
        // In k-diffusion's time t = -log(sigma).
        let h = Double(log(sigma)) - Double(log(next))
        let ratio = next / sigma
        let decay = Float(-expm1(-h))
        guard let previous = previousDenoised, stepIndex > 0 else {
            return SamplerStep(sample: zipMap(sample, denoised) { x, d in ratio * x + decay * d }, denoised: denoised)
        }
        let r = Float((Double(log(sigmas[stepIndex - 1])) - Double(log(sigma))) / h)
        let (a, b) = (1 + 1 / (2 * r), 1 / (2 * r))
        return SamplerStep(sample: zipMap(sample, denoised, previous) { x, d, p in ratio * x + decay * (a * d - b * p) },
                           denoised: denoised)
    }
}
