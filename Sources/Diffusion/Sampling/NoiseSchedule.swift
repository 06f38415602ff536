import Foundation

/// The training noise schedule: betas and the cumulative products of `1 - beta`, computed as
/// diffusers does (float32 torch tensors; torch's CPU `cumprod` accumulates in double).
///
/// This is the first of three separate ideas in sampling: the schedule (this type, plus the
/// inference timestep spacing and sigma spacings below), the model's parameterisation
/// (`PredictionType`) and the sampler's update rule (one `Sampler` per file).
public struct NoiseSchedule: Sendable, Equatable {
    /// One beta per training timestep.
    public let betas: [Float]
    /// `alphas_cumprod[t]`, the signal fraction at training timestep `t`.
    public let alphasCumprod: [Float]

    /// The number of training timesteps.
    public var count: Int { alphasCumprod.count }

    /// The schedule of `config`, with the class defaults `defaults` for absent keys
    /// (`rescale_betas_zero_snr` only where the sampler's class accepts it; the sigma samplers
    /// then set the last `alphas_cumprod` to 2^-24 so its sigma stays finite).
    public init(config: SchedulerConfig, defaults: SchedulerDefaults, allowsZeroSNR: Bool,
                floorsZeroSNR: Bool = false) throws(CheckpointError) {
        let steps = config.numTrainTimesteps ?? 1000
        guard steps >= 2, steps <= SchedulerConfig.maximumTrainTimesteps else {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "num_train_timesteps = \(steps) must be between 2 and \(SchedulerConfig.maximumTrainTimesteps)"))
        }
        var betas: [Float]
        if let trained = config.trainedBetas {
            betas = trained.map { Float($0) }
        } else {
            let start = config.betaStart ?? defaults.betaStart
            let end = config.betaEnd ?? defaults.betaEnd
            let name = config.betaSchedule ?? defaults.betaSchedule.rawValue
            guard let schedule = BetaSchedule(rawValue: name) else {
                throw CheckpointError(path: "", reason: .invalidConfig(
                    "beta_schedule = \(name) is not one of \(BetaSchedule.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
            switch schedule {
            case .linear:
                betas = Self.torchLinspace(Float(start), Float(end), steps)
            case .scaledLinear:
                betas = Self.torchLinspace(Float(start.squareRoot()), Float(end.squareRoot()), steps).map { $0 * $0 }
            case .cosine:
                betas = Self.cosineBetas(steps)
            }
        }
        // Betas outside (0, 1) give NaN, zero or infinite sigmas; name the key that made them.
        if let i = betas.firstIndex(where: { !($0 > 0 && $0 < 1) }) {
            let source = config.trainedBetas != nil ? "trained_betas"
                : "beta_start = \(config.betaStart ?? defaults.betaStart), beta_end = \(config.betaEnd ?? defaults.betaEnd)"
            throw CheckpointError(path: "", reason: .invalidConfig(
                "\(source) give beta[\(i)] = \(betas[i]); betas must be between 0 and 1 (exclusive)"))
        }
        let zeroSNR = allowsZeroSNR && (config.rescaleBetasZeroSnr ?? false)
        if zeroSNR { betas = Self.rescaledToZeroTerminalSNR(betas) }
        self.betas = betas
        var cumprod = Self.cumulativeProduct(betas.map { 1 - $0 })
        // Many timesteps of large betas underflow the product to 0: an infinite sigma. (The
        // zero-SNR rescale puts an exact 0 last on purpose.)
        let checked = zeroSNR ? cumprod.dropLast() : cumprod[...]
        if let i = checked.firstIndex(where: { !($0 > 0) || !$0.isFinite }) {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "the beta schedule drives alphas_cumprod to \(cumprod[i]) at timestep \(i) of \(steps) "
                    + "(an infinite noise level); use fewer num_train_timesteps or smaller betas"))
        }
        if zeroSNR, floorsZeroSNR { cumprod[cumprod.count - 1] = 0x1p-24 }
        self.alphasCumprod = cumprod
    }

    /// The sigmas of diffusers' k-diffusion style samplers (Euler, Heun, LMS, DPM2) for the
    /// inference `timesteps` (already float32 values): the model's sigmas interpolated at them,
    /// re-spaced by `schedule` (whose timesteps then come from `_sigma_to_t`), then `finalSigma`
    /// appended; float32 as diffusers stores them.
    public func discreteSigmas(timesteps: [Double], schedule: SigmaSchedule,
                               finalSigma: Float) -> (sigmas: [Float], timesteps: [Float]) {
        var sigmas = interpolatedSigmas(at: timesteps)
        var times = timesteps
        if schedule != .model {
            sigmas = schedule.respaced(sigmas, count: timesteps.count)
            times = sigmas.map { timestep(forSigma: $0) }
        }
        return (sigmas.map { Float($0) } + [finalSigma], times.map { Float($0) })
    }

    /// The sigma samplers' (Euler, Euler a, Heun, LMS) spacing, sigmas (then the final one) and
    /// model timesteps for `config`: diffusers' (`discreteTimesteps`, then `discreteSigmas` with
    /// `finalSigma`), or under `config.kDiffusionSigmas` (the uniform schedule, the k-diffusion
    /// convention) k-diffusion's (`kDiffusionSigmas`, then 0).
    func sigmaSamplerSchedule(config: SchedulerConfig, steps: Int,
                              finalSigma: Float) -> (spacing: TimestepSpacing, sigmas: [Float], timesteps: [Float]) {
        let sigmaSchedule = SigmaSchedule(config: config)
        if config.kDiffusionSigmas == true {
            let (sigmas, times) = kDiffusionSigmas(sigmaSchedule, steps: steps)
            // Starting noise times the largest sigma, as k-diffusion's `x * sigmas[0]`.
            return (.linspace, sigmas + [0], times)
        }
        let (spacing, times) = discreteTimesteps(config: config, steps: steps)
        let (sigmas, timesteps) = discreteSigmas(timesteps: times, schedule: sigmaSchedule, finalSigma: finalSigma)
        return (spacing, sigmas, timesteps)
    }

    /// k-diffusion's `DiscreteSchedule.get_sigmas(steps)` (what A1111 runs Euler, Euler a, Heun and
    /// LMS on by default: its "Uniform"), without the final 0, in float32 as torch computes it:
    /// `t = linspace(count - 1, 0, steps)`, `sigma = exp((1 - w) log s[floor t] + w log s[ceil t])`
    /// with `w = frac(t)`. The model's timestep is `sigma_to_t(sigma)`, the log-sigma interpolation
    /// back, as k-diffusion's model wrapper passes it (t again, up to rounding). diffusers'
    /// linspace spacing takes the same t but interpolates sigma itself, not its log.
    func kDiffusionUniform(steps: Int) -> (sigmas: [Float], timesteps: [Float]) {
        let logSigmas = sigmas.map { log($0) }
        let sigmas = Self.torchLinspace(Float(count - 1), 0, steps).map { t -> Float in
            let t = min(max(t, 0), Float(count - 1))
            let (low, high) = (Int(t.rounded(.down)), Int(t.rounded(.up)))
            let w = t - t.rounded(.down)
            return exp((1 - w) * logSigmas[low] + w * logSigmas[high])
        }
        return (sigmas, sigmas.map { Self.interpolatedTimestep(logSigma: log($0), logSigmas: logSigmas) })
    }

    /// k-diffusion's sigmas for `schedule` (without the final 0) and the fractional timesteps its
    /// model wrapper passes: its uniform `get_sigmas` for `.model` and `.uniform`; Karras and
    /// exponential between the training schedule's ends, as `get_sigmas_karras` / `_exponential`.
    func kDiffusionSigmas(_ schedule: SigmaSchedule, steps: Int) -> (sigmas: [Float], timesteps: [Float]) {
        switch schedule {
        case .model, .uniform:
            return kDiffusionUniform(steps: steps)
        case .karras, .exponential:
            let logSigmas = sigmas.map { log($0) }
            let spaced = schedule.respaced(sigmas.reversed().map(Double.init), count: steps).map { Float($0) }
            return (spaced, spaced.map { Self.interpolatedTimestep(logSigma: log($0), logSigmas: logSigmas) })
        }
    }

    /// `((1 - alphas_cumprod[0]) / alphas_cumprod[0]) ** 0.5`, the smallest training sigma
    /// (`final_sigmas_type = "sigma_min"`).
    public var sigmaMin: Float { ((1 - alphasCumprod[0]) / alphasCumprod[0]).squareRoot() }

    /// `torch.linspace(start, end, count, dtype=float32)`: steps from both ends towards the middle.
    static func torchLinspace(_ start: Float, _ end: Float, _ count: Int) -> [Float] {
        guard count > 1 else { return [start] }
        let step = (end - start) / Float(count - 1)
        let halfway = count / 2
        return (0..<count).map { i in i < halfway ? start + step * Float(i) : end - step * Float(count - i - 1) }
    }

    /// `torch.cumprod` of float32 values on the CPU: double accumulator, float32 results.
    static func cumulativeProduct(_ values: [Float]) -> [Float] {
        var product = 1.0
        return values.map { value in
            product *= Double(value)
            return Float(product)
        }
    }

    /// diffusers' `betas_for_alpha_bar` with the cosine transform (Nichol & Dhariwal 2021), max 0.999.
    static func cosineBetas(_ count: Int) -> [Float] {
        func alphaBar(_ t: Double) -> Double {
            let c = cos((t + 0.008) / 1.008 * Double.pi / 2)
            return c * c
        }
        return (0..<count).map { i in
            let t1 = Double(i) / Double(count), t2 = Double(i + 1) / Double(count)
            return Float(min(1 - alphaBar(t2) / alphaBar(t1), 0.999))
        }
    }

    /// Lin et al. (2023) "Common Diffusion Noise Schedules and Sample Steps are Flawed", algorithm 1,
    /// in float32 as diffusers' `rescale_zero_terminal_snr`.
    static func rescaledToZeroTerminalSNR(_ betas: [Float]) -> [Float] {
        let cumprod = cumulativeProduct(betas.map { 1 - $0 })
        var roots = cumprod.map { $0.squareRoot() }
        let first = roots[0], last = roots[roots.count - 1]
        let scale = first / (first - last)
        roots = roots.map { ($0 - last) * scale }
        let bars = roots.map { $0 * $0 }
        var alphas = [bars[0]]
        for i in 1..<bars.count { alphas.append(bars[i] / bars[i - 1]) }
        return alphas.map { 1 - $0 }
    }

    /// `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` in float32, one per training timestep.
    public var sigmas: [Float] {
        alphasCumprod.map { ((1 - $0) / $0).squareRoot() }
    }

    /// `np.interp(timesteps, arange(count), sigmas)`: sigmas at fractional timesteps, in double.
    public func interpolatedSigmas(at timesteps: [Double]) -> [Double] {
        let table = sigmas.map(Double.init)
        return timesteps.map { t in
            if t <= 0 { return table[0] }
            if t >= Double(table.count - 1) { return table[table.count - 1] }
            let low = Int(t.rounded(.down))
            let w = t - Double(low)
            return w == 0 ? table[low] : table[low] + (table[low + 1] - table[low]) * w
        }
    }

    /// diffusers' `_sigma_to_t`: the fractional training timestep of `sigma`, interpolating
    /// linearly in log sigma between the two neighbouring training timesteps.
    public func timestep(forSigma sigma: Double) -> Double {
        Self.interpolatedTimestep(logSigma: log(max(sigma, 1e-10)), logSigmas: sigmas.map { Double(log($0)) })
    }

    /// `_sigma_to_t`'s interpolation, in the precision of `F`: the fractional index of `logSigma`
    /// in the descending `logSigmas` (float32 training log sigmas, widened or not).
    static func interpolatedTimestep<F: BinaryFloatingPoint>(logSigma: F, logSigmas: [F]) -> F {
        // The last index whose log sigma is at most `logSigma`, clipped so a neighbour follows.
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
        return (1 - w) * F(low) + w * F(high)
    }
}

/// The defaults of one diffusers scheduler class for the schedule keys.
public struct SchedulerDefaults: Sendable {
    /// `beta_start`.
    public var betaStart: Double = 0.0001
    /// `beta_end`.
    public var betaEnd: Double = 0.02
    /// `beta_schedule`.
    public var betaSchedule: BetaSchedule = .linear
    /// `timestep_spacing`.
    public var timestepSpacing: TimestepSpacing = .linspace
    /// `set_alpha_to_one` (DDIM, PNDM, LCM).
    public var setAlphaToOne: Bool = false
    /// `clip_sample`.
    public var clipSample: Bool = false

    /// The defaults shared by most classes (linear 0.0001...0.02, linspace).
    public init() {}
}

/// How betas grow over the training timesteps (`beta_schedule`).
public enum BetaSchedule: String, CaseIterable, Sendable {
    /// Evenly spaced betas.
    case linear
    /// Evenly spaced square roots of betas (Stable Diffusion).
    case scaledLinear = "scaled_linear"
    /// The cosine alpha-bar schedule, betas capped at 0.999.
    case cosine = "squaredcos_cap_v2"
}

/// What the model predicts (`prediction_type`): the parameterisation, separate from the schedule
/// and from the update rule.
public enum PredictionType: String, CaseIterable, Sendable {
    /// The noise that was added.
    case epsilon
    /// `alpha * noise - sigma * sample` (Salimans & Ho 2022), SD2-768.
    case vPrediction = "v_prediction"
    /// The clean sample itself.
    case sample

    /// The clean sample predicted from a sample at noise level `sigma` in the variance-exploding
    /// (k-diffusion) parameterisation `x = x0 + sigma * noise`, as diffusers' sigma samplers.
    func denoised(sample x: Float, output m: Float, sigma: Float) -> Float {
        switch self {
        case .epsilon: return x - sigma * m
        case .vPrediction: return m * (-sigma / (sigma * sigma + 1).squareRoot()) + x / (sigma * sigma + 1)
        case .sample: return m
        }
    }
}

/// How the inference timesteps are spread over the training ones (`timestep_spacing`).
public enum TimestepSpacing: String, CaseIterable, Sendable {
    /// `0, r, 2r, ...` reversed, plus `steps_offset` (r = train // steps).
    case leading
    /// `train, train - r, ...` rounded, minus one (r = train / steps).
    case trailing
    /// `steps` values evenly from 0 to train - 1, reversed.
    case linspace

    /// The timesteps, highest first, as the float values diffusers' sigma samplers compute
    /// (unrounded for `linspace`; callers round where their class does).
    public func timesteps(steps: Int, trainSteps: Int, offset: Int) -> [Double] {
        switch self {
        case .leading:
            let ratio = trainSteps / steps
            return (0..<steps).reversed().map { Double($0 * ratio + offset) }
        case .trailing:
            let ratio = Double(trainSteps) / Double(steps)
            let count = Int((Double(trainSteps) / ratio).rounded(.up))
            return (0..<count).map { (Double(trainSteps) - Double($0) * ratio).rounded(.toNearestOrEven) - 1 }
        case .linspace:
            return Self.linspace(0, Double(trainSteps - 1), steps).reversed()
        }
    }

    /// `np.linspace(start, end, count)` in double.
    static func linspace(_ start: Double, _ end: Double, _ count: Int) -> [Double] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (end - start) / Double(count - 1)
        return (0..<count).map { i in i == count - 1 ? end : start + Double(i) * step }
    }
}

/// How the inference sigmas are spaced: the model's own (sigmas at the spaced timesteps) or a
/// re-spacing between the same end points.
public enum SigmaSchedule: String, CaseIterable, Sendable {
    /// The model's sigmas at the spaced timesteps (diffusers' default).
    case model = "default"
    /// Karras et al. (2022), rho 7 (`use_karras_sigmas`).
    case karras
    /// Evenly spaced in log sigma (`use_exponential_sigmas`).
    case exponential
    /// k-diffusion's own: timesteps evenly from the last to 0, sigmas interpolated in log sigma
    /// (A1111's "Uniform", which its "Automatic" is for Euler, Euler a, Heun and LMS). Not a
    /// re-spacing of diffusers' sigmas: the sigma samplers build it (`kDiffusionUniform(steps:)`).
    case uniform

    /// `count` sigmas from `sigmas.first` down to `sigmas.last` in this spacing (double, as
    /// diffusers' numpy code); `.model` returns `sigmas` unchanged.
    func respaced(_ sigmas: [Double], count: Int) -> [Double] {
        guard let high = sigmas.first, let low = sigmas.last else { return sigmas }
        switch self {
        case .model, .uniform:
            return sigmas
        case .karras:
            let rho = 7.0
            let minInv = pow(low, 1 / rho), maxInv = pow(high, 1 / rho)
            return TimestepSpacing.linspace(0, 1, count).map { pow(maxInv + $0 * (minInv - maxInv), rho) }
        case .exponential:
            return TimestepSpacing.linspace(log(high), log(low), count).map { exp($0) }
        }
    }
}

extension TimestepSpacing {
    /// The spacing `config` names (`timestep_spacing`; linspace when absent or unknown).
    init(config: SchedulerConfig) {
        self = TimestepSpacing(rawValue: config.timestepSpacing ?? "linspace") ?? .linspace
    }

    /// The timesteps of diffusers' multistep samplers (DPM-Solver++, UniPC, DEIS), highest first:
    /// `steps + 1` spaced values with the last dropped (linspace rounded to nearest, leading with
    /// ratio train // (steps + 1)); trailing as `timesteps(steps:trainSteps:offset:)`.
    public func multistepTimesteps(steps: Int, trainSteps: Int, offset: Int) -> [Double] {
        switch self {
        case .linspace:
            return Self.linspace(0, Double(trainSteps - 1), steps + 1).reversed().dropLast()
                .map { $0.rounded(.toNearestOrEven) }
        case .leading:
            let ratio = trainSteps / (steps + 1)
            return (0...steps).reversed().dropLast().map { Double($0 * ratio + offset) }
        case .trailing:
            return timesteps(steps: steps, trainSteps: trainSteps, offset: offset)
        }
    }
}

extension SchedulerDefaults {
    /// The defaults of diffusers' Heun and KDPM2 classes: linear betas 0.00085...0.012.
    static var kDiffusion: SchedulerDefaults {
        var defaults = SchedulerDefaults()
        defaults.betaStart = 0.00085
        defaults.betaEnd = 0.012
        return defaults
    }
}

extension PredictionType {
    /// The prediction type `config` names (`prediction_type`; epsilon when absent or unknown).
    init(config: SchedulerConfig) {
        self = PredictionType(rawValue: config.predictionType ?? "epsilon") ?? .epsilon
    }
}

extension NoiseSchedule {
    /// The sigma samplers' (Euler, Heun, LMS, KDPM2) spacing for `config` and their inference
    /// timesteps, rounded to float32 as diffusers stores them.
    func discreteTimesteps(config: SchedulerConfig, steps: Int) -> (spacing: TimestepSpacing, times: [Double]) {
        let spacing = TimestepSpacing(config: config)
        let times = spacing.timesteps(steps: steps, trainSteps: count, offset: config.stepsOffset ?? 0)
            .map { Double(Float($0)) }
        return (spacing, times)
    }

    /// The multistep samplers' (DPM-Solver++, UniPC, DEIS) inference sigmas (variance preserving,
    /// in double, without the final one) and timesteps for `config`: the model's sigmas at the
    /// `multistepTimesteps`, or with Karras or exponential sigmas the re-spaced ones, their
    /// timesteps from `_sigma_to_t` (Karras ones rounded first where `roundsKarras`) truncated.
    /// `lowest` is UniPC's and DEIS's non-zero final sigma: `sigmaMin`, or the last re-spaced sigma.
    func multistepSigmas(config: SchedulerConfig, steps: Int,
                         roundsKarras: Bool) -> (sigmas: [Double], timesteps: [Float], lowest: Float) {
        var times = TimestepSpacing(config: config)
            .multistepTimesteps(steps: steps, trainSteps: count, offset: config.stepsOffset ?? 0)
        let sigmaSchedule = SigmaSchedule(config: config)
        switch sigmaSchedule {
        case .model, .uniform:  // .uniform: not offered for the multistep samplers (SamplerName.supports)
            return (interpolatedSigmas(at: times), times.map { Float($0) }, sigmaMin)
        case .karras, .exponential:
            let respaced = sigmaSchedule.respaced(sigmas.reversed().map(Double.init), count: steps)
            times = respaced.map { timestep(forSigma: $0) }
            if sigmaSchedule == .karras, roundsKarras { times = times.map { $0.rounded(.toNearestOrEven) } }
            return (respaced, times.map { Float($0.rounded(.towardZero)) }, respaced.last.map { Float($0) } ?? sigmaMin)
        }
    }
}
