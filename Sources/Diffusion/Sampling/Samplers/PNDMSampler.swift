import Tensor

/// Pseudo linear multistep (Liu et al. 2022) with the PLMS steps only (`skip_prk_steps`, as
/// Stable Diffusion's configs set): matches diffusers' `PNDMScheduler` (A1111's "PLMS").
/// The second timestep is repeated: its first call is a provisional step, the second averages
/// the two model outputs and redoes the first step from the initial latents.
public struct PNDMSampler: Sampler {
    public let timesteps: [Float]
    public var initNoiseSigma: Float { 1 }
    public var order: Int { 1 }
    let schedule: NoiseSchedule
    let prediction: PredictionType
    /// `num_train_timesteps // steps`.
    let stride: Int
    let finalAlphaCumprod: Float
    /// The last four (non-repeated) model outputs, oldest first.
    var history: [Tensor] = []
    /// Steps taken so far (diffusers' `counter`).
    var counter = 0
    /// The latents at the first timestep, for the repeated second call.
    var firstSample: Tensor?

    /// `PNDMScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        guard config.skipPrkSteps == true else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "skip_prk_steps", value: "\(config.skipPrkSteps ?? false)", note: "only PLMS steps (skip_prk_steps = true) are implemented"))
        }
        schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: false)
        let spacing = TimestepSpacing(rawValue: config.timestepSpacing ?? "leading") ?? .leading
        let ascending = Array(DDIMSampler.integerTimesteps(spacing: spacing, steps: steps, trainSteps: schedule.count,
                                                          offset: config.stepsOffset ?? 0).reversed())
        var plms = Array(ascending.dropLast())
        if ascending.count >= 2 { plms.append(ascending[ascending.count - 2]) }
        plms.append(ascending[ascending.count - 1])
        timesteps = plms.reversed()
        stride = schedule.count / steps
        finalAlphaCumprod = (config.setAlphaToOne ?? false) ? 1 : schedule.alphasCumprod[0]
        prediction = PredictionType(config: config)
        if prediction == .sample {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "prediction_type", value: "sample",
                                                                     note: "PNDMScheduler accepts epsilon and v_prediction"))
        }
    }

    public func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor { sample }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> Tensor {
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
