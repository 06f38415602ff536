import Foundation
import Tensor

/// Diffusion exponential integrator sampling (Zhang & Chen 2022), multistep in log-rho, first or
/// second order: matches diffusers' `DEISMultistepScheduler` with `solver_order` 1 or 2. The
/// first step, and below 15 steps the last one, are first order.
public struct DEISSampler: Sampler {
    public let timesteps: [Float]
    /// The variance-preserving noise level at each timestep, then the final one.
    public let sigmas: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let prediction: PredictionType
    /// 1 or 2.
    let solverOrder: Int
    let lowerOrderFinal: Bool
    /// The previous step's noise prediction, once a step has been taken.
    var previousNoise: Tensor?

    /// `DEISMultistepScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: false)
        let solverOrder = config.solverOrder ?? 2
        guard solverOrder == 1 || solverOrder == 2 else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "solver_order", value: "\(solverOrder)", note: "orders 1 and 2 are"))
        }
        let algorithm = config.algorithmType ?? "deis"
        guard ["deis", "dpmsolver", "dpmsolver++"].contains(algorithm) else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "algorithm_type", value: algorithm, note: "deis is"))
        }
        let solver = config.solverType ?? "logrho"
        guard ["logrho", "midpoint", "heun", "bh1", "bh2"].contains(solver) else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "solver_type", value: solver, note: "logrho is"))
        }
        self.solverOrder = solverOrder
        lowerOrderFinal = config.lowerOrderFinal ?? true
        prediction = PredictionType(config: config)

        let spaced = schedule.multistepSigmas(config: config, steps: steps, roundsKarras: true)
        sigmas = spaced.sigmas.map { Float($0) } + [spaced.lowest]
        timesteps = spaced.timesteps
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let (alphaS, sigmaS) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex])
        let (alphaT, sigmaT) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex + 1])
        let prediction = prediction
        // diffusers converts every output to a clean sample, then back to the noise it implies.
        let converted = stepMap(sample, modelOutput) { x, m in
            let x0 = prediction.cleanSample(sample: x, output: m, alpha: alphaS, sigma: sigmaS)
            return ((x - alphaS * x0) / sigmaS, x0)
        }
        let noise = converted.sample
        defer { previousNoise = noise }
        let lastStep = stepIndex == timesteps.count - 1 && lowerOrderFinal && timesteps.count < 15
        guard let previous = previousNoise, solverOrder == 2, !lastStep else {
            let h = (log(alphaT) - log(sigmaT)) - (log(alphaS) - log(sigmaS))
            let a = alphaT / alphaS, b = sigmaT * (exp(h) - 1)
            return SamplerStep(sample: zipMap(sample, noise) { x, e in a * x - b * e }, denoised: converted.denoised)
        }
        let (alphaR, sigmaR) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex - 1])
        let (rhoT, rhoS, rhoR) = (Double(sigmaT / alphaT), Double(sigmaS / alphaS), Double(sigmaR / alphaR))
        func integral(_ t: Double, _ b: Double, _ c: Double) -> Double {
            t * (-log(c) + log(t) - 1) / (log(b) - log(c))
        }
        let c1 = Float(integral(rhoT, rhoS, rhoR) - integral(rhoS, rhoS, rhoR))
        let c2 = Float(integral(rhoT, rhoR, rhoS) - integral(rhoS, rhoR, rhoS))
        return SamplerStep(sample: zipMap(sample, noise, previous) { x, e0, e1 in alphaT * (x / alphaS + c1 * e0 + c2 * e1) },
                           denoised: converted.denoised)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex])
        return noisedPreservingVariance(original, noise: noise, alpha: alpha, sigma: sigma)
    }
}
