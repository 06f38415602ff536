import Tensor

/// Linear multistep in sigma, order 4 (k-diffusion's `sample_lms`): each step integrates the
/// Lagrange interpolant of the last derivatives over the sigma interval: matches diffusers'
/// `LMSDiscreteScheduler` (A1111's "LMS"). diffusers integrates with scipy's `quad`; the
/// integrand is a polynomial of degree at most 3, which 4-point Gauss-Legendre integrates exactly.
public struct LMSSampler: SigmaSpaceSampler {
    public let timesteps: [Float]
    /// The noise level at each timestep, then 0.
    public let sigmas: [Float]
    public let initNoiseSigma: Float
    public var order: Int { 1 }
    let prediction: PredictionType
    /// The multistep order (diffusers' `step(order=4)`).
    let lmsOrder = 4
    /// The last derivatives, oldest first.
    var derivatives: [Tensor] = []

    /// `LMSDiscreteScheduler.from_config(config)` after `set_timesteps(steps)`.
    public init(config: SchedulerConfig, steps: Int) throws(CheckpointError) {
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: false)
        let spacing: TimestepSpacing
        (spacing, sigmas, timesteps) = schedule.sigmaSamplerSchedule(config: config, steps: steps, finalSigma: 0)
        initNoiseSigma = EulerSampler.initNoiseSigma(sigmas: sigmas, spacing: spacing)
        prediction = PredictionType(config: config)
    }

    /// The integral over [sigmas[t], sigmas[t + 1]] of the Lagrange basis polynomial that is 1 at
    /// `sigmas[t - current]` and 0 at the other `sigmas[t - k]`, k < order.
    func coefficient(order: Int, t: Int, current: Int) -> Double {
        func basis(_ tau: Double) -> Double {
            var product = 1.0
            for k in 0..<order where k != current {
                product *= (tau - Double(sigmas[t - k])) / (Double(sigmas[t - current]) - Double(sigmas[t - k]))
            }
            return product
        }
        let (a, b) = (Double(sigmas[t]), Double(sigmas[t + 1]))
        let nodes = [(-0.8611363115940526, 0.3478548451374538), (-0.3399810435848563, 0.6521451548625461),
                     (0.3399810435848563, 0.6521451548625461), (0.8611363115940526, 0.3478548451374538)]
        let (mid, half) = ((a + b) / 2, (b - a) / 2)
        return nodes.reduce(0) { $0 + $1.1 * basis(mid + half * $1.0) } * half
    }

    public mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                                    random: inout Random) -> SamplerStep {
        let sigma = sigmas[stepIndex]
        let prediction = prediction
        let current = stepMap(sample, modelOutput) { x, m in
            let x0 = prediction.denoised(sample: x, output: m, sigma: sigma)
            return ((x - x0) / sigma, x0)
        }
        derivatives.append(current.sample)
        if derivatives.count > lmsOrder { derivatives.removeFirst() }
        // As diffusers: the order follows the step index, not the derivatives kept, so an img2img
        // run that starts late uses the first coefficients of a higher-order rule (the sum below
        // stops at the derivatives there are).
        let order = min(stepIndex + 1, lmsOrder)
        let coefficients = (0..<min(order, derivatives.count)).map {
            Float(coefficient(order: order, t: stepIndex, current: $0))
        }
        let latest = Array(derivatives.reversed())
        var values = [Float](repeating: 0, count: sample.count)
        for i in 0..<values.count {
            var sum: Float = 0
            for (c, d) in zip(coefficients, latest) { sum += c * d.storage[i] }
            values[i] = sample.storage[i] + sum
        }
        return SamplerStep(sample: Tensor(shape: sample.shape, values: values), denoised: current.denoised)
    }
}
