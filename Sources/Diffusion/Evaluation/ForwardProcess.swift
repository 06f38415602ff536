import Foundation
import Tensor

/// How much of the signal a noise schedule keeps at each training timestep: `alpha-bar` of a
/// diffusion schedule, `x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`, and its signal-to-noise
/// ratio `abar / (1 - abar)`. A flow's `x_t = (1 - sigma) x0 + sigma noise` is put on the same
/// footing by its SNR `((1 - sigma) / sigma)^2` (abar = SNR / (1 + SNR)). The studio's forward
/// view draws these side by side.
public struct ScheduleCurve: Sendable, Equatable {
    /// For people: "cosine", "linear", "scaled linear", "flow (shift 3)".
    public let name: String
    /// abar at each training timestep index 0 ..< T.
    public let signal: [Double]
    /// For a flow: the noise fraction sigma at each index (nil for a diffusion schedule).
    public let sigmas: [Double]?

    public init(name: String, signal: [Double], sigmas: [Double]? = nil) {
        (self.name, self.signal, self.sigmas) = (name, signal, sigmas)
    }

    /// The number of training timesteps.
    public var count: Int { signal.count }

    /// abar / (1 - abar) at index `t` (infinite where abar is 1).
    public func snr(_ t: Int) -> Double {
        guard signal.indices.contains(t) else { return .nan }
        return signal[t] / (1 - signal[t])
    }

    /// The schedule a diffusers scheduler config describes (a `FlowMatch*` class: the flow's).
    public init(config: SchedulerConfig) throws(CheckpointError) {
        if config.className?.hasPrefix("FlowMatch") == true {
            let train = config.numTrainTimesteps ?? 1000
            guard train >= 2, train <= SchedulerConfig.maximumTrainTimesteps else {
                throw CheckpointError(path: "", reason: .invalidConfig("num_train_timesteps = \(train) must be between 2 and "
                                                                      + "\(SchedulerConfig.maximumTrainTimesteps)"))
            }
            let shift = config.shift ?? 1
            guard shift > 0, shift.isFinite else { throw CheckpointError(path: "", reason: .invalidConfig("shift = \(shift) must be positive")) }
            // FlowMatchEulerDiscreteScheduler's training sigmas: t / T for t = 1 ... T, shifted.
            let sigmas = (1...train).map { t -> Double in
                let sigma = Double(t) / Double(train)
                return shift * sigma / (1 + (shift - 1) * sigma)
            }
            let signal = sigmas.map { s -> Double in
                let snr = (1 - s) * (1 - s) / max(s * s, 1e-300)
                return snr / (1 + snr)
            }
            self.init(name: shift == 1 ? "flow" : "flow (shift \(shift == shift.rounded() ? String(Int(shift)) : String(shift)))",
                      signal: signal, sigmas: sigmas)
            return
        }
        let schedule = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true)
        let name: String
        switch config.betaSchedule ?? "linear" {
        case "squaredcos_cap_v2": name = "cosine"
        case "scaled_linear": name = "scaled linear"
        case "linear": name = "linear"
        case let other: name = other
        }
        self.init(name: (config.rescaleBetasZeroSnr ?? false) ? name + " (zero SNR)" : name,
                  signal: schedule.alphasCumprod.map(Double.init))
    }

    /// DDPM's linear betas, 1e-4 to 0.02 over 1000 steps (Ho et al. 2020).
    public static let linear = named("linear", start: 0.0001, end: 0.02)
    /// The cosine schedule, `squaredcos_cap_v2` (Nichol & Dhariwal 2021).
    public static let cosine = named("squaredcos_cap_v2")

    private static func named(_ schedule: String, start: Double? = nil, end: Double? = nil) -> ScheduleCurve {
        var config = SchedulerConfig()
        (config.betaSchedule, config.betaStart, config.betaEnd) = (schedule, start, end)
        // Constant, valid configs: the fallback is never taken.
        return (try? ScheduleCurve(config: config)) ?? ScheduleCurve(name: schedule, signal: [])
    }
}

/// q(x_t | x_0), the forward process of a model: an image's latent (the VAE's posterior mean)
/// noised to any training timestep under the model's own schedule, with one fixed draw of noise,
/// so scrubbing t shows the same noise growing over the same image. Decoding a noisy latent shows
/// what the model is given at that timestep.
public struct ForwardProcess: Sendable {
    public let model: StableDiffusionModel
    /// x0: the image's latent at the denoiser's scale.
    public let latent: Tensor
    /// The noise: `torch.randn(latent.shape, generator=manual_seed(seed))`.
    public let noise: Tensor
    /// The model's schedule.
    public let curve: ScheduleCurve

    /// Encodes `image` (its size a multiple of the model's pixels per latent cell); throws one
    /// line when the model's schedule or VAE cannot.
    public init(model: StableDiffusionModel, image: PixelImage, seed: UInt64,
                check: () throws -> Void = {}) throws {
        guard image.width % model.vaeScaleFactor == 0, image.height % model.vaeScaleFactor == 0, image.width > 0, image.height > 0 else {
            throw GenerationError.invalid("the image is \(image.width)x\(image.height): not a multiple of \(model.vaeScaleFactor) pixels")
        }
        do {
            curve = try ScheduleCurve(config: model.scheduler)
        } catch {
            throw GenerationError.invalid("\(model.name): \(error.description)")
        }
        var zeros = ZeroRandomSource()
        latent = try model.decoder.encode(image: image.normalized, random: &zeros, check: check)
        guard latent.isFinite else { throw GenerationError.failed("the VAE's latent of the image is not finite") }
        var random = TorchRandomSource(seed: seed)
        noise = random.normal(shape: latent.shape)
        self.model = model
    }

    /// The number of training timesteps.
    public var count: Int { curve.count }

    /// x_t at training timestep index `t` (clamped to 0 ..< T): `sqrt(abar) x0 + sqrt(1 - abar)
    /// noise`, or a flow's `(1 - sigma) x0 + sigma noise`.
    public func noisyLatent(at t: Int) -> Tensor {
        let index = min(max(t, 0), count - 1)
        let (a, s): (Float, Float)
        if let sigmas = curve.sigmas {
            (a, s) = (Float(1 - sigmas[index]), Float(sigmas[index]))
        } else {
            (a, s) = (Float(curve.signal[index].squareRoot()), Float((1 - curve.signal[index]).squareRoot()))
        }
        return zipMap(latent, noise) { x, n in a * x + s * n }
    }

    /// x_t decoded by the model's VAE.
    public func image(at t: Int, check: () throws -> Void = {}) throws -> PixelImage {
        let decoded = try model.decoder.decode(latents: noisyLatent(at: t), check: check)
        return PixelImage(decoded: decoded)
    }
}

/// A "random" stream of zeros: a VAE's `encode` then gives its posterior mean (evaluation and the
/// forward view, where the image's own latent is wanted, not a draw around it).
public struct ZeroRandomSource: RandomSource {
    public init() {}
    public mutating func normal(shape: [Int]) -> Tensor { Tensor(zeros: shape) }
}
