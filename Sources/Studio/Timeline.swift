import Diffusion
import Foundation

/// Every step's previews of one generated image, kept so a person can scrub back and forth through
/// the denoising and toggle between the model's clean-image estimate and the noisy latent.
public struct Timeline: Sendable, Equatable {
    /// One sampling step.
    public struct Frame: Sendable, Equatable {
        /// 1-based step.
        public var step: Int
        public var total: Int
        public var timestep: Float
        public var denoised: PixelImage?
        public var noisy: PixelImage?
        /// How the step moved the sample (the trajectory view).
        public var trajectory: TrajectoryStep?

        public init(step: Int, total: Int, timestep: Float, denoised: PixelImage?, noisy: PixelImage?,
                    trajectory: TrajectoryStep? = nil) {
            (self.step, self.total, self.timestep, self.denoised, self.noisy) = (step, total, timestep, denoised, noisy)
            self.trajectory = trajectory
        }

        public func image(_ latent: PreviewLatent) -> PixelImage? { latent == .denoised ? denoised : noisy }
    }

    /// The settings that made the image (its own seed, for a batch's later images).
    public var request: GenerationRequest
    public var seed: UInt64
    public var frames: [Frame] = []
    /// The decoded image, once the run finished.
    public var final: PixelImage?
    /// The model the run used: frames saved later (Ctrl-S, the contact sheet) name it even when
    /// another model has been loaded since. Nil where unknown.
    public var model: ModelUse?

    public init(request: GenerationRequest, seed: UInt64, model: ModelUse? = nil) {
        self.request = request
        self.seed = seed
        self.model = model
    }

    /// Adds a step's previews (steps without a preview, as `full` previews between decodes, are
    /// kept too: scrubbing shows the nearest earlier frame that has one).
    public mutating func append(_ progress: StepProgress) {
        frames.append(Frame(step: progress.step, total: progress.total, timestep: progress.timestep,
                            denoised: progress.preview(of: .denoised), noisy: progress.preview(of: .noisy),
                            trajectory: progress.trajectory))
    }

    /// The path's straightness so far: the distance from the first sample to the latest over the
    /// length of the path walked (1: a straight line; a quarter circle 0.90); nil before a step.
    public var straightness: Double? {
        let steps = frames.compactMap(\.trajectory)
        guard let last = steps.last else { return nil }
        let length = steps.reduce(0.0) { $0 + Double($1.movement) }
        return length > 0 ? Double(last.fromStart) / length : nil
    }

    /// The image to show at frame `index` (nil: the latest), for `latent`: the frame's own preview,
    /// else the nearest earlier one's; the final image when following the latest of a finished run.
    public func image(at index: Int?, latent: PreviewLatent) -> (image: PixelImage, step: Int?)? {
        if index == nil, let final { return (final, nil) }
        guard !frames.isEmpty else { return nil }
        let last = min(index ?? frames.count - 1, frames.count - 1)
        for i in stride(from: last, through: 0, by: -1) {
            if let image = frames[i].image(latent) { return (image, frames[i].step) }
        }
        return nil
    }

    /// Frames that have a preview of `latent`, for the contact sheet.
    public func framesWithPreviews(_ latent: PreviewLatent) -> [(step: Int, image: PixelImage)] {
        frames.compactMap { frame in frame.image(latent).map { (frame.step, $0) } }
    }
}

/// The model a generation used (a loaded one, or a server's checkpoint) and its A1111 hash
/// (computed in the background for a loaded one; the server's, when it gives one).
public struct ModelUse: Sendable, Equatable {
    public let target: ModelTarget
    public let hash: ModelHashTask

    public init(target: ModelTarget, hash: ModelHashTask) {
        (self.target, self.hash) = (target, hash)
    }

    /// A loaded model, its hash computed in the background from now.
    public init(model: StableDiffusionModel) {
        self.init(target: .embedded(model), hash: ModelHashTask(model: model))
    }

    /// `target` with the hash it already carries (a server's checkpoint), or computed.
    public init(target: ModelTarget) {
        switch target {
        case .embedded(let model): self.init(model: model)
        case .remote(let checkpoint): self.init(target: target, hash: ModelHashTask(known: checkpoint.hash))
        }
    }

    public static func == (a: ModelUse, b: ModelUse) -> Bool {
        guard a.hash === b.hash else { return false }
        switch (a.target, b.target) {
        case (.embedded(let x), .embedded(let y)): return x === y
        case (.remote(let x), .remote(let y)): return x == y
        default: return false
        }
    }
}
