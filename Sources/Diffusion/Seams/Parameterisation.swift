/// What a denoiser's output means: the target it was trained on. The model states it (today from
/// its scheduler config's `prediction_type` and class); samplers read the output accordingly and
/// the pipeline refuses a sampler built for the other kind of model.
public enum Parameterisation: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The noise that was added (SD 1.x, SD 2.x-base, SDXL).
    case epsilon
    /// `alpha * noise - sigma * x0` (SD 2.x-768).
    case vPrediction = "v_prediction"
    /// The clean sample itself.
    case sample
    /// The velocity `noise - x0` of a rectified flow `x = (1 - sigma) x0 + sigma noise` (SD3, Flux).
    case flow

    /// The parameterisation a diffusers scheduler config states: a flow-matching scheduler class
    /// means a flow model, otherwise `prediction_type` (default epsilon).
    public init(scheduler config: SchedulerConfig) {
        if config.className?.hasPrefix("FlowMatch") == true {
            self = .flow
        } else {
            self = Parameterisation(PredictionType(config: config))
        }
    }

    /// A diffusion model's prediction type.
    public init(_ prediction: PredictionType) {
        switch prediction {
        case .epsilon: self = .epsilon
        case .vPrediction: self = .vPrediction
        case .sample: self = .sample
        }
    }

    /// Whether the model is a flow-matching one (flow samplers only) rather than a diffusion one.
    public var isFlow: Bool { self == .flow }

    /// For messages: "epsilon", "v-prediction", "sample" or "flow velocity".
    public var description: String {
        switch self {
        case .epsilon: "epsilon"
        case .vPrediction: "v-prediction"
        case .sample: "sample"
        case .flow: "flow velocity"
        }
    }
}

extension Sampler {
    /// Why this sampler cannot drive a model of `parameterisation` (nil when it can): flow
    /// samplers integrate a velocity, diffusion samplers read noise, v or x0 predictions.
    /// `name` is how the request named the sampler.
    public func mismatch(with parameterisation: Parameterisation, name: String) -> String? {
        switch (flowMatching, parameterisation.isFlow) {
        case (true, false):
            "sampler \(name) is for flow-matching models, but this model predicts \(parameterisation) "
                + "(a diffusion model); choose a diffusion sampler such as euler_a"
        case (false, true):
            "sampler \(name) is for diffusion models, but this model predicts \(parameterisation) "
                + "(a flow-matching model); choose flow_euler"
        default:
            nil
        }
    }
}
