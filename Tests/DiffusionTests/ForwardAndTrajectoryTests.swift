import Foundation
import Tensor
import Testing
@testable import Diffusion

/// The forward process q(x_t | x_0) the studio's forward view scrubs, the schedules it draws, and
/// the trajectory each sampling step reports.
@Suite struct ForwardAndTrajectoryTests {
    /// alpha-bar of diffusers' own schedules (DDPMScheduler(beta_schedule="linear", 1e-4, 0.02) and
    /// (beta_schedule="squaredcos_cap_v2")) at indices 0, 499 and 999, printed by diffusers 0.42.1.
    @Test func schedulesAreDiffusers() {
        for (curve, expected) in [(ScheduleCurve.linear, [0.9998999834060669, 0.07858723402023315, 4.035830352222547e-05]),
                                  (ScheduleCurve.cosine, [0.9999586939811707, 0.4938434660434723, 2.4287349909002387e-09])] {
            #expect(curve.count == 1000)
            for (index, value) in zip([0, 499, 999], expected) {
                #expect(abs(curve.signal[index] - value) <= 1e-6 * max(value, 1e-3), "\(curve.name)[\(index)]: \(curve.signal[index])")
            }
            // More noise at every later timestep: the SNR falls all the way.
            #expect(zip(curve.signal, curve.signal.dropFirst()).allSatisfy { $0 > $1 })
        }
        #expect(ScheduleCurve.linear.name == "linear" && ScheduleCurve.cosine.name == "cosine")
        // Half the signal: the cosine schedule keeps it to about the middle, the linear loses it early.
        #expect(ScheduleCurve.cosine.snr(499) > 0.9 && ScheduleCurve.linear.snr(499) < 0.1)
    }

    /// A flow's curve: FlowMatchEulerDiscreteScheduler's training sigmas t / T (diffusers: 0.001 ...
    /// 1.0 at shift 1), SNR ((1 - sigma) / sigma)^2.
    @Test func aFlowIsOnTheSameFooting() throws {
        var config = SchedulerConfig()
        config.className = "FlowMatchEulerDiscreteScheduler"
        let flow = try ScheduleCurve(config: config)
        #expect(flow.name == "flow" && flow.count == 1000)
        let sigmas = try #require(flow.sigmas)
        #expect(abs(sigmas[0] - 0.001) < 1e-12 && sigmas[999] == 1)
        #expect(abs(flow.snr(499) - 1) < 1e-9, "sigma 0.5: as much signal as noise")
        config.shift = 3
        #expect(try ScheduleCurve(config: config).name == "flow (shift 3)")
    }

    @Test func forwardProcessNoisesTheImagesOwnLatent() throws {
        let model = try StableDiffusionModel(folder: SamplerSweepTests.bundledFolder.path)
        var request = GenerationRequest(prompt: "a red circle in the top left on a blue background")
        request.seed = 3
        let made = try #require(try Pipeline(model: model).run(request).first)
        let forward = try ForwardProcess(model: model, image: made.image, seed: 11)
        #expect(forward.curve.name == "cosine" && forward.count == 1000)
        // t = 0 is the image itself (its VAE round trip); the last timestep is the noise.
        let clean = try forward.image(at: 0)
        #expect(Self.psnr(clean, made.image) > 25)
        #expect(TrajectoryStep.rms(forward.noisyLatent(at: 999), forward.noise) < 1e-3)
        // In between, variance preserving: the latent keeps its spread.
        let middle = forward.noisyLatent(at: 499)
        let expected = zipMap(forward.latent, forward.noise) { x, n in
            Float(0.4938434660434723.squareRoot()) * x + Float((1 - 0.4938434660434723).squareRoot()) * n
        }
        #expect(TrajectoryStep.rms(middle, expected) < 1e-5)
        // Out of range is clamped, never a trap.
        #expect(forward.noisyLatent(at: -5).storage == forward.noisyLatent(at: 0).storage)
        #expect(forward.noisyLatent(at: 10_000).storage == forward.noisyLatent(at: 999).storage)
        // The same seed, the same noise.
        #expect(try ForwardProcess(model: model, image: made.image, seed: 11).noise.storage == forward.noise.storage)
    }

    /// Every step reports how far it moved the sample; the distance from the start never exceeds
    /// the length walked (the triangle inequality), so straightness is at most 1.
    @Test(arguments: [SamplerName.ddim, .eulerA, .dpmpp2M]) func stepsReportTheirTrajectory(_ sampler: SamplerName) throws {
        let model = try PipelineTests.models.model("sd1")
        var request = GenerationRequest(prompt: "a red fox")
        (request.sampler, request.steps, request.seed, request.width, request.height) = (sampler, 8, 4, 32, 32)
        var steps: [TrajectoryStep] = []
        _ = try Pipeline(model: model).run(request) { event in
            if case .step(let progress) = event, let trajectory = progress.trajectory { steps.append(trajectory) }
        }
        #expect(steps.count == 8)
        var walked: Float = 0
        for step in steps {
            walked += step.movement
            #expect(step.movement >= 0 && step.fromStart <= walked * 1.0001 + 1e-6)
        }
        #expect(steps[0].estimateChange == 0 && steps.dropFirst().allSatisfy { $0.estimateChange >= 0 })
        #expect(abs(steps[0].fromStart - steps[0].movement) <= 1e-6 * max(1, steps[0].movement))
    }

    static func psnr(_ a: PixelImage, _ b: PixelImage) -> Double {
        var sum = 0.0
        for (x, y) in zip(a.rgb, b.rgb) {
            let d = Double(Int(x) - Int(y))
            sum += d * d
        }
        return 10 * log10(65025 / max(sum / Double(max(a.rgb.count, 1)), 1e-9))
    }
}
