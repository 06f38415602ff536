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
            work = { _ = model.encode(tokens: tokens) }
        case .unetBatch1, .unetBatch2:
            let config = try architecture.unetConfig()
            let model = try UNet2DConditionModel(config: config, weights: weights)
            let batch = component == .unetBatch1 ? 1 : 2
            let sample = try weights.tensor("input.latent", shape: [batch, 4, latentHeight, latentWidth])
            let context = try weights.tensor("input.context", shape: [batch, 77, config.crossAttentionDim])
            work = { _ = model(sample, timesteps: [Float](repeating: 500, count: batch), context: context) }
        case .vaeDecode, .vaeEncode:
            let model = try AutoencoderKL(config: try architecture.vaeConfig(), weights: weights)
            if component == .vaeDecode {
                let latent = try weights.tensor("input.latent", shape: [1, 4, latentHeight, latentWidth])
                work = { _ = model.decode(latent) }
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

    /// The process's peak resident memory so far, in MiB (as `stipple bench` has always printed it).
    public static var peakResidentMegabytes: Double {
        Double(ResidentMemory.peakBytes) / 1_048_576
    }
}
