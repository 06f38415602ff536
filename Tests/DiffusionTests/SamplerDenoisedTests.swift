import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Every sampler's step returns, with the next latents, the clean sample (x0) its model call
/// implies, and that x0 is the one the textbook formula gives from the model input and the call's
/// noise level, whatever space the sampler works in: variance-preserving `(x - sqrt(1 - a) eps) /
/// sqrt(a)` (v: `sqrt(a) x - sqrt(1 - a) v`) with a = alphas_cumprod at the call's timestep or
/// 1 / (1 + sigma^2) at its k-diffusion sigma, LCM's boundary condition on top, and `x - sigma v`
/// for flow matching (sigma = t / 1000).
@Suite struct SamplerDenoisedTests {
    /// The worst difference of `denoised` from `expected`, relative to the size of the terms the
    /// formula combines (`scale`).
    static func worst(_ denoised: Tensor, _ expected: [Float], scale: Float) -> Float {
        zip(denoised.storage, expected).map { abs($0 - $1) }.max().map { $0 / max(scale, 1) } ?? .infinity
    }

    /// The signal and noise scales (sqrt(a), sqrt(1 - a)) of model call `i`, from the sampler's
    /// own noise table: k-diffusion sigma s gives a = 1 / (1 + s^2); the alphas-cumprod samplers
    /// (DDIM, DDPM, PNDM, LCM) read `alphas_cumprod` at the call's timestep.
    static func scales(_ sampler: any Sampler, call i: Int) -> (alpha: Float, sigma: Float) {
        func fromSigma(_ s: Float) -> (Float, Float) {
            let a = 1 / (1 + Double(s) * Double(s))
            return (Float(a.squareRoot()), Float((1 - a).squareRoot()))
        }
        func fromAlphaBar(_ schedule: NoiseSchedule) -> (Float, Float) {
            let a = schedule.alphasCumprod[Int(sampler.timesteps[i])]
            return (a.squareRoot(), (1 - a).squareRoot())
        }
        switch sampler {
        case let s as EulerSampler: return fromSigma(s.sigmas[i])
        case let s as EulerAncestralSampler: return fromSigma(s.sigmas[i])
        case let s as HeunSampler: return fromSigma(s.sigmas[i])
        case let s as LMSSampler: return fromSigma(s.sigmas[i])
        case let s as KDPM2Sampler: return fromSigma(i % 2 == 0 ? s.sigmas[i / 2] : s.sigmasMidpoint[i / 2 + 1])
        case let s as KDPM2AncestralSampler: return fromSigma(i % 2 == 0 ? s.sigmas[i / 2] : s.sigmasMidpoint[i / 2])
        case let s as DPMSolverMultistepSampler: return fromSigma(s.sigmas[i])
        case let s as UniPCSampler: return fromSigma(s.sigmas[i])
        case let s as DEISSampler: return fromSigma(s.sigmas[i])
        case let s as DDIMSampler: return fromAlphaBar(s.schedule)
        case let s as DDPMSampler: return fromAlphaBar(s.schedule)
        case let s as PNDMSampler: return fromAlphaBar(s.schedule)
        case let s as LCMSampler: return fromAlphaBar(s.schedule)
        default:
            Issue.record("no noise table for \(type(of: sampler))")
            return (1, 0)
        }
    }

    /// x0 from the model input (variance-preserving: a x0 + b noise, which the sigma samplers'
    /// scaled input is too) and output, with the size of the terms combined.
    static func cleanSample(input: Tensor, output: Tensor, alpha a: Float, sigma b: Float,
                            prediction: PredictionType) -> (x0: [Float], scale: Float) {
        let x0 = zip(input.storage, output.storage).map { x, m -> Float in
            switch prediction {
            case .epsilon: (x - b * m) / a
            case .vPrediction: a * x - b * m
            case .sample: m
            }
        }
        let (largestInput, largestOutput) = (input.storage.map(abs).max() ?? 0, output.storage.map(abs).max() ?? 0)
        return (x0, prediction == .epsilon ? (largestInput + b * largestOutput) / a : largestInput + largestOutput)
    }

    @Test func everyDiffusionSamplerReturnsTheCleanSampleOfItsModelCall() throws {
        var checked = 0
        for (configName, config) in try SamplerSweepTests.configs() {
            let prediction = PredictionType(config: config)
            for name in SamplerName.allCases where name != .default && name != .flowEuler {
                for sigmas in [SigmaSchedule.model, .karras] where name.supports(sigmas) {
                    guard var sampler = try? makeSampler(name: name, schedule: sigmas, config: config, steps: 6) else {
                        continue
                    }
                    #expect(!sampler.flowMatching)
                    var random = TorchRandomSource(seed: 3)
                    var latents = scaled(random.normal(shape: [1, 4, 2, 3]), by: sampler.initNoiseSigma)
                    for i in sampler.timesteps.indices {
                        let t = sampler.timesteps[i]
                        let input = sampler.scaleModelInput(latents, stepIndex: i)
                        let output = SamplerSweepTests.model(input, t)
                        let step = sampler.step(modelOutput: output, stepIndex: i, sample: latents, random: &random)
                        let (alpha, sigma) = Self.scales(sampler, call: i)
                        do {
                            var (x0, scale) = Self.cleanSample(input: input, output: output, alpha: alpha, sigma: sigma,
                                                               prediction: prediction)
                            if name == .lcm {
                                // LCM's consistency boundary condition: c_skip x + c_out x0, t scaled by 10.
                                let s = t * Float(config.timestepScaling ?? 10)
                                let (skip, out) = (0.25 / (s * s + 0.25), s / (s * s + 0.25).squareRoot())
                                x0 = zip(x0, latents.storage).map { out * $0 + skip * $1 }
                                scale += latents.storage.map(abs).max() ?? 0
                            }
                            let error = Self.worst(step.denoised, x0, scale: scale)
                            #expect(error < 2e-5, "\(configName) \(name.rawValue) \(sigmas.rawValue) step \(i): x0 off by \(error)")
                            checked += 1
                        }
                        latents = step.sample
                    }
                }
            }
        }
        #expect(checked > 500)
    }

    @Test(arguments: [SigmaSchedule.model, .karras, .exponential])
    func flowEulerReturnsTheCleanSampleOfItsVelocity(_ schedule: SigmaSchedule) throws {
        var config = SchedulerConfig()
        config.className = "FlowMatchEulerDiscreteScheduler"
        config.shift = 3
        var sampler = try makeSampler(name: .flowEuler, schedule: schedule, config: config, steps: 5)
        #expect(sampler.flowMatching)
        var random = TorchRandomSource(seed: 4)
        var latents = random.normal(shape: [1, 4, 2, 3])
        for i in sampler.timesteps.indices {
            let t = sampler.timesteps[i]
            let velocity = SamplerSweepTests.model(latents, t)
            let step = sampler.step(modelOutput: velocity, stepIndex: i, sample: latents, random: &random)
            // x = (1 - sigma) x0 + sigma noise, v = noise - x0: x0 = x - sigma v.
            let sigma = t / 1000
            let x0 = zip(latents.storage, velocity.storage).map { $0 - sigma * $1 }
            #expect(Self.worst(step.denoised, x0, scale: 1) < 1e-5, "step \(i)")
            latents = step.sample
        }
    }
}
