import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Replays diffusers' scheduler loops recorded in Fixtures/samplers/ (see the README there):
///     .venv-ref/bin/python tools/make_sampler_fixtures.py
/// Each case runs `SamplerClass.from_config(base + overrides)` for some steps against the
/// synthetic model `0.5 * tanh(x) + 0.1 * cos(t / 100) * x + 0.05`; ours must follow it within a
/// relative error of 1e-5 at every step, with the same timesteps and init_noise_sigma.
@Suite struct SamplerParityTests {
    /// The samplers held to the parity bar, by fixture name.
    static let implemented = ["dpm2", "dpm2_a", "euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "pndm", "heun", "ddpm", "lms", "lcm", "unipc", "deis", "flow_euler"]

    /// The largest difference between two timestep lists (infinity when their lengths differ).
    static func timestepError(_ ours: [Float], _ theirs: [Float]) -> Float {
        guard ours.count == theirs.count else { return .infinity }
        return zip(ours, theirs).map { abs($0 - $1) }.max() ?? 0
    }

    /// How far our timesteps may be from diffusers': exactly equal, except KDPM2's midpoint
    /// timesteps, which come out of float32 log/exp/lerp; numpy's and torch's float32 log and exp
    /// are not correctly rounded (SIMD approximations), so they may differ by a unit or two in the
    /// last place: 1.2e-4 at most on the fixtures (timesteps 512...1000 have a 6.1e-5 ulp).
    /// The model sees t through a sinusoidal embedding whose fastest frequency is 1, so 2.5e-4 of
    /// a timestep moves it by less than float32 rounding of the embedding's argument matters.
    static func timestepTolerance(_ sampler: String) -> Float { sampler.hasPrefix("dpm2") ? 2.5e-4 : 0 }

    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("samplers") }

    /// One recorded case of a fixture file.
    struct Case: Decodable {
        var name: String
        var config: [String: JSONValue]
        var steps: Int
        var init_noise_sigma: Double
        /// DDIM's eta (ddim_eta.safetensors only).
        var eta: Double?
    }

    /// One recorded case of img2img.safetensors.
    struct Img2ImgCase: Decodable {
        var name: String
        var sampler: String
        var config: [String: JSONValue]
        var steps: Int
        var strength: Double
        var first_index: Int
        /// The case's own base config (flow cases), in place of the file's `base`.
        var base: [String: JSONValue]?
    }

    /// The scheduler config of a fixture case: the file's `base` with the case's overrides.
    static func config(base: [String: Any], overrides: [String: JSONValue]) throws -> SchedulerConfig {
        var object = base
        for (key, value) in overrides { object[key] = value.object }
        return try SchedulerConfig.decode(json: JSONSerialization.data(withJSONObject: object))
    }

    /// A JSON scalar of a case's config overrides.
    enum JSONValue: Decodable {
        case string(String), number(Double), bool(Bool)

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? container.decode(Double.self) {
                self = .number(value)
            } else {
                self = .string(try container.decode(String.self))
            }
        }

        var object: Any {
            switch self {
            case .string(let value): return value
            case .number(let value): return value
            case .bool(let value): return value
            }
        }
    }

    /// Noise recorded from diffusers' `randn_tensor`, handed out in order.
    struct ReplayedNoise: RandomSource {
        var tensors: [Tensor]
        var next = 0

        mutating func normal(shape: [Int]) -> Tensor {
            guard next < tensors.count else {
                Issue.record("the sampler drew more noise than diffusers (\(tensors.count) tensors)")
                return Tensor(zeros: shape)
            }
            defer { next += 1 }
            #expect(tensors[next].shape == shape)
            return tensors[next]
        }
    }

    /// The synthetic model of the fixtures.
    static func model(_ x: Tensor, _ t: Float) -> Tensor {
        let c = Float(0.1 * cos(Double(t) / 100))
        return mapElements(x) { 0.5 * tanh($0) + c * $0 + 0.05 }
    }

    /// The slices of a [n, ...] tensor along its first axis.
    static func unstacked(_ tensor: Tensor) -> [Tensor] {
        let shape = Array(tensor.shape.dropFirst())
        let size = shape.reduce(1, *)
        return (0..<tensor.shape[0]).map { Tensor(shape: shape, values: Array(tensor.storage[$0 * size..<($0 + 1) * size])) }
    }

    /// max |a - b| / max |b|.
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        let scale = b.storage.map(abs).max() ?? 0
        let diff = zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
        return scale > 0 ? diff / scale : diff
    }

    /// Runs every case of `sampler`'s fixture (`<fixture ?? sampler>.safetensors`); returns the
    /// worst relative error per case.
    static func replay(_ sampler: String, fixture fileName: String? = nil) throws -> [String: Float] {
        let file = try SafetensorsFile(path: folder.appendingPathComponent((fileName ?? sampler) + ".safetensors").path)
        let cases = try JSONDecoder().decode([Case].self, from: Data((file.metadata["cases"] ?? "[]").utf8))
        let base = try JSONSerialization.jsonObject(with: Data((file.metadata["base"] ?? "{}").utf8)) as? [String: Any] ?? [:]
        let initial = try file.tensor("initial")
        var errors: [String: Float] = [:]
        #expect(!cases.isEmpty)
        for fixture in cases {
            let config = try Self.config(base: base, overrides: fixture.config)
            let schedule: SigmaSchedule = config.useKarrasSigmas == true ? .karras : .model
            var ours = try makeSampler(name: SamplerName(parsing: sampler), schedule: schedule, config: config,
                                       steps: fixture.steps, eta: Float(fixture.eta ?? 0))
            let expectedTimesteps = try file.tensor(fixture.name + "/timesteps").storage
            let timestepError = Self.timestepError(ours.timesteps, expectedTimesteps)
            #expect(timestepError <= Self.timestepTolerance(sampler), "\(sampler)/\(fixture.name): timesteps differ by \(timestepError)")
            #expect(abs(Double(ours.initNoiseSigma) - fixture.init_noise_sigma) <= 1e-6 * max(1, fixture.init_noise_sigma),
                    "\(sampler)/\(fixture.name): init_noise_sigma \(ours.initNoiseSigma) vs \(fixture.init_noise_sigma)")
            guard ours.timesteps.count == expectedTimesteps.count else { continue }
            let samples = unstacked(try file.tensor(fixture.name + "/samples"))
            let noise = file.tensorNames.contains(fixture.name + "/noise")
                ? unstacked(try file.tensor(fixture.name + "/noise")) : []
            var random = ReplayedNoise(tensors: noise)
            var latents = scaled(initial, by: Float(fixture.init_noise_sigma))
            var worst: Float = 0
            for (i, t) in ours.timesteps.enumerated() {
                let input = ours.scaleModelInput(latents, stepIndex: i)
                latents = ours.step(modelOutput: model(input, t), stepIndex: i, sample: latents, random: &random).sample
                worst = max(worst, relativeError(latents, samples[i]))
                // Compare each step from the reference, so one step's error is not amplified by the next.
                latents = samples[i]
            }
            #expect(random.next == noise.count, "\(sampler)/\(fixture.name): drew \(random.next) of \(noise.count) noise tensors")
            #expect(worst <= 1e-5, "\(sampler)/\(fixture.name): relative error \(worst)")
            errors[fixture.name] = worst
        }
        return errors
    }

    @Test(arguments: implemented)
    func matchesDiffusers(_ sampler: String) throws {
        let errors = try Self.replay(sampler)
        #expect(!errors.isEmpty)
        Self.report(sampler, errors)
    }

    /// With STIPPLE_PARITY_TABLE=1 in the environment, prints each case's worst relative error
    /// (the parity table of the issue's acceptance).
    static func report(_ sampler: String, _ errors: [String: Float]) {
        guard ProcessInfo.processInfo.environment["STIPPLE_PARITY_TABLE"] == "1" else { return }
        for (name, error) in errors.sorted(by: { $0.key < $1.key }) {
            print("parity \(sampler) \(name) \(String(format: "%.2e", error))")
        }
    }

    /// Flow-matching Euler with Karras and exponential sigmas (after the shift).
    @Test func flowSpacedMatchesDiffusers() throws {
        let errors = try Self.replay("flow_euler", fixture: "flow_euler_spaced")
        #expect(errors.count == 8)
        Self.report("flow_euler", errors)
    }

    /// PNDM without `skip_prk_steps` (the Runge-Kutta warm-up), txt2img and img2img.
    @Test func pndmRungeKuttaMatchesDiffusers() throws {
        let errors = try Self.replay("pndm", fixture: "pndm_prk")
        #expect(errors.count == 9)
        Self.report("pndm", errors)
        try img2imgMatchesDiffusers("pndm-prk", "img2img_pndm_prk")
    }

    /// DDIM with eta 0.5 and 1: the added noise is diffusers' `variance_noise`, replayed.
    @Test func ddimEtaMatchesDiffusers() throws {
        let errors = try Self.replay("ddim", fixture: "ddim_eta")
        #expect(errors.count == 8)
        Self.report("ddim", errors)
    }

    /// The samplers of img2img.safetensors.
    static let img2imgSamplers = ["euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m-karras", "heun", "lms", "pndm",
                                  "ddpm", "unipc"]
    /// The samplers of img2img_more.safetensors.
    static let img2imgMoreSamplers = ["dpmpp_2m_sde", "deis", "lcm", "flow_euler", "flow_euler-shift3"]
    /// The samplers of img2img_extra.safetensors.
    static let img2imgExtraSamplers = ["dpm2", "dpm2_a", "dpm2-karras", "flow_euler-karras", "flow_euler-exponential"]

    /// diffusers' img2img pipeline: `firstStepIndex` picks `get_timesteps`' start, `addNoise`
    /// noises the clean latents to it, and the loop from there follows diffusers step for step.
    @Test(arguments: img2imgSamplers.map { ($0, "img2img") } + img2imgMoreSamplers.map { ($0, "img2img_more") }
            + img2imgExtraSamplers.map { ($0, "img2img_extra") })
    func img2imgMatchesDiffusers(_ key: String, _ fileName: String) throws {
        let file = try SafetensorsFile(path: Self.folder.appendingPathComponent(fileName + ".safetensors").path)
        let cases = try JSONDecoder().decode([Img2ImgCase].self, from: Data((file.metadata["cases"] ?? "[]").utf8))
            .filter { $0.name.hasPrefix(key + "-s") && Double($0.name.dropFirst(key.count + 2)) != nil }
        let fileBase = try JSONSerialization.jsonObject(with: Data((file.metadata["base"] ?? "{}").utf8)) as? [String: Any] ?? [:]
        let (initial, noise) = (try file.tensor("initial"), try file.tensor("img2img_noise"))
        #expect(cases.count == 3)
        for fixture in cases {
            let label = "img2img \(fixture.name)"
            let base = fixture.base.map { $0.mapValues(\.object) } ?? fileBase
            let config = try Self.config(base: base, overrides: fixture.config)
            let schedule: SigmaSchedule = config.useKarrasSigmas == true ? .karras : .model
            var ours = try makeSampler(name: SamplerName(parsing: fixture.sampler), schedule: schedule, config: config,
                                       steps: fixture.steps)
            let first = ours.firstStepIndex(strength: fixture.strength, steps: fixture.steps)
            #expect(first == fixture.first_index, "\(label): first step index \(first)")
            let expectedTimesteps = try file.tensor(fixture.name + "/timesteps").storage
            guard first == fixture.first_index, first < ours.timesteps.count else { continue }
            let timestepError = Self.timestepError(Array(ours.timesteps[first...]), expectedTimesteps)
            #expect(timestepError <= Self.timestepTolerance(fixture.sampler), "\(label): timesteps differ by \(timestepError)")
            guard ours.timesteps.count - first == expectedTimesteps.count else { continue }
            let start = ours.addNoise(original: initial, noise: noise, stepIndex: first)
            var worst = Self.relativeError(start, try file.tensor(fixture.name + "/start"))
            #expect(worst <= 1e-5, "\(label): noised start, relative error \(worst)")
            let samples = Self.unstacked(try file.tensor(fixture.name + "/samples"))
            let drawn = file.tensorNames.contains(fixture.name + "/noise")
                ? Self.unstacked(try file.tensor(fixture.name + "/noise")) : []
            var random = ReplayedNoise(tensors: drawn)
            var latents = try file.tensor(fixture.name + "/start")
            for i in first..<ours.timesteps.count {
                let input = ours.scaleModelInput(latents, stepIndex: i)
                latents = ours.step(modelOutput: Self.model(input, ours.timesteps[i]), stepIndex: i, sample: latents,
                                    random: &random).sample
                worst = max(worst, Self.relativeError(latents, samples[i - first]))
                latents = samples[i - first]
            }
            #expect(random.next == drawn.count, "\(label): drew \(random.next) of \(drawn.count) noise tensors")
            #expect(worst <= 1e-5, "\(label): relative error \(worst)")
            Self.report("img2img", [fixture.name: worst])
        }
    }

    @Test func etaIsDDIMOnly() throws {
        let ddim = try makeSampler(name: "ddim", config: Self.sd15, steps: 10, eta: 0.5)
        #expect((ddim as? DDIMSampler)?.eta == 0.5)
        #expect(throws: SamplerError.self) {
            try makeSampler(name: .euler, schedule: .model, config: Self.sd15, steps: 10, eta: 0.5)
        }
        #expect(throws: SamplerError.self) {
            try makeSampler(name: .ddim, schedule: .model, config: Self.sd15, steps: 10, eta: -1)
        }
    }

    @Test func alphasCumprodMatchTorch() throws {
        let file = try SafetensorsFile(path: Self.folder.appendingPathComponent("schedule.safetensors").path)
        let configs: [String: SchedulerConfig] = {
            var sd = SchedulerConfig()
            sd.betaStart = 0.00085
            sd.betaEnd = 0.012
            sd.betaSchedule = "scaled_linear"
            var linear = SchedulerConfig()
            linear.betaSchedule = "linear"
            var cosine = SchedulerConfig()
            cosine.betaSchedule = "squaredcos_cap_v2"
            var zeroSNR = sd
            zeroSNR.rescaleBetasZeroSnr = true
            return ["scaled_linear": sd, "linear": linear, "cosine": cosine, "scaled_linear_zerosnr": zeroSNR]
        }()
        for (name, config) in configs {
            let ours = try NoiseSchedule(config: config, defaults: SchedulerDefaults(), allowsZeroSNR: true)
            let reference = try file.tensor(name).storage
            #expect(ours.alphasCumprod.count == reference.count)
            let worst = zip(ours.alphasCumprod, reference).map { abs($0 - $1) }.max() ?? 1
            #expect(worst <= 1e-6, "\(name): alphas_cumprod differ by up to \(worst)")
        }
    }

    // MARK: Bad input

    static var sd15: SchedulerConfig {
        var config = SchedulerConfig()
        config.className = "PNDMScheduler"
        config.betaStart = 0.00085
        config.betaEnd = 0.012
        config.betaSchedule = "scaled_linear"
        config.stepsOffset = 1
        return config
    }

    @Test func unknownNamesListTheValidOnes() throws {
        #expect(throws: SamplerError.unknownSampler("eulr")) {
            try makeSampler(name: "eulr", config: Self.sd15, steps: 20)
        }
        let description = SamplerError.unknownSampler("eulr").description
        #expect(description.contains("euler_a (Euler a)") && description.contains("dpmpp_2m (DPM++ 2M)"))
        #expect(throws: SamplerError.unknownSchedule("karas")) {
            try makeSampler(name: "euler", schedule: "karas", config: Self.sd15, steps: 20)
        }
        #expect(SamplerError.unknownSchedule("karas").description.contains("default, karras, exponential"))
        // `default` on a model whose scheduler class stipple lacks names the class, not a sampler (issue 12).
        var foreign = Self.sd15
        foreign.className = "FooScheduler"
        #expect(throws: SamplerError.unknownSchedulerClass("FooScheduler")) {
            try makeSampler(name: "default", config: foreign, steps: 20)
        }
        #expect(SamplerError.unknownSchedulerClass("FooScheduler").description
            .hasPrefix("the model's scheduler class FooScheduler is not one stipple has"))
        #expect(try makeSampler(name: "euler", config: foreign, steps: 20).timesteps.count == 20)
    }

    @Test func stepsOutOfRange() {
        #expect(throws: SamplerError.invalidSteps(0, maximum: 1000)) {
            try makeSampler(name: .euler, schedule: .model, config: Self.sd15, steps: 0)
        }
        #expect(throws: SamplerError.invalidSteps(1001, maximum: 1000)) {
            try makeSampler(name: .ddim, schedule: .model, config: Self.sd15, steps: 1001)
        }
    }

    @Test func scheduleNotAcceptedByTheClass() {
        #expect(throws: SamplerError.unsupportedSchedule(sampler: .eulerA, schedule: .karras)) {
            try makeSampler(name: .eulerA, schedule: .karras, config: Self.sd15, steps: 20)
        }
        #expect(throws: SamplerError.unsupportedSchedule(sampler: .ddim, schedule: .karras)) {
            try makeSampler(name: "ddim", schedule: "karras", config: Self.sd15, steps: 20)
        }
        #expect(SamplerError.unsupportedSchedule(sampler: .ddim, schedule: .karras).description.contains("dpmpp_2m"))
    }

    @Test func namesAndDefaults() throws {
        #expect(try SamplerName(parsing: "Euler a") == .eulerA)
        #expect(try SamplerName(parsing: "DPM++ 2M Karras") == .dpmpp2M)
        #expect(try SamplerName(parsing: "PLMS") == .pndm)
        let karras = try makeSampler(name: "DPM++ 2M Karras", config: Self.sd15, steps: 10)
        let plain = try makeSampler(name: "dpmpp_2m", config: Self.sd15, steps: 10)
        #expect(karras.timesteps != plain.timesteps)
        // `default` is the model's own class (`_class_name`).
        var euler = Self.sd15
        euler.className = "EulerDiscreteScheduler"
        #expect(try makeSampler(name: .default, schedule: .model, config: euler, steps: 10) is EulerSampler)
    }

    @Test func flowMatchTakesTheShiftFromTheConfig() throws {
        var sd3 = SchedulerConfig()
        sd3.className = "FlowMatchEulerDiscreteScheduler"
        sd3.shift = 3
        let shifted = try makeSampler(name: .default, schedule: .model, config: sd3, steps: 4)
        #expect(shifted is FlowMatchEulerSampler)
        #expect(shifted.timesteps.first == 1000)
        var plain = sd3
        plain.shift = nil
        let unshifted = try makeSampler(name: .flowEuler, schedule: .model, config: plain, steps: 4)
        #expect(unshifted.timesteps.count == 4 && unshifted.timesteps != shifted.timesteps)
        #expect(try makeSampler(name: .flowEuler, schedule: .karras, config: sd3, steps: 4).timesteps.first == 1000)
        var flux = sd3
        flux.useDynamicShifting = true
        #expect(throws: SamplerError.self) {
            try makeSampler(name: .flowEuler, schedule: .model, config: flux, steps: 4)
        }
    }

    @Test func img2imgStartsLater() throws {
        let sampler = try makeSampler(name: .euler, schedule: .model, config: Self.sd15, steps: 10)
        #expect(sampler.firstStepIndex(strength: 1, steps: 10) == 0)
        #expect(sampler.firstStepIndex(strength: 0.75, steps: 10) == 3)
        #expect(sampler.firstStepIndex(strength: 0, steps: 10) == 10)
    }
}
