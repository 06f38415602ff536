import Foundation
import Tensor

/// What a running generation reports to its observer, in order: for each image `started`, one
/// `step` per model call, `decoding`, `image`; then `finished` (or `failed` / `cancelled`).
public enum GenerationEvent: Sendable {
    case started(ImageStart)
    case step(StepProgress)
    /// The VAE is turning the final latents into pixels.
    case decoding(imageIndex: Int)
    case image(GeneratedImage)
    case finished([GeneratedImage])
    /// Something the run goes on without (a LoRA module that fits no layer, an unknown prompt
    /// tag); one line, before the first image starts.
    case warning(String)
    case failed(String)
    case cancelled
}

/// One image of a run begins.
public struct ImageStart: Sendable {
    public var imageIndex: Int
    public var imageCount: Int
    public var seed: UInt64
    /// Model calls this image will take (img2img: fewer than the requested steps).
    public var steps: Int

    public init(imageIndex: Int, imageCount: Int, seed: UInt64, steps: Int) {
        (self.imageIndex, self.imageCount, self.seed, self.steps) = (imageIndex, imageCount, seed, steps)
    }
}

/// One step done.
public struct StepProgress: Sendable {
    public var imageIndex: Int
    public var imageCount: Int
    /// 1-based step within this image.
    public var step: Int
    public var total: Int
    /// The timestep the model was called at.
    public var timestep: Float
    /// Seconds of sampling for this image so far (time paused between steps not counted).
    public var elapsed: Double
    /// Steps per second so far.
    public var stepsPerSecond: Double
    /// A preview of the latent after this step, when the request asked for one (and, for `full`,
    /// on the steps it is due).
    public var preview: PixelImage?
    /// Which latent `preview` shows (the request's `previewLatent`).
    public var previewLatent: PreviewLatent
    /// The other latent's preview, when the request asked for both.
    public var otherPreview: PixelImage?
    /// How this step moved the sample (the trajectory view's plot).
    public var trajectory: TrajectoryStep?

    public init(imageIndex: Int, imageCount: Int, step: Int, total: Int, timestep: Float, elapsed: Double,
                stepsPerSecond: Double, preview: PixelImage?, previewLatent: PreviewLatent = .denoised,
                otherPreview: PixelImage? = nil) {
        (self.imageIndex, self.imageCount, self.step, self.total) = (imageIndex, imageCount, step, total)
        (self.timestep, self.elapsed, self.stepsPerSecond, self.preview) = (timestep, elapsed, stepsPerSecond, preview)
        (self.previewLatent, self.otherPreview) = (previewLatent, otherPreview)
    }

    /// The preview of `latent` at this step, if one was made.
    public func preview(of latent: PreviewLatent) -> PixelImage? {
        latent == previewLatent ? preview : otherPreview
    }

    /// Seconds left at the current rate.
    public var eta: Double { stepsPerSecond > 0 ? Double(total - step) / stepsPerSecond : 0 }
}

/// How one sampling step moved the sample, measured on the latent the model sees (the sampler's
/// `scaleModelInput`: variance-preserving for every sampler, so DDIM's, Euler's and a flow's paths
/// compare) and on the clean-sample estimate. RMS over the latent's elements.
///
/// A straight path (rectified flow with Euler) has `fromStart` equal to the summed `movement`
/// and an estimate that stops changing; a diffusion model's path from noise to image bends (in the
/// variance-preserving space the sample keeps about unit size all the way: a quarter circle
/// between noise and image has chord / arc = 0.90).
public struct TrajectoryStep: Sendable, Equatable {
    /// RMS distance from the sample before this step to the one after it.
    public var movement: Float
    /// RMS distance from the first step's sample to the one after this step.
    public var fromStart: Float
    /// RMS change of the clean-sample estimate since the previous step (0 at the first).
    public var estimateChange: Float

    public init(movement: Float, fromStart: Float, estimateChange: Float) {
        (self.movement, self.fromStart, self.estimateChange) = (movement, fromStart, estimateChange)
    }

    /// RMS of `a - b` (same shapes); 0 when empty.
    static func rms(_ a: Tensor, _ b: Tensor) -> Float {
        let count = min(a.count, b.count)
        guard count > 0 else { return 0 }
        var sum: Double = 0
        a.storage.withUnsafeBufferPointer { x in
            b.storage.withUnsafeBufferPointer { y in
                for i in 0..<count {
                    let d = Double(x[i]) - Double(y[i])
                    sum += d * d
                }
            }
        }
        return Float((sum / Double(count)).squareRoot())
    }
}

/// A finished image and the settings that made it.
public struct GeneratedImage: Sendable {
    public var image: PixelImage
    /// Its own seed (the run's seed + its index).
    public var seed: UInt64
    public var imageIndex: Int
    /// The request, resolved: size and seed filled in.
    public var request: GenerationRequest
    /// The latents before decoding (nil for an image a server made: servers send pixels).
    public var latents: Tensor?
    /// Seconds for this image, conditioning excluded.
    public var seconds: Double
    /// The LoRAs the prompt applied, with A1111's short hashes (its `Lora hashes` field).
    public var loraHashes: [NamedHash] = []
    /// What the server that made the image said of it (nil for the embedded engine's).
    public var serverRecord: ServerRecord?

    public init(image: PixelImage, seed: UInt64, imageIndex: Int, request: GenerationRequest, latents: Tensor?,
                seconds: Double, loraHashes: [NamedHash] = [], serverRecord: ServerRecord? = nil) {
        (self.image, self.seed, self.imageIndex, self.request) = (image, seed, imageIndex, request)
        (self.latents, self.seconds, self.loraHashes, self.serverRecord) = (latents, seconds, loraHashes, serverRecord)
    }
}

/// A file used by name in a prompt (a LoRA, an embedding) and its short hash, for the infotext.
public struct NamedHash: Sendable, Equatable {
    public var name: String
    public var hash: String

    public init(name: String, hash: String) {
        self.name = name
        self.hash = hash
    }
}
