import Foundation
import Tensor

/// Times what each sampler adds per step on a latent (everything but the UNet call): the input
/// scaling and the update rule, including the noise draws of ancestral samplers. The model output
/// is a stand-in of the right shape, since only the sampler's own work is measured.
public struct SamplerBenchmark: Sendable {
    /// SD1.5's scheduler_config.json (PNDM with skip_prk_steps, scaled_linear betas).
    static let sd15SchedulerJSON = #"{"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1, "set_alpha_to_one": false, "clip_sample": false, "skip_prk_steps": true, "prediction_type": "epsilon"}"#

    /// The latent's shape, [N, 4, H/8, W/8].
    public var latentShape: [Int]
    /// Sampling steps per timed run.
    public var steps: Int

    public init(latentShape: [Int] = [1, 4, 64, 64], steps: Int = 20) {
        self.latentShape = latentShape
        self.steps = steps
    }

    /// Median time per step of `name` with `schedule`, in seconds, over `runs` whole runs.
    public func secondsPerStep(_ name: SamplerName, schedule: SigmaSchedule = .model, runs: Int = 5) throws -> Double {
        let config = try SchedulerConfig.decode(json: Data(Self.sd15SchedulerJSON.utf8))
        var random = TorchRandomSource(seed: 1)
        let start = random.normal(shape: latentShape)
        let clock = ContinuousClock()
        var perStep: [Double] = []
        for _ in 0..<max(1, runs) {
            var sampler = try makeSampler(name: name, schedule: schedule, config: config, steps: steps)
            var latents = scaled(start, by: sampler.initNoiseSigma)
            let elapsed = clock.measure {
                for i in sampler.timesteps.indices {
                    let input = sampler.scaleModelInput(latents, stepIndex: i)
                    latents = sampler.step(modelOutput: scaled(input, by: 0.5), stepIndex: i, sample: latents, random: &random).sample
                }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            perStep.append(seconds / Double(sampler.timesteps.count))
        }
        perStep.sort()
        return perStep[perStep.count / 2]
    }
}
