import Foundation
import Tensor

/// The variational bound of a diffusion model on given latents: DDPM's negative ELBO (Ho et al.
/// 2020, eq. 5), `L = L_T + sum_{t=2..T} L_{t-1} + L_0`, per image, in nats, over the latent's
/// dimensions, so `L / (D ln 2)` is bits per dimension. It is what Nichol & Dhariwal (2021)
/// compared the cosine schedule on (`stipple eval`, docs/EXPERIMENTS.md).
///
/// In the index convention of diffusers' schedules (timestep i = 0 ..< T, DDPM's t = i + 1):
/// - prior `L_T = KL(q(z_T | z_0) || N(0, I))`, exact: `1/2 sum(abar z0^2 + (1 - abar) - 1 - ln(1 - abar))`
///   at i = T - 1;
/// - each i >= 1: `z_i = sqrt(abar_i) z0 + sqrt(1 - abar_i) eps`, the model's clean-sample estimate
///   `x0hat` from its output (epsilon, v or x0), and the KL between the true posterior
///   `q(z_{i-1} | z_i, z0)` and the model's `p(z_{i-1} | z_i)`: the same Gaussian with `x0hat` for
///   `z0` and the posterior variance (DDPM's "fixed small" sigma^2 = beta-tilde), so the KL is
///   `sum((z0 - x0hat)^2) * abar_{i-1} beta_i / (2 (1 - abar_i)(1 - abar_{i-1}))`;
/// - decoder `L_0 = -ln N(z0; x0hat(z_0'), beta_0)` at i = 0 (beta-tilde is 0 there, so DDPM's
///   sigma_1^2 = beta_1): a continuous Gaussian density, because latents are continuous.
///
/// So the bound is on the continuous density of the VAE's scaled latents (it can be negative): it
/// compares models that share one VAE, not with pixel-space figures. `eps` for image j at timestep
/// i is `torch.randn(shape, generator=manual_seed(seed + j * T + i))`, which the PyTorch reference
/// (tools/variational_bound.py) draws the same way. `timesteps` evaluates a strided subset of
/// i = 1 ..< T and scales their sum by (T - 1) / count (an unbiased estimate over a uniform
/// stratified choice); i = 0 and the prior are always exact.
public struct VariationalBound: Sendable {
    /// One image's bound, in nats summed over its latent dimensions.
    public struct Terms: Sendable, Equatable, Codable {
        public var prior: Double
        public var diffusion: Double
        public var decoder: Double
        public var total: Double { prior + diffusion + decoder }
        /// The total in bits per latent dimension.
        public func bitsPerDimension(_ dimensions: Int) -> Double { total / (Double(max(dimensions, 1)) * log(2)) }
    }

    public let model: StableDiffusionModel
    public let schedule: NoiseSchedule
    /// What the model's output is (epsilon, v or x0), as its samplers read it.
    let prediction: PredictionType

    /// Refuses what has no such bound: flow-matching models (their likelihood needs the ODE's
    /// divergence) and LCM-distilled UNets (consistency functions, not noise predictors).
    public init(model: StableDiffusionModel) throws(GenerationError) {
        guard !model.parameterisation.isFlow else {
            throw .invalid("\(model.name) is a flow-matching model: the variational bound (bits/dim) is for diffusion models "
                           + "(a flow's likelihood needs its ODE's divergence, not computed here)")
        }
        guard !model.denoiser.embedsGuidance else {
            throw .invalid("\(model.name) is LCM-distilled: a consistency model has no variational bound; evaluate its teacher")
        }
        do {
            schedule = try NoiseSchedule(config: model.scheduler, defaults: SchedulerDefaults(), allowsZeroSNR: true)
        } catch {
            throw .invalid("\(model.name): \(error.description)")
        }
        prediction = PredictionType(config: model.scheduler)
        self.model = model
    }

    /// The training timesteps i >= 1 evaluated for `count` of them: all when `count` is nil or at
    /// least T - 1, else `count` evenly spread (rounded down) from 1 to T - 1.
    public func timesteps(count: Int?) -> [Int] {
        let last = schedule.count - 1
        guard let count, count < last else { return Array(1...max(last, 1)) }
        let n = max(count, 1)
        if n == 1 { return [1] }
        return (0..<n).map { 1 + Int((Double($0) * Double(last - 1) / Double(n - 1)).rounded(.down)) }
    }

    /// The bound of each of `latents` [N, C, h, w] (at the denoiser's scale) conditioned on its
    /// prompt (`prompts.count == N`; "" for the unconditional model). `progress(done, total)`
    /// follows the denoiser calls; `check` runs between them (cancellation).
    public func evaluate(latents: Tensor, prompts: [String], seed: UInt64, timestepCount: Int? = nil, batchSize: Int = 16,
                         check: () throws -> Void = {}, progress: (Int, Int) -> Void = { _, _ in }) throws -> [Terms] {
        guard latents.rank == 4, latents.shape[0] == prompts.count, latents.shape[1] == model.latentChannels else {
            throw GenerationError.invalid("the latents are \(latents.shape), not \(prompts.count) of \(model.latentChannels) channels")
        }
        let (count, channels, height, width) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        let plane = channels * height * width
        let total = schedule.count
        let steps = timesteps(count: timestepCount)
        let scale = Double(total - 1) / Double(steps.count)
        let batch = max(1, batchSize)
        let abar = schedule.alphasCumprod.map(Double.init)
        let betas = schedule.betas.map(Double.init)
        var terms = [Terms](repeating: Terms(prior: 0, diffusion: 0, decoder: 0), count: count)

        // The prior, exact.
        let last = abar[total - 1]
        for j in 0..<count {
            var sum = 0.0
            for k in 0..<plane {
                let z = Double(latents.storage[j * plane + k])
                sum += last * z * z + (1 - last) - 1 - log(1 - last)
            }
            terms[j].prior = 0.5 * sum
        }

        let calls = ((count + batch - 1) / batch) * (steps.count + 1)
        var done = 0
        for start in stride(from: 0, to: count, by: batch) {
            let range = start..<min(count, start + batch)
            let z0 = sliceBatch(latents, range)
            let conditioning = try condition(Array(prompts[range]), width: width * model.vaeScaleFactor,
                                             height: height * model.vaeScaleFactor)
            for i in [0] + steps {
                try check()
                // Each image's noise from its own generator: the same whatever the batching.
                var noise = [Float](repeating: 0, count: range.count * plane)
                for (n, j) in range.enumerated() {
                    var random = TorchRandomSource(seed: seed &+ UInt64(j) &* UInt64(total) &+ UInt64(i))
                    let draw = random.normal(shape: [1, channels, height, width])
                    noise.replaceSubrange(n * plane..<(n + 1) * plane, with: draw.storage)
                }
                let (a, s) = (Float(abar[i].squareRoot()), Float((1 - abar[i]).squareRoot()))
                let noisy = zipMap(z0, Tensor(shape: z0.shape, values: noise)) { x, e in a * x + s * e }
                let output = try model.denoiser(noisy, timesteps: [Float](repeating: Float(i), count: range.count),
                                                conditioning: conditioning, check: check)
                guard output.isFinite else {
                    throw GenerationError.failed("the model's output at timestep \(i) is not finite (NaN or infinity)")
                }
                let clean = prediction.cleanSample(sample: noisy, modelOutput: output, alpha: a, sigma: s)
                // Per image: sum of (z0 - x0hat)^2, then the term's weight.
                let weight: Double, constant: Double
                if i == 0 {
                    weight = 1 / (2 * betas[0])
                    constant = 0.5 * log(2 * Double.pi * betas[0])
                } else {
                    weight = abar[i - 1] * betas[i] / (2 * (1 - abar[i]) * (1 - abar[i - 1]))
                    constant = 0
                }
                for (n, j) in range.enumerated() {
                    var squared = 0.0
                    for k in 0..<plane {
                        let d = Double(z0.storage[n * plane + k]) - Double(clean.storage[n * plane + k])
                        squared += d * d
                    }
                    if i == 0 {
                        terms[j].decoder = weight * squared + constant * Double(plane)
                    } else {
                        terms[j].diffusion += scale * weight * squared
                    }
                }
                done += 1
                progress(done, calls)
            }
        }
        return terms
    }

    /// Each prompt's conditioning (no negative prompt: the plain conditional model), joined into one batch.
    private func condition(_ prompts: [String], width: Int, height: Int) throws -> Conditioning {
        var joined: Conditioning?
        for prompt in prompts {
            let encoded = try model.conditioner.encode(ConditioningRequest(prompt: prompt, negativePrompt: nil,
                                                                           width: width, height: height)).positive
            joined = joined.map { $0.batched(with: encoded) } ?? encoded
        }
        guard let joined else { throw GenerationError.invalid("no images to evaluate") }
        return joined
    }
}
