import Foundation
import Tensor

/// DPM-Solver++ (Lu et al. 2022), multistep, second order, in its ODE (`dpmsolver++`, A1111's
/// "DPM++ 2M") and SDE (`sde-dpmsolver++`, "DPM++ 2M SDE") forms: matches diffusers'
/// `DPMSolverMultistepScheduler` with `solver_order = 2` (midpoint or heun `solver_type`).
/// The SDE form draws one noise tensor per step, the last included.
public struct DPMSolverMultistepSampler: Sampler {
    public let timesteps: [Float]
    /// The variance-preserving noise level at each timestep, then the final one.
    public let sigmas: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let prediction: PredictionType
    let stochastic: Bool
    let heun: Bool
    /// 1 (DDIM-like steps only) or 2.
    let solverOrder: Int
    /// Whether the last step (and, below 15 steps, the one before) drop to lower order.
    let lowerOrderFinal: Bool
    let eulerAtFinal: Bool
    let finalSigmaIsZero: Bool
    /// The previous step's clean-sample prediction, once a step has been taken.
    var previousDenoised: Tensor?

    /// `DPMSolverMultistepScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true, floorsZeroSNR: true)
        let algorithm = config.algorithmType ?? "dpmsolver++"
        guard algorithm == "dpmsolver++" || algorithm == "sde-dpmsolver++" else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "algorithm_type", value: algorithm,
                                                                     note: "dpmsolver++ and sde-dpmsolver++ are"))
        }
        let solverOrder = config.solverOrder ?? 2
        guard solverOrder == 2 || solverOrder == 1 else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "solver_order", value: "\(solverOrder)", note: "orders 1 and 2 are"))
        }
        let solver = config.solverType ?? "midpoint"
        guard solver == "midpoint" || solver == "heun" else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "solver_type", value: solver, note: ""))
        }
        if let variance = config.varianceType, variance == "learned" || variance == "learned_range" {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "variance_type", value: variance, note: ""))
        }
        self.solverOrder = solverOrder
        stochastic = algorithm == "sde-dpmsolver++"
        heun = solver == "heun"
        lowerOrderFinal = config.lowerOrderFinal ?? true
        eulerAtFinal = config.eulerAtFinal ?? false
        finalSigmaIsZero = (config.finalSigmasType ?? "zero") == "zero"
        prediction = PredictionType(config: config)

        let spaced = schedule.multistepSigmas(config: config, steps: steps,
                                              roundsKarras: config.betaSchedule != BetaSchedule.cosine.rawValue)
        let finalSigma: Float = finalSigmaIsZero ? 0 : schedule.sigmaMin
        sigmas = spaced.sigmas.map { Float($0) } + [finalSigma]
        timesteps = spaced.timesteps
    }

    /// diffusers' `_sigma_to_alpha_sigma_t`: the signal and noise scales of sigma.
    static func alphaSigma(_ sigma: Float) -> (alpha: Float, sigma: Float) {
        let alpha = 1 / (sigma * sigma + 1).squareRoot()
        return (alpha, sigma * alpha)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let count = timesteps.count
        let (alphaS, sigmaS) = Self.alphaSigma(sigmas[stepIndex])
        let (alphaT, sigmaT) = Self.alphaSigma(sigmas[stepIndex + 1])
        let prediction = prediction
        let denoised = zipMap(sample, modelOutput) { x, m in
            prediction.cleanSample(sample: x, output: m, alpha: alphaS, sigma: sigmaS)
        }
        let noise = stochastic ? random.normal(shape: sample.shape) : nil
        let lastStep = stepIndex == count - 1
            && (eulerAtFinal || (lowerOrderFinal && count < 15) || finalSigmaIsZero)
        let lambdaT = log(alphaT) - log(sigmaT)
        let lambdaS = log(alphaS) - log(sigmaS)
        let h = lambdaT - lambdaS
        defer { previousDenoised = denoised }
        // First order at the start, at the end, and whenever there is no history.
        guard let previous = previousDenoised, !lastStep, solverOrder == 2 else {
            return SamplerStep(sample: firstOrder(denoised: denoised, sample: sample, noise: noise, alphaT: alphaT,
                                                  sigmaT: sigmaT, sigmaS: sigmaS, h: h), denoised: denoised)
        }
        let (alphaR, sigmaR) = Self.alphaSigma(sigmas[stepIndex - 1])
        let lambdaR = log(alphaR) - log(sigmaR)
        let r0 = (lambdaS - lambdaR) / h
        let d1Scale = 1 / r0
        if let noise {
            let decay: Float = exp(-h)
            let decay2: Float = 1 - exp(-2 * h)
            let c0: Float = sigmaT / sigmaS * decay
            let c1: Float = alphaT * decay2
            let c2: Float = heun ? alphaT * (decay2 / (-2 * h) + 1) : 0.5 * c1
            let c3: Float = sigmaT * decay2.squareRoot()
            var out = [Float](repeating: 0, count: sample.count)
            for i in 0..<out.count {
                let d0 = denoised.storage[i]
                let d1 = d1Scale * (d0 - previous.storage[i])
                out[i] = c0 * sample.storage[i] + c1 * d0 + c2 * d1 + c3 * noise.storage[i]
            }
            return SamplerStep(sample: Tensor(shape: sample.shape, values: out), denoised: denoised)
        }
        let c0: Float = sigmaT / sigmaS
        let expm1: Float = exp(-h) - 1
        let c1: Float = alphaT * expm1
        let c2: Float = heun ? alphaT * (expm1 / h + 1) : 0.5 * c1
        var out = [Float](repeating: 0, count: sample.count)
        for i in 0..<out.count {
            let d0 = denoised.storage[i]
            let d1 = d1Scale * (d0 - previous.storage[i])
            let x = c0 * sample.storage[i] - c1 * d0
            out[i] = heun ? x + c2 * d1 : x - c2 * d1
        }
        return SamplerStep(sample: Tensor(shape: sample.shape, values: out), denoised: denoised)
    }

    /// The first-order (DDIM-like) update from `sigmaS` to `sigmaT`.
    func firstOrder(denoised: Tensor, sample: Tensor, noise: Tensor?, alphaT: Float, sigmaT: Float,
                    sigmaS: Float, h: Float) -> Tensor {
        if let noise {
            let c0 = sigmaT / sigmaS * exp(-h)
            let c1 = alphaT * (1 - exp(-2 * h))
            let c2 = sigmaT * (1 - exp(-2 * h)).squareRoot()
            return zipMap(sample, denoised, noise) { x, d, n in c0 * x + c1 * d + c2 * n }
        }
        let c0 = sigmaT / sigmaS
        let c1 = alphaT * (exp(-h) - 1)
        return zipMap(sample, denoised) { x, d in c0 * x - c1 * d }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = Self.alphaSigma(sigmas[stepIndex])
        return noisedPreservingVariance(original, noise: noise, alpha: alpha, sigma: sigma)
    }
}
