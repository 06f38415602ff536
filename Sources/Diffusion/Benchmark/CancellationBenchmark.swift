import Foundation
import Tensor

/// How long a cancel takes to land in the middle of a full-size model call: the UNet (batch of
/// 2, as with classifier-free guidance) and the VAE decoder run on a background thread with
/// `GenerationControl`'s per-layer check; the control is cancelled at several points into the
/// call and the time from `cancel()` to the call returning is recorded.
public struct CancellationBenchmark: Sendable {
    public var architecture: Architecture
    public var width: Int
    public var height: Int

    public init(architecture: Architecture, width: Int = 512, height: Int = 512) {
        self.architecture = architecture
        self.width = width
        self.height = height
    }

    /// One measurement.
    public struct Sample: Sendable {
        public var component: ComponentBenchmark.Component
        /// Seconds into the call when cancel() was called.
        public var cancelAfter: Double
        /// Seconds from cancel() until the call returned.
        public var latency: Double
    }

    /// Cancels each component's call after each of `delays` seconds.
    public func run(delays: [Double] = [0.5, 1.7, 3.1, 4.3]) throws -> [Sample] {
        let weights = RandomWeights()
        let (latentHeight, latentWidth) = (height / 8, width / 8)
        let unetConfig = try architecture.unetConfig()
        let unet = try UNet2DConditionModel(config: unetConfig, weights: weights)
        let sample = try weights.tensor("input.latent", shape: [2, 4, latentHeight, latentWidth])
        let context = try weights.tensor("input.context", shape: [2, 77, unetConfig.crossAttentionDim])
        let added = try ComponentBenchmark.addedConditioning(unetConfig, weights: weights, batch: 2, width: width, height: height)
        var results: [Sample] = []
        for delay in delays {
            results.append(measure(.unetBatch2, after: delay) { check in
                _ = try unet(sample, timesteps: [500, 500], context: context, added: added, check: check)
            })
        }
        let vae = try AutoencoderKL(config: try architecture.vaeConfig(), weights: weights)
        let latent = try weights.tensor("input.latent", shape: [1, 4, latentHeight, latentWidth])
        for delay in delays {
            results.append(measure(.vaeDecode, after: delay) { check in _ = try vae.decode(latent, check: check) })
        }
        return results
    }

    /// Starts `call` on another thread, cancels after `delay` seconds, and times the stop.
    func measure(_ component: ComponentBenchmark.Component, after delay: Double,
                 _ call: @escaping @Sendable (() throws -> Void) throws -> Void) -> Sample {
        let control = GenerationControl()
        let finished = DispatchSemaphore(value: 0)
        let stopped = Stopwatch()
        Thread.detachNewThread {
            _ = try? call { try control.check() }
            stopped.mark()
            finished.signal()
        }
        Thread.sleep(forTimeInterval: delay)
        let cancelled = Date()
        control.cancel()
        finished.wait()
        let latency = max(0, stopped.time.timeIntervalSince(cancelled))
        return Sample(component: component, cancelAfter: delay, latency: latency)
    }

    final class Stopwatch: Sendable {
        private let marked = Locked(Date())
        func mark() { marked.withLock { $0 = Date() } }
        var time: Date { marked.withLock { $0 } }
    }
}
