import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Issue 12 on the bundled model (samples/shapes-64) through `Pipeline`: every request either
/// produces a finite image or is refused before any model work, never traps. The suite runs every
/// sampler at 1 to 4 steps at 8x8 (CFG 0 and 7, txt2img and img2img at strengths 0.01, 0.3, 1);
/// `STIPPLE_SWEEP=full` (tools/sweep.sh) runs every sampler x schedule x steps 1...60 at 8x8,
/// CFG {0, 1, 30} and img2img {0.01, 0.3, 1} at eight step counts, sizes 16...256 at 1 and 4
/// steps and 1000 steps per sampler, and prints the counts (see `fullSweep`).
///
/// The loop is `Pipeline.run`'s, split so a NaN is reported instead of reaching
/// `PixelImage(decoded:)` (which traps on NaN; previews are off for the same reason).
@Suite(.serialized) struct PipelineSweepTests {
    static let model: StableDiffusionModel? = try? StableDiffusionModel(folder: SamplerSweepTests.bundledFolder.path)

    /// What one request did.
    enum Outcome: Equatable {
        /// A finite image.
        case finite
        /// Refused before sampling, with the error's line.
        case refused(String)
        /// Latents with NaN or infinity.
        case nonFinite
        /// An error after sampling had started.
        case failedLate(String)
    }

    /// One request: `Pipeline.run`'s checks, conditioning, sampling loop and decode.
    static func outcome(_ pipeline: Pipeline, _ request: GenerationRequest) -> Outcome {
        var request = request
        let guided = request.cfgScale != 1
        do {
            try request.validate(for: pipeline.model)
            (request.width, request.height) = request.size(for: pipeline.model)
            _ = try pipeline.checkedSampler(request)
        } catch {
            return .refused(error.description)
        }
        let control = GenerationControl()
        let latents: Tensor
        do {
            let (positive, negative) = try pipeline.conditioning(request, guided: guided)
            let context = guided ? (negative ?? positive).batched(with: positive) : positive
            latents = try pipeline.sample(request, index: 0, context: context, guided: guided, control: control,
                                          observer: { _ in })
        } catch {
            // The only refusal `sample` makes is an img2img strength that leaves no steps, before
            // the VAE encodes anything.
            return error.description.contains("leaves no steps") ? .refused(error.description) : .failedLate(error.description)
        }
        guard latents.storage.allSatisfy(\.isFinite) else { return .nonFinite }
        do {
            let image = try pipeline.decode(latents, control: control)
            return image.rgb.count == request.width! * request.height! * 3 ? .finite : .failedLate("image size")
        } catch {
            return .failedLate(error.description)
        }
    }

    /// A request on the bundled model; img2img with a gradient init image when `strength` is set.
    static func request(_ sampler: SamplerName, _ schedule: SigmaSchedule, steps: Int, cfg: Double, size: Int,
                        strength: Double?) -> GenerationRequest {
        var request = GenerationRequest(prompt: "a red circle")
        (request.sampler, request.schedule, request.steps, request.cfgScale) = (sampler, schedule, steps, cfg)
        (request.width, request.height, request.seed, request.preview) = (size, size, 1, .off)
        if let strength {
            request.initImage = PixelImage(width: size, height: size,
                                           rgb: (0..<size * size * 3).map { UInt8(($0 * 7) % 256) })
            request.strength = strength
        }
        return request
    }

    /// Counts of a sweep; `record` files an issue for each case that is neither finite nor refused.
    struct Tally {
        var finite = 0, refused = 0, failed = 0
        var nonFinite: [String] = []
        var refusals: [String: Int] = [:]

        mutating func record(_ outcome: Outcome, _ label: String) {
            switch outcome {
            case .finite: finite += 1
            case .refused(let why):
                refused += 1
                refusals[why, default: 0] += 1
            case .nonFinite:
                failed += 1
                nonFinite.append(label)
                Issue.record("\(label): latents not finite")
            case .failedLate(let why):
                failed += 1
                Issue.record("\(label): failed after sampling started: \(why)")
            }
        }
    }

    /// The cases of one grid: every sampler and the schedules it accepts.
    static func cases(steps: [Int], cfgs: [Double], sizes: [Int], strengths: [Double?]) -> [GenerationRequest] {
        var requests: [GenerationRequest] = []
        for sampler in SamplerName.allCases {
            for convention in SamplingConvention.allCases {
                // k-diffusion's way only where it changes the sampler (as SamplerSweepTests).
                for schedule in SigmaSchedule.allCases where sampler.supports(schedule, convention: convention)
                    && (convention == .diffusers || sampler == .dpmpp2M || (sampler.supports(.uniform) && sampler != .default)) {
                    for size in sizes {
                        for step in steps {
                            for cfg in cfgs {
                                for strength in strengths {
                                    var r = request(sampler, schedule, steps: step, cfg: cfg, size: size, strength: strength)
                                    r.samplingConvention = convention
                                    requests.append(r)
                                }
                            }
                        }
                    }
                }
            }
        }
        return requests
    }

    static func label(_ r: GenerationRequest) -> String {
        "\(r.sampler.rawValue) \(r.schedule.rawValue) \(r.samplingConvention.rawValue) \(r.steps) steps cfg \(r.cfgScale) \(r.width ?? 0)px"
            + (r.initImage == nil ? " txt2img" : " img2img \(r.strength)")
    }

    /// The suite's subset: every sampler, default schedule, 1...4 steps, CFG 0 and 7, 8x8;
    /// img2img at 4 steps.
    @Test func everySamplerOnTheBundledModel() throws {
        let model = try #require(Self.model, "samples/shapes-64 did not load")
        let pipeline = Pipeline(model: model)
        var tally = Tally()
        for sampler in SamplerName.allCases {
            for steps in 1...4 {
                for cfg in [0.0, 7] {
                    let r = Self.request(sampler, .model, steps: steps, cfg: cfg, size: 8, strength: nil)
                    tally.record(Self.outcome(pipeline, r), Self.label(r))
                }
            }
            for strength in [0.01, 0.3, 1] {
                let r = Self.request(sampler, .model, steps: 4, cfg: 7, size: 8, strength: strength)
                tally.record(Self.outcome(pipeline, r), Self.label(r))
            }
            // An A1111 image's way: k-diffusion's samplers, Philox noise with a variation seed and
            // ENSD, a prompt with editing and AND (per-step conditioning, a batch of three).
            for steps in 1...4 {
                for cfg in [0.0, 7] {
                    var r = Self.request(sampler, .model, steps: steps, cfg: cfg, size: 8, strength: steps == 4 ? 0.3 : nil)
                    (r.samplingConvention, r.noiseSource, r.variationSeed, r.variationStrength, r.noiseSeedDelta) =
                        (.kDiffusion, .gpu, 9, 0.4, 31337)
                    r.prompt = "a [red:blue:0.5] circle AND a [square|triangle]:0.5"
                    tally.record(Self.outcome(pipeline, r), Self.label(r) + " k-diffusion AND")
                }
            }
        }
        #expect(tally.failed == 0)
        // PNDM at 1 step has no PRK timesteps and strength 0.01 leaves no steps: refusals, not
        // failures. The flow sampler is refused on this (v-prediction) model before any work; it
        // is tested against diffusers' FlowMatchEulerDiscreteScheduler at the sampler level
        // (SamplerParityTests, SamplerSweepTests).
        #expect(tally.finite > 0)
        let flow = Self.outcome(pipeline, Self.request(.flowEuler, .model, steps: 4, cfg: 7, size: 8, strength: nil))
        #expect(flow == .refused("sampler flow_euler is for flow-matching models, but this model predicts v-prediction "
                                 + "(a diffusion model); choose a diffusion sampler such as euler_a"))
    }

    /// The whole grid (`STIPPLE_SWEEP=full`): prints cases run, refused, failed and wall time.
    @Test(.enabled(if: SamplerSweepTests.full)) func fullSweep() throws {
        let model = try #require(Self.model, "samples/shapes-64 did not load")
        let pipeline = Pipeline(model: model)
        let clock = ContinuousClock()
        let started = clock.now
        // A step is about 7 ms at 8x8 here, so the grid is cut where it matters least: every
        // step count at CFG 7, the other CFGs and img2img at the counts where samplers change
        // shape (orders, warm-ups, lower-order ends), sizes at 1 and 4 steps, 1000 steps once
        // per sampler.
        let few = [1, 2, 3, 4, 5, 10, 25, 60]
        var grids: [(String, [GenerationRequest])] = [
            ("8px steps 1...60 cfg 7", Self.cases(steps: Array(1...60), cfgs: [7], sizes: [8], strengths: [nil])),
            ("8px cfg 0/1/30", Self.cases(steps: few, cfgs: [0, 1, 30], sizes: [8], strengths: [nil])),
            ("8px img2img", Self.cases(steps: few, cfgs: [7], sizes: [8], strengths: [0.01, 0.3, 1])),
            ("sizes", Self.cases(steps: [1, 4], cfgs: [7], sizes: [16, 64, 128, 256], strengths: [nil, 0.3])),
            ("1000 steps", SamplerName.allCases.map { Self.request($0, .model, steps: 1000, cfg: 1, size: 8, strength: nil) }),
        ]
        if let only = ProcessInfo.processInfo.environment["STIPPLE_SWEEP_GRID"] {
            grids = grids.filter { $0.0.hasPrefix(only) }
        }
        var total = Tally()
        for (name, requests) in grids {
            let gridStart = clock.now
            var tally = Tally()
            for r in requests { tally.record(Self.outcome(pipeline, r), Self.label(r)) }
            let seconds = Double((clock.now - gridStart).components.seconds)
            print("pipeline sweep \(name): \(requests.count) cases, \(tally.finite) finite, \(tally.refused) refused, "
                  + "\(tally.failed) failed, \(seconds) s")
            for (why, count) in tally.refusals.sorted(by: { $0.value > $1.value }) { print("  refused \(count)x: \(why)") }
            for label in tally.nonFinite { print("  NaN: \(label)") }
            total.finite += tally.finite
            total.refused += tally.refused
            total.failed += tally.failed
        }
        let seconds = Double((clock.now - started).components.seconds)
        print("pipeline sweep total: \(total.finite + total.refused + total.failed) cases, \(total.finite) finite, "
              + "\(total.refused) refused, \(total.failed) failed, \(seconds) s")
        #expect(total.failed == 0)
    }
}
