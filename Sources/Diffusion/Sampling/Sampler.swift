import Foundation
import Tensor

/// A sampler: the update rule that walks latents from noise to a clean sample, with diffusers'
/// scheduler interface so the generation loop is exactly diffusers' pipeline loop:
///
///     var latents = scaled(noise, by: sampler.initNoiseSigma)
///     for (i, t) in sampler.timesteps.enumerated() {
///         let input = sampler.scaleModelInput(latents, stepIndex: i)
///         let output = unet(input, t)          // with classifier-free guidance
///         let step = sampler.step(modelOutput: output, stepIndex: i, sample: latents, random: &random)
///         latents = step.sample                // step.denoised: the clean-sample estimate (previews)
///     }
///
/// For img2img, start at `firstStepIndex(strength:)`: `latents = addNoise(original:noise:stepIndex:)`
/// and run the loop from that index.
public protocol Sampler: Sendable {
    /// The timesteps the model is called with, in order; second-order samplers (Heun, DPM2) and
    /// PLMS repeat entries exactly as diffusers' `scheduler.timesteps` does.
    var timesteps: [Float] { get }
    /// The standard deviation of the initial noise (`scheduler.init_noise_sigma`).
    var initNoiseSigma: Float { get }
    /// Model calls per step (`scheduler.order`): 2 for Heun and DPM2, 1 otherwise.
    var order: Int { get }
    /// The model input for the latents `sample` at `timesteps[stepIndex]`.
    func scaleModelInput(_ sample: Tensor, stepIndex: Int) -> Tensor
    /// Whether the sampler integrates a flow-matching ODE (the model predicts the velocity
    /// `noise - x0`); the others need a diffusion model (epsilon, v or sample prediction).
    var flowMatching: Bool { get }
    /// The latents after timestep `timesteps[stepIndex]`, given the model's output there, with
    /// the clean-sample estimate of this model call (diffusers' `pred_original_sample`), each
    /// sampler computing it in its own parameterisation. Ancestral and SDE samplers draw their
    /// noise from `random`.
    mutating func step<Random: RandomSource>(modelOutput: Tensor, stepIndex: Int, sample: Tensor,
                                             random: inout Random) -> SamplerStep
    /// `original` noised to the level of `timesteps[stepIndex]` with `noise` (img2img).
    func addNoise(original: Tensor, noise: Tensor, stepIndex: Int) -> Tensor
    /// The index into `timesteps` where img2img with `strength` (0...1) starts (the default
    /// follows `StableDiffusionImg2ImgPipeline.get_timesteps`; flow samplers follow SD3's).
    func firstStepIndex(strength: Double, steps: Int) -> Int
}

/// One sampler step: the next latents and the clean-sample estimate (x0) of the model call that
/// made them, both at the denoiser's latent scale. `denoised` is the model's own estimate before
/// any `clip_sample` clamp the sampler applies to it (so a preview shows what the model predicts).
public struct SamplerStep: Sendable {
    /// The latents after the step.
    public var sample: Tensor
    /// The clean-sample estimate of this step's model call.
    public var denoised: Tensor

    public init(sample: Tensor, denoised: Tensor) {
        self.sample = sample
        self.denoised = denoised
    }
}

extension Sampler {
    /// Diffusion samplers unless a sampler says otherwise.
    public var flowMatching: Bool { false }

    /// The index into `timesteps` where img2img with `strength` (0...1) starts, as diffusers'
    /// `get_timesteps`: the first `steps - min(Int(steps * strength), steps)` steps are skipped.
    /// Equal to `timesteps.count` (nothing to run) when strength is 0.
    public func firstStepIndex(strength: Double, steps: Int) -> Int {
        let kept = min(Int(Double(steps) * strength), steps)
        return min(max(steps - kept, 0) * order, timesteps.count)
    }
}

/// Why a sampler could not be made; the description is one line that lists the valid choices.
public enum SamplerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No sampler has this name.
    case unknownSampler(String)
    /// `default` asks for the model's own scheduler, whose diffusers class stipple does not have
    /// (nil: the config names none).
    case unknownSchedulerClass(String?)
    /// No sigma schedule has this name.
    case unknownSchedule(String)
    /// The step count is below 1 or above the model's training timesteps.
    case invalidSteps(Int, maximum: Int)
    /// diffusers' class for this sampler does not accept this schedule.
    case unsupportedSchedule(sampler: SamplerName, schedule: SigmaSchedule)
    /// The scheduler config is invalid or asks for something not implemented.
    case config(CheckpointError)
    /// This many steps would index past the training schedule or divide by zero; `reason` says
    /// why and which step counts work.
    case unusableSteps(sampler: SamplerName, steps: Int, reason: String)

    public var description: String {
        switch self {
        case .unknownSampler(let name):
            return "unknown sampler \"\(name)\"; valid: "
                + SamplerName.allCases.map { $0.rawValue + ($0.displayName.map { " (\($0))" } ?? "") }.joined(separator: ", ")
        case .unknownSchedulerClass(let name?):
            return "the model's scheduler class \(name) is not one stipple has, so the default sampler is unknown; "
                + "choose a sampler (--sampler, or the studio's Sampler field), e.g. euler_a"
        case .unknownSchedulerClass(nil):
            return "the model's scheduler config names no _class_name, so the default sampler is unknown; "
                + "choose a sampler (--sampler, or the studio's Sampler field), e.g. euler_a"
        case .unknownSchedule(let name):
            return "unknown schedule \"\(name)\"; valid: " + SigmaSchedule.allCases.map(\.rawValue).joined(separator: ", ")
        case .invalidSteps(let steps, let maximum):
            return "steps = \(steps) must be between 1 and \(maximum) (the model's training timesteps)"
        case .unsupportedSchedule(let sampler, let schedule):
            let valid = SamplerName.allCases.filter { $0.supports(schedule) && $0 != .default }.map(\.rawValue)
            let kDiffusion = sampler.supports(schedule, convention: .kDiffusion)
                ? "; sampled as k-diffusion does (--k-diffusion), \(sampler.rawValue) takes it" : ""
            return "sampler \(sampler.rawValue) does not support the \(schedule.rawValue) schedule "
                + "(diffusers' \(sampler.diffusersClass) has no such option); samplers that do: " + valid.joined(separator: ", ")
                + kDiffusion
        case .config(let error):
            return "scheduler config: " + error.description
        case .unusableSteps(let sampler, let steps, let reason):
            return "\(sampler.rawValue) with \(steps) step\(steps == 1 ? "" : "s") \(reason)"
        }
    }
}

/// The sampler names people know, with A1111's display names and diffusers' classes.
public enum SamplerName: String, CaseIterable, Sendable {
    /// DDIM: deterministic at eta 0 (the default), stochastic with `eta` > 0.
    case ddim
    /// DDPM, the original ancestral sampler.
    case ddpm
    /// PNDM with PLMS steps only (A1111's PLMS).
    case pndm
    /// Linear multistep.
    case lms
    /// Euler.
    case euler
    /// Euler ancestral.
    case eulerA = "euler_a"
    /// Heun, second order.
    case heun
    /// DPM2.
    case dpm2
    /// DPM2 ancestral.
    case dpm2A = "dpm2_a"
    /// DPM-Solver++ 2M.
    case dpmpp2M = "dpmpp_2m"
    /// DPM-Solver++ 2M SDE.
    case dpmpp2MSDE = "dpmpp_2m_sde"
    /// UniPC.
    case unipc
    /// DEIS.
    case deis
    /// Latent consistency models.
    case lcm
    /// Flow-matching Euler (SD3, Flux).
    case flowEuler = "flow_euler"
    /// The model's own scheduler (`_class_name` of its scheduler config).
    case `default`

    /// A1111's name (without " Karras"), where it has one.
    public var displayName: String? {
        switch self {
        case .ddim: return "DDIM"
        case .pndm: return "PLMS"
        case .lms: return "LMS"
        case .euler: return "Euler"
        case .eulerA: return "Euler a"
        case .heun: return "Heun"
        case .dpm2: return "DPM2"
        case .dpm2A: return "DPM2 a"
        case .dpmpp2M: return "DPM++ 2M"
        case .dpmpp2MSDE: return "DPM++ 2M SDE"
        case .unipc: return "UniPC"
        case .lcm: return "LCM"
        case .ddpm, .deis, .flowEuler, .default: return nil
        }
    }

    /// The diffusers class this sampler matches.
    public var diffusersClass: String {
        switch self {
        case .ddim: return "DDIMScheduler"
        case .ddpm: return "DDPMScheduler"
        case .pndm: return "PNDMScheduler"
        case .lms: return "LMSDiscreteScheduler"
        case .euler: return "EulerDiscreteScheduler"
        case .eulerA: return "EulerAncestralDiscreteScheduler"
        case .heun: return "HeunDiscreteScheduler"
        case .dpm2: return "KDPM2DiscreteScheduler"
        case .dpm2A: return "KDPM2AncestralDiscreteScheduler"
        case .dpmpp2M, .dpmpp2MSDE: return "DPMSolverMultistepScheduler"
        case .unipc: return "UniPCMultistepScheduler"
        case .deis: return "DEISMultistepScheduler"
        case .lcm: return "LCMScheduler"
        case .flowEuler: return "FlowMatchEulerDiscreteScheduler"
        case .default: return "(the model's scheduler)"
        }
    }

    /// Whether diffusers' class accepts `schedule` (`use_karras_sigmas`, `use_exponential_sigmas`);
    /// k-diffusion's uniform spacing goes with the samplers whose diffusers and k-diffusion updates
    /// agree (Euler, Euler a, Heun, LMS); under the k-diffusion convention those and DPM++ 2M take
    /// every schedule (Euler a with Karras sigmas, say, as A1111, ComfyUI and sd.cpp run it).
    public func supports(_ schedule: SigmaSchedule, convention: SamplingConvention = .diffusers) -> Bool {
        if convention == .kDiffusion, [.dpmpp2M, .euler, .eulerA, .heun, .lms, .default].contains(self) { return true }
        if schedule == .uniform { return [.euler, .eulerA, .heun, .lms, .default].contains(self) }
        switch self {
        case .lms, .euler, .heun, .dpm2, .dpm2A, .dpmpp2M, .dpmpp2MSDE, .unipc, .deis, .flowEuler: return true
        case .default: return true
        case .ddim, .ddpm, .pndm, .eulerA, .lcm: return schedule == .model
        }
    }

    /// The sampler this name runs on a model whose scheduler config is `config`: `default` is the
    /// model's own class (`_class_name`), any other name itself.
    public func resolved(for config: SchedulerConfig) throws(SamplerError) -> SamplerName {
        guard self == .default else { return self }
        guard let own = config.className.flatMap(SamplerName.init(diffusersClass:)) else {
            throw .unknownSchedulerClass(config.className)
        }
        return own
    }

    /// The sampler for the model's own scheduler class name (`PNDMScheduler`), nil if unknown.
    public init?(diffusersClass name: String) {
        switch name {
        case "DDIMScheduler": self = .ddim
        case "DDPMScheduler": self = .ddpm
        case "PNDMScheduler": self = .pndm
        case "LMSDiscreteScheduler": self = .lms
        case "EulerDiscreteScheduler": self = .euler
        case "EulerAncestralDiscreteScheduler": self = .eulerA
        case "HeunDiscreteScheduler": self = .heun
        case "KDPM2DiscreteScheduler": self = .dpm2
        case "KDPM2AncestralDiscreteScheduler": self = .dpm2A
        case "DPMSolverMultistepScheduler": self = .dpmpp2M
        case "UniPCMultistepScheduler": self = .unipc
        case "DEISMultistepScheduler": self = .deis
        case "LCMScheduler": self = .lcm
        case "FlowMatchEulerDiscreteScheduler": self = .flowEuler
        default: return nil
        }
    }
}

/// Builds the sampler `name` from the model's scheduler config, as diffusers'
/// `SamplerClass.from_config(pipe.scheduler.config, **options)`: keys of the model's config keep
/// the training schedule (betas, prediction type, spacing), absent keys take the class defaults.
/// `schedule` other than `.model` sets `use_karras_sigmas` / `use_exponential_sigmas`.
/// `eta` is `DDIMScheduler.step`'s eta (DDIM only; other samplers take no eta and refuse one
/// other than 0).
/// Throws for `default` on a model whose scheduler class stipple lacks, steps outside
/// 1...num_train_timesteps, schedules the class does not accept, eta on a sampler other than
/// DDIM, and step counts the schedule cannot run; never falls back silently.
public func makeSampler(name: SamplerName, schedule: SigmaSchedule, config: SchedulerConfig,
                        steps: Int, eta: Float = 0,
                        convention: SamplingConvention = .diffusers) throws(SamplerError) -> any Sampler {
    let name = try name.resolved(for: config)
    let maximum = config.numTrainTimesteps ?? 1000
    guard steps >= 1, steps <= maximum else { throw .invalidSteps(steps, maximum: maximum) }
    guard name.supports(schedule, convention: convention) else { throw .unsupportedSchedule(sampler: name, schedule: schedule) }
    // k-diffusion has one schedule of the model's own: its uniform one.
    let schedule = convention == .kDiffusion && schedule == .model && name.supports(.uniform) ? .uniform : schedule
    var config = config
    switch schedule {
    case .model: break
    case .karras: config.useKarrasSigmas = true; config.useExponentialSigmas = false
    case .exponential: config.useExponentialSigmas = true; config.useKarrasSigmas = false
    case .uniform: config.kDiffusionSigmas = true; config.useKarrasSigmas = false; config.useExponentialSigmas = false
    }
    if convention == .kDiffusion {
        switch name {
        case .euler, .eulerA, .heun, .lms:
            config.kDiffusionSigmas = true
        case .dpmpp2M:
            config.kDiffusionSigmas = true
            do throws(CheckpointError) {
                try config.validate()
                return try KDiffusionDPMPP2MSampler(config: config, steps: steps)
            } catch {
                throw .config(error)
            }
        default:
            break
        }
    }
    switch name {
    case .dpmpp2M:
        config.algorithmType = "dpmsolver++"
        config.solverOrder = 2
    case .dpmpp2MSDE:
        config.algorithmType = "sde-dpmsolver++"
        config.solverOrder = 2
    default: break
    }
    let sampler = try buildSampler(name: name, config: config, steps: steps, eta: eta)
    guard let problem = unusableReason(sampler, config: config) else { return sampler }
    var reason = problem.reason
    if problem.fewerStepsHelp {
        // The largest step count below that works, for the message (a short search: refusals
        // are rare and sit at the top of the range).
        let working = (max(1, steps - 64)..<steps).reversed().first { fewer in
            guard let other = try? buildSampler(name: name, config: config, steps: fewer, eta: eta) else { return false }
            return unusableReason(other, config: config) == nil
        }
        // No advice where none of those works either (another reason refuses them too).
        reason += working.map { "; use at most \($0) steps" } ?? ""
    }
    throw .unusableSteps(sampler: name, steps: steps, reason: reason)
}

/// Why `sampler` cannot run: a phrase to follow "<sampler> with <n> steps", and whether fewer
/// steps would help; nil when every step stays inside the schedule and finite. Checked when the
/// sampler is made, so no setting reaches an out-of-range index or a 0/0 during sampling:
/// - samplers that index `alphas_cumprod` by timestep (DDIM, DDPM, PNDM, LCM) need every
///   timestep within the training schedule (leading spacing with `steps_offset` 1 and 1000 steps
///   starts at 1000; diffusers raises IndexError there);
/// - LMS and the multistep solvers divide by differences of consecutive noise levels, which must
///   not repeat (1000 linspace steps round to repeated timesteps; leading steps past the last
///   timestep are clamped onto it);
/// - PNDM's Runge-Kutta warm-up (`skip_prk_steps` false) needs 4 steps;
/// - every sampler needs at least one timestep.
func unusableReason(_ sampler: any Sampler, config: SchedulerConfig) -> (reason: String, fewerStepsHelp: Bool)? {
    if let pndm = sampler as? PNDMSampler, !pndm.skipsRungeKutta, pndm.steps < 4 {
        return ("cannot run PNDMScheduler's Runge-Kutta warm-up over the first 4 timesteps (skip_prk_steps is "
                    + "false; diffusers raises ValueError); use at least 4 steps", false)
    }
    guard !sampler.timesteps.isEmpty else { return ("has no timesteps to run", false) }
    if let bad = sampler.timesteps.first(where: { !$0.isFinite }) {
        return ("gives the timestep \(bad)", false)
    }
    let last = (config.numTrainTimesteps ?? 1000) - 1
    switch sampler {
    case let indexed as TrainingTimestepSampler:
        if let high = sampler.timesteps.max(), high > Float(last) {
            return ("and steps_offset \(config.stepsOffset ?? 0) would start at timestep \(Int(high)), "
                        + "past the schedule's last (\(last))", true)
        }
        if let low = sampler.timesteps.min(), low < 0 {
            // Trailing spacing: numpy's arange(1000, 0, -1000 / 233) has 234 entries, the last
            // rounding to timestep -1, where diffusers reads alphas_cumprod[-1] (the last one).
            return ("would reach timestep \(Int(low)), below the schedule's first (0; trailing spacing rounds one "
                        + "step past the end at this count)", true)
        }
        // rescale_betas_zero_snr makes the last alphas_cumprod exactly 0; an epsilon model's
        // clean-sample estimate divides by its square root (diffusers gives inf there too).
        if indexed.prediction == .epsilon,
           let t = sampler.timesteps.first(where: { indexed.schedule.alphasCumprod[Int($0)] == 0 }) {
            return ("would start at timestep \(Int(t)), where rescale_betas_zero_snr makes alphas_cumprod 0 and "
                        + "epsilon prediction divides by it; zero SNR is for v_prediction models", false)
        }
    case let lms as LMSSampler:
        return repeatedSigma(lms.sigmas, timesteps: lms.timesteps)
    case let solver as DPMSolverMultistepSampler:
        return repeatedSigma(solver.sigmas, timesteps: solver.timesteps)
    case let solver as UniPCSampler:
        return repeatedSigma(solver.sigmas, timesteps: solver.timesteps)
    case let solver as DEISSampler:
        return repeatedSigma(solver.sigmas, timesteps: solver.timesteps)
    default:
        break
    }
    return nil
}

/// The samplers that index `alphas_cumprod` by integer training timestep.
protocol TrainingTimestepSampler: Sampler {
    var schedule: NoiseSchedule { get }
    var prediction: PredictionType { get }
}

extension DDIMSampler: TrainingTimestepSampler {}
extension DDPMSampler: TrainingTimestepSampler {}
extension PNDMSampler: TrainingTimestepSampler {}
extension LCMSampler: TrainingTimestepSampler {}

/// The refusal for noise levels (one per timestep, the final one after them ignored) that do not
/// strictly decrease: the step sizes of LMS and the multistep solvers would be 0 and divided by.
private func repeatedSigma(_ sigmas: [Float], timesteps: [Float]) -> (reason: String, fewerStepsHelp: Bool)? {
    for i in 1..<min(sigmas.count, timesteps.count) where !(sigmas[i] < sigmas[i - 1]) {
        return ("repeats the noise level \(sigmas[i]) (timesteps \(timesteps[i - 1]) and \(timesteps[i])), "
                    + "and this sampler divides by the difference", true)
    }
    return nil
}

/// `makeSampler` after the name, steps and schedule checks: the sampler itself.
private func buildSampler(name: SamplerName, config: SchedulerConfig, steps: Int,
                          eta: Float) throws(SamplerError) -> any Sampler {
    let make: (SchedulerConfig) throws(CheckpointError) -> any Sampler
    switch name {
    case .euler: make = { config throws(CheckpointError) in try EulerSampler(config: config, steps: steps) }
    case .eulerA: make = { config throws(CheckpointError) in try EulerAncestralSampler(config: config, steps: steps) }
    case .ddim: make = { config throws(CheckpointError) in try DDIMSampler(config: config, steps: steps, eta: eta) }
    case .dpmpp2M, .dpmpp2MSDE: make = { config throws(CheckpointError) in try DPMSolverMultistepSampler(config: config, steps: steps) }
    case .pndm: make = { config throws(CheckpointError) in try PNDMSampler(config: config, steps: steps) }
    case .heun: make = { config throws(CheckpointError) in try HeunSampler(config: config, steps: steps) }
    case .ddpm: make = { config throws(CheckpointError) in try DDPMSampler(config: config, steps: steps) }
    case .lms: make = { config throws(CheckpointError) in try LMSSampler(config: config, steps: steps) }
    case .dpm2: make = { config throws(CheckpointError) in try KDPM2Sampler(config: config, steps: steps) }
    case .dpm2A: make = { config throws(CheckpointError) in try KDPM2AncestralSampler(config: config, steps: steps) }
    case .lcm: make = { config throws(CheckpointError) in try LCMSampler(config: config, steps: steps) }
    case .unipc: make = { config throws(CheckpointError) in try UniPCSampler(config: config, steps: steps) }
    case .deis: make = { config throws(CheckpointError) in try DEISSampler(config: config, steps: steps) }
    case .flowEuler: make = { config throws(CheckpointError) in try FlowMatchEulerSampler(config: config, steps: steps) }
    case .default: return try buildSampler(name: name.resolved(for: config), config: config, steps: steps, eta: eta)
    }
    var config = config
    do throws(CheckpointError) {
        if eta != 0 && name != .ddim {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "eta", value: "\(eta)", note: "only ddim takes an eta; \(name.diffusersClass) has none"))
        }
        try config.validate()
        if !name.supports(.karras), config.kDiffusionSigmas != true { config.useKarrasSigmas = nil; config.useExponentialSigmas = nil }
        return try make(config)
    } catch {
        throw .config(error)
    }
}

/// `makeSampler` from text as typed, read by the one parser of sampler and schedule text: a
/// sampler name (`SamplerChoice(parsing:)`; a ` Karras` suffix selects the Karras schedule over
/// `schedule`) and a schedule name (`SigmaSchedule(parsing:)`); `eta` as for
/// `makeSampler(name:schedule:config:steps:eta:)`.
public func makeSampler(name: String, schedule: String = "default", config: SchedulerConfig,
                        steps: Int, eta: Float = 0) throws(SamplerError) -> any Sampler {
    let choice = try SamplerChoice(parsing: name)
    let sigmas = try SigmaSchedule(parsing: schedule)
    return try makeSampler(name: choice.sampler, schedule: choice.schedule ?? sigmas, config: config, steps: steps, eta: eta)
}

/// `f` applied elementwise to two tensors of the same shape.
func zipMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    var values = [Float](repeating: 0, count: a.count)
    for i in 0..<values.count { values[i] = f(a.storage[i], b.storage[i]) }
    return Tensor(shape: a.shape, values: values)
}

/// `f` applied elementwise to three tensors of the same shape.
func zipMap(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ f: (Float, Float, Float) -> Float) -> Tensor {
    precondition(a.shape == b.shape && a.shape == c.shape, "shapes \(a.shape), \(b.shape), \(c.shape) differ")
    var values = [Float](repeating: 0, count: a.count)
    for i in 0..<values.count { values[i] = f(a.storage[i], b.storage[i], c.storage[i]) }
    return Tensor(shape: a.shape, values: values)
}

/// `f` applied to every element.
func mapElements(_ a: Tensor, _ f: (Float) -> Float) -> Tensor {
    Tensor(shape: a.shape, values: a.storage.map(f))
}

/// Whose way a sampler runs where diffusers and k-diffusion (which A1111 and ComfyUI run) differ.
public enum SamplingConvention: String, Sendable, CaseIterable {
    /// diffusers' scheduler classes: the model's own spacing from its scheduler config (the default).
    case diffusers
    /// k-diffusion's: the model's own schedule is its uniform one (`SigmaSchedule.uniform`), Euler,
    /// Euler a, Heun and LMS take k-diffusion's sigmas for every schedule, and DPM++ 2M runs as
    /// `sample_dpmpp_2m` (`KDiffusionDPMPP2MSampler`). What an A1111 image was made with;
    /// `--k-diffusion`, infotext `Sampling: k-diffusion`.
    case kDiffusion = "k-diffusion"
}
