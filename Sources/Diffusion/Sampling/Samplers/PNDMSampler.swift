import Tensor

/// Pseudo numerical methods for diffusion models (Liu et al. 2022): matches diffusers'
/// `PNDMScheduler`. With `skip_prk_steps` (Stable Diffusion's configs) it takes PLMS steps only
/// (A1111's "PLMS"): the second timestep is repeated, its first call a provisional step, the
/// second averaging the two model outputs and redoing the first step from the initial latents.
/// Without (diffusers' default, and the bundled model's, whose config has no such key) it warms
/// up with Runge-Kutta steps (`step_prk`) over the highest timesteps first: four model calls per
/// RK step (at t, twice at t - r/2, at t - r), 12 calls for the first three steps, then PLMS
/// from the fourth; so `timesteps` has `steps + 9` entries. Below 4 steps diffusers'
/// `set_timesteps` raises ValueError and `makeSampler` refuses them.
public struct PNDMSampler: Sampler {
    public let timesteps: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let schedule: NoiseSchedule
    let prediction: PredictionType
    /// `num_train_timesteps // steps`.
    let stride: Int
    /// `num_train_timesteps // steps // 2`, the Runge-Kutta half step.
    let halfStride: Int
    let finalAlphaCumprod: Float
    /// How many leading entries of `timesteps` are Runge-Kutta calls (`len(prk_timesteps)`).
    let prkCount: Int
    /// `skip_prk_steps`: PLMS only, no Runge-Kutta warm-up.
    let skipsRungeKutta: Bool
    /// The inference steps asked for.
    let steps: Int
    /// The last four (non-repeated) model outputs, oldest first (diffusers' `ets`).
    var history: [Tensor] = []
    /// Steps taken so far (diffusers' `counter`).
    var counter = 0
    /// The latents at the first timestep, for the repeated second call; during the Runge-Kutta
    /// steps the latents each RK step starts from (diffusers' `cur_sample`).
    var firstSample: Tensor?
    /// The weighted sum of the current RK step's model outputs (diffusers' `cur_model_output`).
    var rkSum: Tensor?

    /// `PNDMScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: false)
        let spacing = TimestepSpacing(rawValue: config.timestepSpacing ?? "leading") ?? .leading
        // diffusers' `_timesteps`, ascending.
        let ascending = Array(DDIMSampler.integerTimesteps(spacing: spacing, steps: steps, trainSteps: schedule.count,
                                                          offset: config.stepsOffset ?? 0).reversed())
        skipsRungeKutta = config.skipPrkSteps ?? false
        self.steps = steps
        if skipsRungeKutta {
            var plms = Array(ascending.dropLast())
            if ascending.count >= 2 { plms.append(ascending[ascending.count - 2]) }
            if let last = ascending.last { plms.append(last) }
            timesteps = plms.reversed()
            prkCount = 0
        } else {
            // `prk_timesteps`: the last four timesteps, each followed by itself + r/2, the last
            // pair's upper end dropped, every entry doubled, the ends trimmed, highest first.
            let half = Float(schedule.count / steps / 2)
            let pairs = ascending.suffix(4).flatMap { [$0, $0 + half] }.dropLast()
            let prk = Array(pairs.flatMap { [$0, $0] }.dropFirst().dropLast().reversed())
            timesteps = prk + ascending.dropLast(3).reversed()
            prkCount = prk.count
        }
        stride = schedule.count / steps
        halfStride = stride / 2
        finalAlphaCumprod = (config.setAlphaToOne ?? false) ? 1 : schedule.alphasCumprod[0]
        prediction = PredictionType(config: config)
        if prediction == .sample {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "prediction_type", value: "sample",
                                                                     note: "PNDMScheduler accepts epsilon and v_prediction"))
        }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        // The model saw `sample` at `timesteps[stepIndex]`: its clean sample there (PNDM itself
        // works on the noise and never forms it).
        let alpha = schedule.alphasCumprod[min(max(Int(timesteps[stepIndex]), 0), schedule.count - 1)]
        let denoised = prediction.cleanSample(sample: sample, modelOutput: modelOutput, alpha: alpha.squareRoot(),
                                              sigma: (1 - alpha).squareRoot())
        let next = counter < prkCount
            ? rungeKuttaStep(modelOutput: modelOutput, stepIndex: stepIndex, sample: sample)
            : linearMultistep(modelOutput: modelOutput, stepIndex: stepIndex, sample: sample)
        return SamplerStep(sample: next, denoised: denoised)
    }

    /// diffusers' `step_plms`: the linear multistep update from the last four model outputs.
    mutating func linearMultistep(modelOutput: Tensor, stepIndex: Int, sample: Tensor) -> Tensor {
        var t = Int(timesteps[stepIndex])
        var previous = t - stride
        var sample = sample
        if counter != 1 {
            history = Array(history.suffix(3)) + [modelOutput]
        } else {
            previous = t
            t += stride
        }
        let combined: Tensor
        let e = history
        switch (e.count, counter) {
        case (1, 0):
            combined = modelOutput
            firstSample = sample
        case (1, _):
            combined = zipMap(modelOutput, e[0]) { ($0 + $1) / 2 }
            sample = firstSample ?? sample
            firstSample = nil
        case (2, _):
            combined = zipMap(e[1], e[0]) { (3 * $0 - $1) / 2 }
        case (3, _):
            combined = zipMap(e[2], e[1], e[0]) { (23 * $0 - 16 * $1 + 5 * $2) / 12 }
        default:
            let (e1, e2, e3, e4) = (e[3], e[2], e[1], e[0])
            var values = [Float](repeating: 0, count: e1.count)
            for i in 0..<values.count {
                let s1 = 55 * e1.storage[i] - 59 * e2.storage[i]
                let s2 = s1 + 37 * e3.storage[i] - 9 * e4.storage[i]
                values[i] = Float(1.0 / 24.0) * s2
            }
            combined = Tensor(shape: e1.shape, values: values)
        }
        counter += 1
        return previousSample(sample, t, previous, combined)
    }

    /// diffusers' `step_prk`: the `counter % 4`-th call of a Runge-Kutta step. Each call moves
    /// the RK step's starting latents (not `sample`) from the step's first timestep to
    /// `timesteps[stepIndex]` less r/2 on even calls; the fourth uses the weighted outputs
    /// 1/6, 1/3, 1/3, 1/6. As diffusers, the step's first timestep comes from the counter, so an
    /// img2img run that starts late still begins with a warm-up from the highest timestep.
    mutating func rungeKuttaStep(modelOutput: Tensor, stepIndex: Int, sample: Tensor) -> Tensor {
        let difference = counter % 2 == 1 ? 0 : halfStride
        let previous = Int(timesteps[stepIndex]) - difference
        let t = Int(timesteps[counter / 4 * 4])
        var output = modelOutput
        switch counter % 4 {
        case 0:
            rkSum = mapElements(modelOutput) { Float(1.0 / 6.0) * $0 }
            history.append(modelOutput)
            firstSample = sample
        case 1, 2:
            rkSum = rkSum.map { zipMap($0, modelOutput) { s, m in s + Float(1.0 / 3.0) * m } } ?? modelOutput
        default:
            output = rkSum.map { zipMap($0, modelOutput) { s, m in s + Float(1.0 / 6.0) * m } } ?? modelOutput
            rkSum = nil
        }
        counter += 1
        return previousSample(firstSample ?? sample, t, previous, output)
    }

    /// Formula (9) of the PNDM paper: the sample at `previous` from the one at `t`.
    func previousSample(_ sample: Tensor, _ t: Int, _ previous: Int, _ output: Tensor) -> Tensor {
        let alpha = schedule.alphasCumprod[t]
        let alphaPrevious = previous >= 0 ? schedule.alphasCumprod[previous] : finalAlphaCumprod
        let beta = 1 - alpha, betaPrevious = 1 - alphaPrevious
        let (rootAlpha, rootBeta) = (alpha.squareRoot(), beta.squareRoot())
        let sampleScale = (alphaPrevious / alpha).squareRoot()
        let denominator = alpha * betaPrevious.squareRoot() + (alpha * beta * alphaPrevious).squareRoot()
        let difference = alphaPrevious - alpha
        let isV = prediction == .vPrediction
        return zipMap(sample, output) { x, m in
            let eps = isV ? rootAlpha * m + rootBeta * x : m
            return sampleScale * x - difference * eps / denominator
        }
    }

    public func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor {
        schedule.noised(original, noise: noise, timestep: Int(timesteps[stepIndex]))
    }
}
