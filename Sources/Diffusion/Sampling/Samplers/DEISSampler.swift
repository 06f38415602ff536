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
        prediction = PredictionType(rawValue: config.predictionType ?? "epsilon") ?? .epsilon

        let train = schedule.count
        let offset = config.stepsOffset ?? 0
        var times: [Double]
        switch TimestepSpacing(rawValue: config.timestepSpacing ?? "linspace") ?? .linspace {
        case .linspace:
            times = TimestepSpacing.linspace(0, Double(train - 1), steps + 1).reversed().dropLast()
                .map { $0.rounded(.toNearestOrEven) }
        case .leading:
            let ratio = train / (steps + 1)
            times = (0...steps).reversed().dropLast().map { Double($0 * ratio + offset) }
        case .trailing:
            times = TimestepSpacing.trailing.timesteps(steps: steps, trainSteps: train, offset: offset)
        }
        let sigmaSchedule = SigmaSchedule(config: config)
        switch sigmaSchedule {
        case .model:
            sigmas = schedule.interpolatedSigmas(at: times).map { Float($0) } + [schedule.sigmaMin]
        case .karras, .exponential:
            let respaced = sigmaSchedule.respaced(schedule.sigmas.reversed().map(Double.init), count: steps)
            times = respaced.map { schedule.timestep(forSigma: $0) }
            if sigmaSchedule == .karras { times = times.map { $0.rounded(.toNearestOrEven) } }
            times = times.map { $0.rounded(.towardZero) }
            sigmas = respaced.map { Float($0) } + [Float(respaced[respaced.count - 1])]
        }
        timesteps = times.map { Float($0) }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> Tensor {
        let (alphaS, sigmaS) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex])
        let (alphaT, sigmaT) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex + 1])
        let prediction = prediction
        // diffusers converts every output to a clean sample, then back to the noise it implies.
        let noise = zipMap(sample, modelOutput) { x, m in
            let x0: Float
            switch prediction {
            case .epsilon: x0 = (x - sigmaS * m) / alphaS
            case .sample: x0 = m
            case .vPrediction: x0 = alphaS * x - sigmaS * m
            }
            return (x - alphaS * x0) / sigmaS
        }
        defer { previousNoise = noise }
        let lastStep = stepIndex == timesteps.count - 1 && lowerOrderFinal && timesteps.count < 15
        guard let previous = previousNoise, solverOrder == 2, !lastStep else {
            let h = (log(alphaT) - log(sigmaT)) - (log(alphaS) - log(sigmaS))
            let a = alphaT / alphaS, b = sigmaT * (exp(h) - 1)
            return zipMap(sample, noise) { x, e in a * x - b * e }
        }
        let (alphaR, sigmaR) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex - 1])
        let (rhoT, rhoS, rhoR) = (Double(sigmaT / alphaT), Double(sigmaS / alphaS), Double(sigmaR / alphaR))
        func integral(_ t: Double, _ b: Double, _ c: Double) -> Double {
            t * (-log(c) + log(t) - 1) / (log(b) - log(c))
        }
        let c1 = Float(integral(rhoT, rhoS, rhoR) - integral(rhoS, rhoS, rhoR))
        let c2 = Float(integral(rhoT, rhoR, rhoS) - integral(rhoS, rhoR, rhoS))
        return zipMap(sample, noise, previous) { x, e0, e1 in alphaT * (x / alphaS + c1 * e0 + c2 * e1) }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        let (alpha, sigma) = DPMSolverMultistepSampler.alphaSigma(sigmas[stepIndex])
        return zipMap(original, noise) { x, n in alpha * x + sigma * n }
    }
}
