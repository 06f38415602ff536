import Foundation
import Tensor

/// UniPC (Zhao et al. 2023), the unified predictor-corrector in its data-prediction form: each
/// step first corrects the latents with the new model output (UniC), then predicts the next ones
/// (UniP) from the last two clean-sample predictions: matches diffusers' `UniPCMultistepScheduler`
/// with `solver_order` 1 or 2, `bh1` or `bh2` (the default; `midpoint`, `heun` and `logrho` map to
/// it as in diffusers) and no disabled corrector steps (A1111's "UniPC").
public struct UniPCSampler: Sampler {
    public let timesteps: [Float]
    /// The variance-preserving noise level at each timestep, then the final one.
    public let sigmas: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let prediction: PredictionType
    /// 1 or 2.
    let solverOrder: Int
    let lowerOrderFinal: Bool
    /// `bh1`: `B(h) = h`; `bh2`: `B(h) = e^h - 1`.
    let bh1: Bool
    /// The clean-sample predictions of the last steps, oldest first (at most `solverOrder`).
    var history: [Tensor] = []
    /// The latents the last prediction started from, and that prediction's order.
    var last: (sample: Tensor, order: Int)?

    /// `UniPCMultistepScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true, floorsZeroSNR: true)
        let solverOrder = config.solverOrder ?? 2
        guard solverOrder == 1 || solverOrder == 2 else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "solver_order", value: "\(solverOrder)", note: "orders 1 and 2 are"))
        }
        let solver = config.solverType ?? "bh2"
        guard ["bh1", "bh2", "midpoint", "heun", "logrho"].contains(solver) else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "solver_type", value: solver, note: "bh1 and bh2 are"))
        }
        self.solverOrder = solverOrder
        bh1 = solver == "bh1"
        lowerOrderFinal = config.lowerOrderFinal ?? true
        prediction = PredictionType(config: config)
        let finalSigmaIsZero = (config.finalSigmasType ?? "zero") == "zero"

        let spaced = schedule.multistepSigmas(config: config, steps: steps, roundsKarras: true)
        let finalSigma: Float = finalSigmaIsZero ? 0 : spaced.lowest
        sigmas = spaced.sigmas.map { Float($0) } + [finalSigma]
        timesteps = spaced.timesteps
    }

    /// `log(alpha) - log(sigma)` of noise level `sigma`, in float32 as diffusers.
    func lambda(_ index: Int) -> Float {
        let (alpha, sigma) = DPMSolverMultistepSampler.alphaSigma(sigmas[index])
        return log(alpha) - log(sigma)
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let (alpha, sigma) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex])
        let prediction = prediction
        let denoised = zipMap(sample, modelOutput) { x, m in
            prediction.cleanSample(sample: x, output: m, alpha: alpha, sigma: sigma)
        }
        var sample = sample
        if stepIndex > 0, let (lastSample, lastOrder) = last {
            sample = update(from: lastSample, at: stepIndex - 1, order: lastOrder, corrector: denoised)
        }
        history.append(denoised)
        if history.count > solverOrder { history.removeFirst() }
        var order = lowerOrderFinal ? min(solverOrder, timesteps.count - stepIndex) : solverOrder
        order = min(order, history.count)
        last = (sample, order)
        return SamplerStep(sample: update(from: sample, at: stepIndex, order: order, corrector: nil), denoised: denoised)
    }

    /// The UniP prediction from `sigmas[index]` to `sigmas[index + 1]` (with `history` ending at
    /// `index`), or with `corrector` (the model's clean sample at `index + 1`) the UniC correction
    /// of that prediction (with `history` still ending at `index`).
    func update(from x: Tensor, at index: Int, order: Int, corrector: Tensor?) -> Tensor {
        let (alphaT, sigmaT) = DPMSolverMultistepSampler.alphaSigma(sigmas[index + 1])
        let (_, sigmaS) = DPMSolverMultistepSampler.alphaSigma(sigmas[index])
        let lambdaS = lambda(index)
        let h = (log(alphaT) - log(sigmaT)) - lambdaS
        let hh = -h
        let hPhi1 = expm1(hh)
        let bH = bh1 ? hh : expm1(hh)
        let m0 = history[history.count - 1]
        let c0 = sigmaT / sigmaS, c1 = alphaT * hPhi1, c2 = alphaT * bH
        // The first-order part, plus the history term for order 2.
        var r0: Float = 0
        var previous: Tensor?
        if order == 2 {
            r0 = (lambda(index - 1) - lambdaS) / h
            previous = history[history.count - 2]
        }
        var out = [Float](repeating: 0, count: x.count)
        guard let corrector else {
            for i in 0..<out.count {
                let base = c0 * x.storage[i] - c1 * m0.storage[i]
                let d1 = previous.map { ($0.storage[i] - m0.storage[i]) / r0 } ?? 0
                out[i] = previous == nil ? base : base - c2 * (0.5 * d1)
            }
            return Tensor(shape: x.shape, values: out)
        }
        // UniC: rhos solve [[1, 1], [r0, 1]] rho = b for order 2; 0.5 for order 1.
        var rhoHistory: Float = 0, rhoNew: Float = 0.5
        if order == 2 {
            var phi = hPhi1 / hh - 1
            let b1 = phi / bH
            phi = phi / hh - 0.5
            let b2 = phi * 2 / bH
            rhoHistory = (b1 - b2) / (1 - r0)
            rhoNew = b1 - rhoHistory
        }
        for i in 0..<out.count {
            let base = c0 * x.storage[i] - c1 * m0.storage[i]
            let d1 = previous.map { ($0.storage[i] - m0.storage[i]) / r0 } ?? 0
            let history = previous == nil ? 0 : rhoHistory * d1
            out[i] = base - c2 * (history + rhoNew * (corrector.storage[i] - m0.storage[i]))
        }
        return Tensor(shape: x.shape, values: out)
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex])
        return noisedPreservingVariance(original, noise: noise, alpha: alpha, sigma: sigma)
    }
}
