import Parallel
import Tensor

/// A denoiser whose weights live in memory of its own (`--weight-type` converted them at load)
/// and can be let go when it is not needed: `unload()` drops it, and the next call builds it again
/// from its weight source (the file stays mapped; converting SD1.5's UNet again takes a few
/// seconds). One-shot `generate` unloads it before the last image's VAE decode, so the decode's
/// working memory does not come on top of 1.7 GB of UNet. A call in progress keeps the instance it
/// started with alive until it returns; nothing is freed under it.
public final class ReloadingDenoiser: Denoiser {
    private let load: @Sendable () throws -> any Denoiser
    private let loaded: Locked<(any Denoiser)?>

    public let parameterisation: Parameterisation
    public let latentChannels: Int
    public let contextWidth: Int
    public let activationChannels: Int
    public let sampleSize: Int?
    public let embedsGuidance: Bool

    /// Builds the denoiser with `load` now (so a broken checkpoint fails at load, not at the
    /// first step) and keeps it until `unload()`.
    public init(load: @escaping @Sendable () throws -> any Denoiser) throws {
        let first = try load()
        self.load = load
        loaded = Locked(first)
        parameterisation = first.parameterisation
        latentChannels = first.latentChannels
        contextWidth = first.contextWidth
        activationChannels = first.activationChannels
        sampleSize = first.sampleSize
        embedsGuidance = first.embedsGuidance
    }

    /// Whether the weights are in memory now.
    public var isLoaded: Bool { loaded.withLock { $0 != nil } }

    public func unload() {
        loaded.withLock { $0 = nil }
    }

    /// The loaded denoiser, built again first when it was let go.
    func current() throws -> any Denoiser {
        try loaded.withLock { denoiser in
            if let denoiser { return denoiser }
            let fresh = try load()
            denoiser = fresh
            return fresh
        }
    }

    public func callAsFunction(_ latents: Tensor, timesteps: [Float], conditioning: Conditioning,
                               check: () throws -> Void) throws -> Tensor {
        let denoiser = try current()
        return try denoiser.callAsFunction(latents, timesteps: timesteps, conditioning: conditioning, check: check)
    }
}
