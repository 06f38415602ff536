import Foundation

/// A model's `scheduler/scheduler_config.json`: the training noise schedule and the settings of
/// the diffusers scheduler class it was saved from.
///
/// Every field is optional and nil when the key is absent (or null): diffusers' `from_config`
/// fills absent keys with the defaults of the class being built, and those differ between classes
/// (`DDIMScheduler` defaults to `timestep_spacing = "leading"`, `EulerDiscreteScheduler` to
/// `"linspace"`), so each sampler resolves the nil fields with its own class's defaults.
public struct SchedulerConfig: DiffusersConfig, Equatable {
    /// `_class_name`: the diffusers scheduler the model was saved with (`PNDMScheduler` for SD1.5).
    public var className: String?
    /// `num_train_timesteps`: how many noise levels the model was trained on (1000).
    public var numTrainTimesteps: Int?
    /// `beta_start`: the first beta of the `linear`/`scaled_linear` schedule.
    public var betaStart: Double?
    /// `beta_end`: the last beta of the `linear`/`scaled_linear` schedule.
    public var betaEnd: Double?
    /// `beta_schedule`: `linear`, `scaled_linear` (SD) or `squaredcos_cap_v2` (cosine).
    public var betaSchedule: String?
    /// `trained_betas`: explicit betas, which replace `beta_schedule` when given.
    public var trainedBetas: [Double]?
    /// `prediction_type`: what the model predicts: `epsilon`, `v_prediction` or `sample`.
    public var predictionType: String?
    /// `timestep_spacing`: how inference timesteps are picked: `leading`, `trailing`, `linspace`.
    public var timestepSpacing: String?
    /// `steps_offset`: added to `leading` timesteps (1 for SD1.5 and SD2).
    public var stepsOffset: Int?
    /// `clip_sample`: clamp the predicted clean sample to ±`clip_sample_range` (DDIM, DDPM, Heun, LCM).
    public var clipSample: Bool?
    /// `clip_sample_range`: the bound used by `clip_sample`.
    public var clipSampleRange: Double?
    /// `set_alpha_to_one`: DDIM/PNDM/LCM's last step goes to alpha 1 (true) or to `alphas_cumprod[0]`.
    public var setAlphaToOne: Bool?
    /// `skip_prk_steps`: PNDM runs PLMS only (true for Stable Diffusion).
    public var skipPrkSteps: Bool?
    /// `rescale_betas_zero_snr`: rescale betas so the last timestep has zero SNR.
    public var rescaleBetasZeroSnr: Bool?
    /// `use_karras_sigmas`: the Karras et al. (2022) sigma spacing.
    public var useKarrasSigmas: Bool?
    /// `use_exponential_sigmas`: sigmas evenly spaced in log sigma.
    public var useExponentialSigmas: Bool?
    /// Not a diffusers key, never read from a model's config file: the sigma samplers take
    /// k-diffusion's sigmas for the schedule named (`NoiseSchedule.kDiffusionSigmas`: Karras and
    /// exponential between the training schedule's ends, fractional timesteps; with neither,
    /// k-diffusion's own uniform schedule, `SigmaSchedule.uniform`) rather than diffusers'; set by
    /// `makeSampler` for `SamplingConvention.kDiffusion` and the uniform schedule.
    public var kDiffusionSigmas: Bool? = nil
    /// `use_beta_sigmas`: sigmas spaced by a beta distribution (not supported).
    public var useBetaSigmas: Bool?
    /// `final_sigmas_type`: the sigma after the last step, `zero` or `sigma_min`.
    public var finalSigmasType: String?
    /// `thresholding`: dynamic thresholding of the clean sample (not supported when true).
    public var thresholding: Bool?
    /// `interpolation_type`: Euler's sigma interpolation, `linear` or `log_linear`.
    public var interpolationType: String?
    /// `timestep_type`: Euler's timesteps, `discrete` or `continuous`.
    public var timestepType: String?
    /// `algorithm_type`: the DPM-Solver variant (`dpmsolver++`, `sde-dpmsolver++`, ...) or DEIS's.
    public var algorithmType: String?
    /// `solver_type`: DPM-Solver's second-order rule (`midpoint`, `heun`) or UniPC's (`bh1`, `bh2`).
    public var solverType: String?
    /// `solver_order`: the order of the multistep solvers (2 for DPM++ 2M).
    public var solverOrder: Int?
    /// `lower_order_final`: multistep solvers use lower orders at the last steps (below 15 steps).
    public var lowerOrderFinal: Bool?
    /// `euler_at_final`: DPM-Solver uses a first-order step at the very end.
    public var eulerAtFinal: Bool?
    /// `variance_type`: DDPM's variance (`fixed_small`, ...) or DPM-Solver's (`learned_range`).
    public var varianceType: String?
    /// `original_inference_steps`: LCM's distillation step count (50).
    public var originalInferenceSteps: Int?
    /// `timestep_scaling`: LCM's boundary-condition scale (10).
    public var timestepScaling: Double?
    /// `shift`: flow-matching timestep shift (SD3: 3.0).
    public var shift: Double?
    /// `use_dynamic_shifting`: flow-matching shift chosen per image size (Flux; not supported when true).
    public var useDynamicShifting: Bool?
    /// `shift_terminal`: flow-matching sigmas stretched to end at this value (not supported).
    public var shiftTerminal: Double?
    /// `invert_sigmas`: flow-matching sigmas run from 0 to 1 (Mochi; not supported when true).
    public var invertSigmas: Bool?
    /// `stochastic_sampling`: flow-matching steps re-noise (not supported when true).
    public var stochasticSampling: Bool?

    /// Everything absent: each sampler's diffusers defaults.
    public init() {}

    /// The most training timesteps a config may ask for: diffusers models use 1000 (a few 4000);
    /// far more would only allocate schedules and underflow `alphas_cumprod` to 0.
    public static let maximumTrainTimesteps = 100_000

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case betaSchedule = "beta_schedule"
        case trainedBetas = "trained_betas"
        case predictionType = "prediction_type"
        case timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset"
        case clipSample = "clip_sample"
        case clipSampleRange = "clip_sample_range"
        case setAlphaToOne = "set_alpha_to_one"
        case skipPrkSteps = "skip_prk_steps"
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case finalSigmasType = "final_sigmas_type"
        case thresholding
        case interpolationType = "interpolation_type"
        case timestepType = "timestep_type"
        case algorithmType = "algorithm_type"
        case solverType = "solver_type"
        case solverOrder = "solver_order"
        case lowerOrderFinal = "lower_order_final"
        case eulerAtFinal = "euler_at_final"
        case varianceType = "variance_type"
        case originalInferenceSteps = "original_inference_steps"
        case timestepScaling = "timestep_scaling"
        case shift
        case useDynamicShifting = "use_dynamic_shifting"
        case shiftTerminal = "shift_terminal"
        case invertSigmas = "invert_sigmas"
        case stochasticSampling = "stochastic_sampling"
    }

    /// Checks the settings that apply to every sampler: known beta schedule, prediction type and
    /// spacing, and none of the options stipple does not implement.
    public func validate() throws(CheckpointError) {
        func bad(_ key: CodingKeys, _ value: String, _ valid: [String]) -> CheckpointError {
            CheckpointError(path: "", reason: .invalidConfig(
                "\(key.rawValue) = \(value) is not one of \(valid.joined(separator: ", "))"))
        }
        if let value = betaSchedule, trainedBetas == nil, !BetaSchedule.allCases.map(\.rawValue).contains(value) {
            throw bad(.betaSchedule, value, BetaSchedule.allCases.map(\.rawValue))
        }
        if let value = predictionType, PredictionType(rawValue: value) == nil {
            throw bad(.predictionType, value, PredictionType.allCases.map(\.rawValue))
        }
        if let value = timestepSpacing, TimestepSpacing(rawValue: value) == nil {
            throw bad(.timestepSpacing, value, TimestepSpacing.allCases.map(\.rawValue))
        }
        if let value = finalSigmasType, !["zero", "sigma_min"].contains(value) {
            throw bad(.finalSigmasType, value, ["zero", "sigma_min"])
        }
        if let steps = numTrainTimesteps, steps < 2 || steps > Self.maximumTrainTimesteps {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "num_train_timesteps = \(steps) must be between 2 and \(Self.maximumTrainTimesteps)"))
        }
        // diffusers sizes the spacing by num_train_timesteps (default 1000) and the schedule by
        // trained_betas, so lengths that differ index past one or the other.
        if let betas = trainedBetas, betas.count != numTrainTimesteps ?? 1000 {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "trained_betas has \(betas.count) values, num_train_timesteps is \(numTrainTimesteps ?? 1000)"))
        }
        if let betas = trainedBetas, let i = betas.firstIndex(where: { !($0 > 0 && $0 < 1) }) {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "trained_betas[\(i)] = \(betas[i]) must be between 0 and 1 (exclusive)"))
        }
        // Betas outside (0, 1) make alphas_cumprod negative, 0 or above 1: sigmas that are NaN,
        // 0 or infinite. The cosine schedule ignores both keys.
        if trainedBetas == nil, betaSchedule != BetaSchedule.cosine.rawValue {
            for (key, value) in [(CodingKeys.betaStart, betaStart), (.betaEnd, betaEnd)] {
                if let value, !(value > 0 && value < 1) {
                    throw CheckpointError(path: "", reason: .invalidConfig(
                        "\(key.rawValue) = \(value) must be between 0 and 1 (exclusive)"))
                }
            }
        }
        if let offset = stepsOffset, offset < 0 || offset >= numTrainTimesteps ?? 1000 {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "steps_offset = \(offset) must be between 0 and num_train_timesteps - 1 (\((numTrainTimesteps ?? 1000) - 1))"))
        }
        if let range = clipSampleRange, !(range > 0 && range.isFinite) {
            throw CheckpointError(path: "", reason: .invalidConfig("clip_sample_range = \(range) must be a positive number"))
        }
        if let steps = originalInferenceSteps, steps < 1 {
            throw CheckpointError(path: "", reason: .invalidConfig("original_inference_steps = \(steps) must be at least 1"))
        }
        if let scaling = timestepScaling, !scaling.isFinite {
            throw CheckpointError(path: "", reason: .invalidConfig("timestep_scaling = \(scaling) must be a finite number"))
        }
        if let shift, !(shift > 0 && shift.isFinite) {
            throw CheckpointError(path: "", reason: .invalidConfig("shift = \(shift) must be a positive number"))
        }
        if thresholding == true {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: "thresholding", value: "true", note: "dynamic thresholding is for pixel-space models"))
        }
        if useBetaSigmas == true {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "use_beta_sigmas", value: "true", note: ""))
        }
        for (key, on) in [(CodingKeys.useDynamicShifting, useDynamicShifting), (.invertSigmas, invertSigmas),
                          (.stochasticSampling, stochasticSampling)] where on == true {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: key.rawValue, value: "true", note: "stipple's flow sampler uses a fixed shift"))
        }
        if let terminal = shiftTerminal, terminal != 0 {
            throw CheckpointError(path: "", reason: .unsupportedConfig(
                key: CodingKeys.shiftTerminal.rawValue, value: "\(terminal)", note: "stipple's flow sampler uses a fixed shift"))
        }
        if useKarrasSigmas == true, useExponentialSigmas == true {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "use_karras_sigmas and use_exponential_sigmas cannot both be true"))
        }
    }
}
