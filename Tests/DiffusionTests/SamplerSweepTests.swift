import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Issue 12: no sampler setting crashes, hangs or yields NaN. Every sampler x schedule x step
/// count x img2img strength either runs to a finite result or is refused when the sampler is
/// made, with a one-line reason.
///
/// The sampler-level sweep runs each sampler against a synthetic model on tiny latents (fast,
/// so it covers steps up to 1000 on several scheduler configs); the pipeline sweep runs the
/// bundled model (samples/shapes-64) through `Pipeline`. Both run a small grid in the suite;
/// with `STIPPLE_SWEEP=full` in the environment (tools/sweep.sh) they run the whole grid and
/// print the counts.
@Suite struct SamplerSweepTests {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    static var bundledFolder: URL { packageRoot.appendingPathComponent("samples/shapes-64") }
    static var full: Bool { ProcessInfo.processInfo.environment["STIPPLE_SWEEP"] == "full" }

    /// The bundled model's scheduler config: EulerAncestralDiscreteScheduler, squaredcos_cap_v2,
    /// v_prediction, linspace spacing, steps_offset 1 (sigma_max about 2e4).
    static func bundledScheduler() throws -> SchedulerConfig {
        try SchedulerConfig.decode(json: Data(contentsOf: bundledFolder.appendingPathComponent("scheduler/scheduler_config.json")))
    }

    /// Scheduler configs of the models people use, by name.
    static func configs() throws -> [(String, SchedulerConfig)] {
        var sd15 = SchedulerConfig()
        sd15.className = "PNDMScheduler"
        (sd15.betaStart, sd15.betaEnd, sd15.betaSchedule) = (0.00085, 0.012, "scaled_linear")
        (sd15.stepsOffset, sd15.skipPrkSteps, sd15.setAlphaToOne, sd15.clipSample) = (1, true, false, false)
        var sd2 = sd15
        sd2.className = "EulerDiscreteScheduler"
        (sd2.predictionType, sd2.timestepSpacing) = ("v_prediction", "trailing")
        var leading = sd15
        leading.timestepSpacing = "leading"
        leading.skipPrkSteps = false
        var zeroSNR = sd2
        (zeroSNR.predictionType, zeroSNR.rescaleBetasZeroSnr) = ("epsilon", true)
        return [("bundled", try bundledScheduler()), ("sd15", sd15), ("sd2-trailing", sd2), ("sd15-leading-prk", leading),
                ("zero-snr-epsilon", zeroSNR)]
    }

    /// The synthetic model of the parity fixtures.
    static func model(_ x: Tensor, _ t: Float) -> Tensor {
        let c = Float(0.1 * cos(Double(t) / 100))
        return mapElements(x) { 0.5 * tanh($0) + c * $0 + 0.05 }
    }

    /// What one sampler-level case did.
    enum Outcome: Equatable {
        case finite, refused(String), nonFinite(String)
    }

    /// Builds `name` and runs it from noise (strength nil) or from an img2img start; never traps
    /// (or the test process dies, which is the failure this sweep exists to find).
    static func run(_ name: SamplerName, _ schedule: SigmaSchedule, _ config: SchedulerConfig, steps: Int,
                    strength: Double?, convention: SamplingConvention = .diffusers) -> Outcome {
        var sampler: any Sampler
        do {
            sampler = try makeSampler(name: name, schedule: schedule, config: config, steps: steps, convention: convention)
        } catch {
            return .refused(error.description)
        }
        var random = TorchRandomSource(seed: 7)
        let shape = [1, 4, 1, 2]
        var first = 0
        var latents: Tensor
        if let strength {
            first = sampler.firstStepIndex(strength: strength, steps: steps)
            // The pipeline refuses a start with nothing left to run.
            guard first < sampler.timesteps.count else { return .refused("no steps left") }
            let original = mapElements(random.normal(shape: shape)) { $0 * 0.5 }
            latents = sampler.addNoise(original: original, noise: random.normal(shape: shape), stepIndex: first)
        } else {
            latents = scaled(random.normal(shape: shape), by: sampler.initNoiseSigma)
        }
        guard latents.storage.allSatisfy(\.isFinite) else { return .nonFinite("start latents") }
        for i in first..<sampler.timesteps.count {
            let t = sampler.timesteps[i]
            let input = sampler.scaleModelInput(latents, stepIndex: i)
            latents = sampler.step(modelOutput: model(input, t), stepIndex: i, sample: latents, random: &random).sample
            guard t.isFinite, latents.storage.allSatisfy(\.isFinite) else {
                return .nonFinite("step \(i) of \(sampler.timesteps.count) (t = \(t))")
            }
        }
        return .finite
    }

    // MARK: The cases of issue 12

    /// Euler a at 4 steps on the bundled model: sigma 2.03e4 then 1.75, so `from^2 - to^2`
    /// rounds to `from^2` and diffusers' sigma_up (1.7507232) exceeds sigma_to (1.7507231):
    /// sigma_down was sqrt(-2.4e-7), NaN, and so was the image.
    @Test func ancestralStepsStayFiniteOnTheBundledSchedule() throws {
        let config = try Self.bundledScheduler()
        let sampler = try EulerAncestralSampler(config: config, steps: 4)
        for k in 0..<4 {
            let (down, up) = ancestralStep(from: sampler.sigmas[k], to: sampler.sigmas[k + 1])
            #expect(down.isFinite && up.isFinite && down >= 0 && up <= sampler.sigmas[k + 1], "step \(k): down \(down), up \(up)")
        }
        // The first step's deterministic part reaches 0: all of sigma_to comes back as noise.
        #expect(ancestralStep(from: sampler.sigmas[0], to: sampler.sigmas[1]) == (0, sampler.sigmas[1]))
        for name in [SamplerName.eulerA, .dpm2A, .default] {
            for steps in 1...60 {
                #expect(Self.run(name, .model, config, steps: steps, strength: nil) == .finite, "\(name.rawValue) \(steps) steps")
            }
        }
        let dpm2a = try KDPM2AncestralSampler(config: config, steps: 4)
        #expect(dpm2a.timesteps.allSatisfy(\.isFinite) && dpm2a.sigmasMidpoint.allSatisfy(\.isFinite))
    }

    /// DDIM (and the other samplers that index alphas_cumprod) at 1000 leading steps with
    /// steps_offset 1 would start at timestep 1000 (diffusers raises IndexError); refused.
    @Test func stepsPastTheScheduleAreRefused() throws {
        let sd15 = try #require(Self.configs().first { $0.0 == "sd15" }?.1)
        #expect(throws: SamplerError.unusableSteps(sampler: .ddim, steps: 1000, reason:
                    "and steps_offset 1 would start at timestep 1000, past the schedule's last (999); use at most 999 steps")) {
            try makeSampler(name: .ddim, schedule: .model, config: sd15, steps: 1000)
        }
        let message = "ddim with 1000 steps and steps_offset 1 would start at timestep 1000, past the schedule's last (999); use at most 999 steps"
        #expect(SamplerError.unusableSteps(sampler: .ddim, steps: 1000, reason:
                    "and steps_offset 1 would start at timestep 1000, past the schedule's last (999); use at most 999 steps").description == message)
        for name in [SamplerName.ddpm, .pndm] {
            #expect(throws: SamplerError.self, "\(name.rawValue)") {
                try makeSampler(name: name, schedule: .model, config: sd15, steps: 1000)
            }
        }
        // LMS at 1000 leading steps: timestep 1000 is clamped onto 999's sigma, repeated.
        var leading = sd15
        leading.timestepSpacing = "leading"
        #expect(throws: SamplerError.self) { try makeSampler(name: .lms, schedule: .model, config: leading, steps: 1000) }
        #expect(try makeSampler(name: .ddim, schedule: .model, config: sd15, steps: 999).timesteps.first == 999)
        // 1000 linspace multistep steps round to repeated timesteps: 0/0 in the update.
        let bundled = try Self.bundledScheduler()
        #expect(throws: SamplerError.self) { try makeSampler(name: .dpmpp2M, schedule: .model, config: bundled, steps: 1000) }
        #expect(Self.run(.dpmpp2M, .model, bundled, steps: 999, strength: nil) == .finite)
    }

    /// Trailing spacing at 233 steps has 234 timesteps, the last -1 (diffusers' too): the samplers
    /// that index alphas_cumprod refuse it, naming the largest count that works.
    @Test func trailingPastTheFirstTimestepIsRefused() throws {
        let sd2 = try #require(Self.configs().first { $0.0 == "sd2-trailing" }?.1)
        #expect(throws: SamplerError.unusableSteps(sampler: .ddim, steps: 233, reason: "would reach timestep -1, below the "
                    + "schedule's first (0; trailing spacing rounds one step past the end at this count); use at most 232 steps")) {
            try makeSampler(name: .ddim, schedule: .model, config: sd2, steps: 233)
        }
        #expect(Self.run(.ddim, .model, sd2, steps: 232, strength: nil) == .finite)
        // The sigma samplers clamp t = -1 onto sigma_min as np.interp does: finite, as diffusers.
        #expect(Self.run(.euler, .model, sd2, steps: 233, strength: nil) == .finite)
    }

    /// A zero-SNR schedule gives an epsilon model nothing to divide by at its last timestep:
    /// the samplers that start there are refused (the sigma samplers floor it, as diffusers).
    @Test func zeroSNREpsilonIsRefusedWhereItDividesByZero() throws {
        let zeroSNR = try #require(Self.configs().first { $0.0 == "zero-snr-epsilon" }?.1)
        for name in [SamplerName.ddim, .ddpm, .lcm] {
            #expect(throws: SamplerError.self, "\(name.rawValue)") {
                try makeSampler(name: name, schedule: .model, config: zeroSNR, steps: 10)
            }
        }
        #expect(Self.run(.euler, .model, zeroSNR, steps: 10, strength: nil) == .finite)
    }

    /// Scheduler configs whose schedule would be NaN, empty or infinite are refused when read,
    /// naming the key and value.
    @Test func schedulesThatMakeNaNAreRefused() throws {
        let base = try Self.bundledScheduler()
        func refusal(_ change: (inout SchedulerConfig) -> Void) -> String? {
            var config = base
            config.betaSchedule = "linear"
            change(&config)
            do {
                try config.validate()
                _ = try makeSampler(name: .euler, schedule: .model, config: config, steps: 10)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal { $0.betaStart = 2.0 }?.contains("beta_start = 2.0") == true)
        #expect(refusal { $0.betaEnd = -0.1 }?.contains("beta_end = -0.1") == true)
        #expect(refusal { $0.betaStart = .nan }?.contains("beta_start = nan") == true)
        #expect(refusal { $0.betaEnd = .infinity }?.contains("beta_end = inf") == true)
        #expect(refusal { $0.numTrainTimesteps = 0 }?.contains("num_train_timesteps = 0") == true)
        #expect(refusal { $0.numTrainTimesteps = 1_000_000_000 }?.contains("num_train_timesteps = 1000000000") == true)
        #expect(refusal { $0.trainedBetas = [0.1, 0.2] }?.contains("trained_betas has 2 values") == true)
        #expect(refusal { $0.numTrainTimesteps = 2; $0.trainedBetas = [0.1, 1.5] }?.contains("trained_betas[1] = 1.5") == true)
        #expect(refusal { $0.stepsOffset = -1 }?.contains("steps_offset = -1") == true)
        #expect(refusal { $0.clipSampleRange = 0 }?.contains("clip_sample_range = 0") == true)
        #expect(refusal { $0.originalInferenceSteps = 0 }?.contains("original_inference_steps = 0") == true)
        #expect(refusal { $0.shift = 0 }?.contains("shift = 0") == true)
        #expect(refusal { $0.shift = -.infinity }?.contains("shift = -inf") == true)
        // 100000 linear timesteps underflow alphas_cumprod to 0 long before the end.
        #expect(refusal { $0.numTrainTimesteps = 100_000 }?.contains("alphas_cumprod to 0") == true)
        #expect(refusal { _ in } == nil)
        #expect(throws: CheckpointError.self) {
            var config = base
            config.betaSchedule = "scaled_linear"
            config.betaStart = 2
            _ = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: false)
        }
    }

    /// PNDM without `skip_prk_steps` (diffusers' default, and the bundled model's) warms up with
    /// Runge-Kutta steps: 12 model calls for the first three steps.
    @Test func pndmWarmsUpWithRungeKuttaSteps() throws {
        let config = try Self.bundledScheduler()
        for steps in [4, 5, 20] {
            let sampler = try makeSampler(name: .pndm, schedule: .model, config: config, steps: steps)
            #expect(sampler.timesteps.count == steps + 9)
        }
        // diffusers' set_timesteps raises ValueError below 4 steps.
        for steps in 1...3 {
            #expect(throws: SamplerError.self) { try makeSampler(name: .pndm, schedule: .model, config: config, steps: steps) }
        }
        #expect(throws: SamplerError.unusableSteps(sampler: .pndm, steps: 3, reason: "cannot run PNDMScheduler's "
                    + "Runge-Kutta warm-up over the first 4 timesteps (skip_prk_steps is false; diffusers raises ValueError); "
                    + "use at least 4 steps")) {
            try makeSampler(name: .pndm, schedule: .model, config: config, steps: 3)
        }
    }

    // MARK: Sweeps

    /// Every sampler x schedule x step count x start (txt2img, img2img at 0.01, 0.3 and 1) on
    /// each config: finite or refused when made. The suite runs steps 1...40 and a few large
    /// counts (img2img up to 60); `STIPPLE_SWEEP=full` runs 1...1000 (img2img up to 100 and at
    /// every tenth count above).
    @Test func everySamplerRunsFiniteOrIsRefused() throws {
        let clock = ContinuousClock()
        let started = clock.now
        let large = [60, 100, 250, 333, 499, 500, 501, 998, 999, 1000]
        let stepCounts = Self.full ? Array(1...1000) : Array(1...40) + large
        var (finite, refused, failed) = (0, 0, 0)
        var refusals: [String: Int] = [:]
        for (configName, config) in try Self.configs() {
            for name in SamplerName.allCases where name != .default && name != .flowEuler {
                // k-diffusion's way only where it changes the sampler (DPM++ 2M; the model's schedule
                // of the samplers that take the uniform one).
                let ways = SamplingConvention.allCases.filter { $0 == .diffusers || name == .dpmpp2M || name.supports(.uniform) }
                for convention in ways {
                for schedule in SigmaSchedule.allCases where name.supports(schedule, convention: convention)
                    && (convention == .diffusers || name == .dpmpp2M || schedule == .model) {
                    for steps in stepCounts {
                        let starts: [Double?] = steps <= 60 || (Self.full && (steps <= 100 || steps % 10 == 0))
                            ? [nil, 0.01, 0.3, 1] : [nil]
                        for strength in starts {
                            let label = "\(configName) \(name.rawValue) \(schedule.rawValue) \(convention.rawValue) \(steps) steps"
                                + (strength.map { " img2img \($0)" } ?? "")
                            switch Self.run(name, schedule, config, steps: steps, strength: strength, convention: convention) {
                            case .finite: finite += 1
                            case .refused(let why):
                                refused += 1
                                if why != "no steps left" { refusals[why, default: 0] += 1 }
                            case .nonFinite(let where_):
                                failed += 1
                                Issue.record("\(label): not finite at \(where_)")
                            }
                        }
                    }
                }
                }
            }
        }
        // Flow matching has its own configs (no betas).
        var flow = SchedulerConfig()
        flow.shift = 3
        for schedule in SigmaSchedule.allCases {
            for steps in stepCounts {
                for strength in [nil, 0.01, 0.3, 1] as [Double?] {
                    switch Self.run(.flowEuler, schedule, flow, steps: steps, strength: strength) {
                    case .finite: finite += 1
                    case .refused: refused += 1
                    case .nonFinite(let where_):
                        failed += 1
                        Issue.record("flow_euler \(schedule.rawValue) \(steps) steps \(strength ?? -1): not finite at \(where_)")
                    }
                }
            }
        }
        #expect(failed == 0)
        if Self.full || ProcessInfo.processInfo.environment["STIPPLE_SWEEP"] == "print" {
            let seconds = Double((clock.now - started).components.seconds)
            print("sampler sweep: \(finite + refused + failed) cases, \(finite) finite, \(refused) refused, \(failed) failed, \(seconds) s")
            for (why, count) in refusals.sorted(by: { $0.value > $1.value }) { print("  refused \(count)x: \(why)") }
        }
    }
}
