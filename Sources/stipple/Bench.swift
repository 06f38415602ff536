import ArgumentParser
import Diffusion
import Foundation
import Tensor

/// `stipple bench`: times the engine's networks at full size on random weights.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the text encoder, UNet and VAE of a full-size model on random weights.",
        discussion: """
            Builds the architecture in memory with deterministic random weights (no files needed) and \
            times each component: one warm-up run, then the median of --runs. Prints seconds, achieved \
            GFLOP/s (operations counted as PyTorch's FlopCounterMode counts them) and peak memory; the \
            first line names the instruction set of stipple's kernels (STIPPLE_ISA caps it) and \
            OpenBLAS's core (OPENBLAS_CORETYPE forces it). tools/bench_torch.py prints the same \
            figures for PyTorch, for a side-by-side comparison.
            """
    )

    @Option(help: "Architecture: sd15, sd21 or sdxl.")
    var arch: Architecture = .sd15

    @Option(help: "Image width in pixels (a multiple of 8; default: the architecture's native size, 512, 768 or 1024).")
    var width: Int?

    @Option(help: "Image height in pixels (a multiple of 8; default: the architecture's native size).")
    var height: Int?

    @Option(help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    @Option(help: "Timed runs per component, after one warm-up.")
    var runs: Int = 3

    @Option(help: "Comma-separated subset of: text_encoder, unet_batch1, unet_batch2, vae_decode, vae_decode_tiled, vae_encode (\"\" for none, e.g. with --samplers; default: all but vae_decode_tiled, all for sdxl).")
    var components: String?

    @Option(help: "Keep the large weights as f32, f16 or bf16 (default f32; f16/bf16 are converted back per layer, as for a half-precision checkpoint).")
    var weightType: WeightType?

    @Flag(help: "Also time one step of each sampler on the latent (everything but the UNet call).")
    var samplers = false

    @Flag(help: "Also measure how long a cancel takes to land mid-call (UNet batch 2 and VAE decode, cancelled at 0.5, 1.7, 3.1 and 4.3 s in).")
    var cancelLatency = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    /// The size benchmarked: the options, else the architecture's native size.
    var size: (width: Int, height: Int) { (width ?? arch.nativeSize, height ?? arch.nativeSize) }

    func validate() throws {
        let (width, height) = size
        guard width > 0, height > 0, width % 8 == 0, height % 8 == 0, width <= 2048, height <= 2048 else {
            throw ValidationError("--width and --height must be multiples of 8 between 8 and 2048, not \(width)x\(height)")
        }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        if let threads {
            do { try GenerationLimits.threads.check(threads) } catch { throw ValidationError(error.description) }
        }
        _ = try selectedComponents()
    }

    func selectedComponents() throws -> [ComponentBenchmark.Component] {
        let defaults = ComponentBenchmark.Component.allCases.filter { arch == .sdxl || $0 != .vaeDecodeTiled }
        return try (components ?? defaults.map(\.rawValue).joined(separator: ",")).split(separator: ",", omittingEmptySubsequences: true).map {
            let name = $0.trimmingCharacters(in: .whitespaces)
            guard let component = ComponentBenchmark.Component(rawValue: name) else {
                throw ValidationError("unknown component \"\(name)\" (valid: \(ComponentBenchmark.Component.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return component
        }
    }

    func run() throws {
        if let threads { Threads.set(threads) }
        let (width, height) = size
        let benchmark = ComponentBenchmark(architecture: arch, width: width, height: height, runs: runs,
                                           weightType: weightType)
        var results: [ComponentBenchmark.Result] = []
        let selected = try selectedComponents()
        if !json && !selected.isEmpty {
            print("stipple bench: \(arch.rawValue) at \(width)x\(height), \(Threads.count) threads, median of \(runs) after a warm-up"
                  + ", weights \(weightType?.rawValue ?? "f32")"
                  + "; kernels \(KernelInfo.instructionSet), OpenBLAS core \(KernelInfo.blasCore)")
            print("component          seconds    GFLOP   GFLOP/s")
        }
        for component in selected {
            let result = try benchmark.run(component)
            results.append(result)
            if !json {
                print(component.rawValue.padding(toLength: 17, withPad: " ", startingAt: 0)
                      + String(format: "%9.3f %8.1f %9.1f", result.medianSeconds, Double(result.operations) / 1e9, result.gflops))
            }
        }
        var samplerTimes: [(SamplerName, Double)] = []
        if samplers {
            let shape = [1, 4, height / 8, width / 8]
            if !json { print("sampler step on \(shape.map(String.init).joined(separator: "x")) (median of 5 runs of 20 steps):") }
            let bench = SamplerBenchmark(latentShape: shape)
            for name in SamplerName.allCases where name != .default {
                let seconds = try bench.secondsPerStep(name)
                samplerTimes.append((name, seconds))
                if !json { print("  " + name.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: "%8.3f ms", seconds * 1e3)) }
            }
        }
        var cancelSamples: [CancellationBenchmark.Sample] = []
        if cancelLatency {
            if !json { print("cancel latency (time from cancel() to the call returning):") }
            cancelSamples = try CancellationBenchmark(architecture: arch, width: width, height: height).run()
            if !json {
                for sample in cancelSamples {
                    print("  " + sample.component.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                          + String(format: " cancelled at %.1f s: stopped %.0f ms later", sample.cancelAfter, sample.latency * 1e3))
                }
            }
        }
        let peak = ComponentBenchmark.peakResidentMegabytes
        if json {

            var object: [String: Any] = ["peak_rss_mb": (peak * 10).rounded() / 10]
            for result in results {
                object[result.component.rawValue] = ["median_s": result.medianSeconds, "gflops": result.gflops]
            }
            if samplers {
                object["sampler_step_ms"] = Dictionary(uniqueKeysWithValues: samplerTimes.map { ($0.0.rawValue, $0.1 * 1e3) })
            }
            if cancelLatency {
                object["cancel_latency_ms"] = cancelSamples.map {
                    ["component": $0.component.rawValue, "cancel_after_s": $0.cancelAfter, "latency_ms": $0.latency * 1e3] as [String: Any]
                }
            }
            object["flops"] = Dictionary(uniqueKeysWithValues: results.map { ($0.component.rawValue, $0.operations) })
            object["settings"] = ["arch": arch.rawValue, "width": width, "height": height, "threads": Threads.count, "runs": runs,
                                  "weight_type": weightType?.rawValue ?? "f32", "isa": KernelInfo.instructionSet,
                                  "blas_core": KernelInfo.blasCore] as [String: Any]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "peak resident memory: %.0f MB", peak))
        }
    }
}

extension Architecture: ExpressibleByArgument {}
extension WeightType: ExpressibleByArgument {}
