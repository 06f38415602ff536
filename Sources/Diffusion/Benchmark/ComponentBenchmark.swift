import Foundation
import Tensor

/// Times the three networks of a full-size architecture on random weights, the way
/// `tools/bench_torch.py` times PyTorch's: one untimed warm-up run, then the median of `runs`.
/// Each component is built just before it is timed and released after, so peak memory is the
/// largest single component plus its activations.
public struct ComponentBenchmark: Sendable {
    /// What can be timed.
    public enum Component: String, Sendable, CaseIterable {
        /// CLIP text encoder, one 77-token prompt.
        case textEncoder = "text_encoder"
        /// UNet, one latent.
        case unetBatch1 = "unet_batch1"
        /// UNet, two latents (the conditional and unconditional halves of classifier-free guidance).
        case unetBatch2 = "unet_batch2"
        /// VAE decoder, latent to image.
        case vaeDecode = "vae_decode"
        /// VAE decoder in overlapping tiles of the VAE's sample size (diffusers' `enable_tiling()`
        /// defaults: 512 for SD 1.5, 1024 for SDXL), as `TiledDecoder` decodes large images.
        case vaeDecodeTiled = "vae_decode_tiled"
        /// VAE encoder, image to latent distribution.
        case vaeEncode = "vae_encode"
    }

    /// One component's figures.
    public struct Result: Sendable {
        public var component: Component
        /// Median wall time of the timed runs, seconds.
        public var medianSeconds: Double
        /// Floating-point operations of one run (2 per multiply-add).
        public var operations: Int

        /// Achieved GFLOP/s.
        public var gflops: Double { Double(operations) / medianSeconds / 1e9 }
    }

    /// The architecture.
    public var architecture: Architecture
    /// Image width in pixels (a multiple of 8).
    public var width: Int = 512
    /// Image height in pixels (a multiple of 8).
    public var height: Int = 512
    /// Timed runs per component (after one warm-up).
    public var runs: Int = 3
    /// The precision the large weights are kept in (nil: Float32, as `RandomWeights` makes them).
    public var weightType: WeightType?

    public init(architecture: Architecture, width: Int = 512, height: Int = 512, runs: Int = 3, weightType: WeightType? = nil) {
        self.architecture = architecture
        self.width = width
        self.height = height
        self.runs = runs
        self.weightType = weightType
    }

    /// Times one component.
    public func run(_ component: Component) throws -> Result {
        let weights = RandomWeights().keeping(weightType)
        let (latentHeight, latentWidth) = (height / 8, width / 8)
        let work: () -> Void
        switch component {
        case .textEncoder:
            let config = try architecture.textEncoderConfig()
            let model = try CLIPTextModel(config: config, weights: weights)
            let tokens = [[49406] + (0..<75).map { 320 + $0 * 97 % 40000 } + [49407]]
            if let secondConfig = try architecture.textEncoder2Config() {
                // SDXL: both encoders whole (as PyTorch's `output_hidden_states` run), bigG's pooled
                // output through its projection.
                let second = try CLIPTextModel(config: secondConfig, weights: weights)
                let projection = try Linear(weights, "text_projection", input: secondConfig.hiddenSize,
                                            output: secondConfig.projectionDim, bias: false)
                work = {
                    _ = model.hiddenStates(tokens: tokens)
                    let last = second.hiddenStates(tokens: tokens)[secondConfig.numHiddenLayers]
                    let end = tokens[0].count - 1, hidden = secondConfig.hiddenSize
                    let pooled = Tensor(shape: [1, hidden], values: Array(last.storage[(end * hidden)..<((end + 1) * hidden)]))
                    _ = projection(second.applyFinalLayerNorm(pooled))
                }
            } else {
                work = { _ = model.encode(tokens: tokens) }
            }
        case .unetBatch1, .unetBatch2:
            let config = try architecture.unetConfig()
            let model = try UNet2DConditionModel(config: config, weights: weights)
            let batch = component == .unetBatch1 ? 1 : 2
            let sample = try weights.tensor("input.latent", shape: [batch, 4, latentHeight, latentWidth])
            let context = try weights.tensor("input.context", shape: [batch, 77, config.crossAttentionDim])
            let added = try Self.addedConditioning(config, weights: weights, batch: batch, width: width, height: height)
            work = { _ = model(sample, timesteps: [Float](repeating: 500, count: batch), context: context, added: added) }
        case .vaeDecode, .vaeDecodeTiled, .vaeEncode:
            let config = try architecture.vaeConfig()
            let model = try AutoencoderKL(config: config, weights: weights)
            if component == .vaeDecode {
                let latent = try weights.tensor("input.latent", shape: [1, 4, latentHeight, latentWidth])
                work = { _ = model.decode(latent) }
            } else if component == .vaeDecodeTiled {
                let latent = try weights.tensor("input.latent", shape: [1, 4, latentHeight, latentWidth])
                let tiled = TiledDecoder(model, tile: config.sampleSize ?? 512)
                work = { _ = try? tiled.decode(latents: latent, check: {}) }
            } else {
                let image = try weights.tensor("input.image", shape: [1, 3, height, width])
                work = { _ = model.encode(image) }
            }
        }
        let before = OperationCount.current
        work()  // warm-up, and the operation count of one run
        let operations = OperationCount.current - before
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let elapsed = clock.measure(work)
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        return Result(component: component, medianSeconds: median, operations: operations)
    }

    /// SDXL's pooled text [batch, P] and size ids [batch, 6] (original = target = the image size,
    /// no crop) for a UNet that takes them; nil for SD 1.x / 2.x.
    static func addedConditioning(_ config: UNet2DConditionConfig, weights: any WeightSource, batch: Int,
                                  width: Int, height: Int) throws -> (pooled: Tensor, timeIds: Tensor)? {
        guard let input = config.projectionClassEmbeddingsInputDim, let idWidth = config.additionTimeEmbedDim else { return nil }
        let pooled = try weights.tensor("input.pooled", shape: [batch, input - 6 * idWidth])
        let ids = (0..<batch).flatMap { _ in [height, width, 0, 0, height, width].map(Float.init) }
        return (pooled, Tensor(shape: [batch, 6], values: ids))
    }

    /// The process's peak resident memory so far, in MiB (as `stipple bench` has always printed it).
    public static var peakResidentMegabytes: Double {
        Double(ResidentMemory.peakBytes) / 1_048_576
    }
}
