import ArgumentParser
import Diffusion
import Foundation
import Studio
import Tensor
import Terminal

/// `stipple eval IMAGES...`: the variational bound of a diffusion model on images, in bits per
/// latent dimension (`VariationalBound`).
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The variational bound (bits per dimension) of a diffusion model on images.",
        discussion: """
            Each image is encoded by the model's VAE (the posterior mean, scaled as the denoiser sees it) \
            and the bound of DDPM's variational lower bound is computed on that latent: the prior term, \
            one KL term per training timestep (the model's mean with the posterior variance), and a \
            Gaussian decoder term at timestep 0, summed in nats and divided by the latent's dimensions \
            and ln 2. It is a bound on the continuous density of the VAE's latents: compare models that \
            share a VAE (the bundled shapes-64 and shapes-64-linear), not figures from pixel-space papers. \
            Each image is conditioned on its own prompt (the first line of its `parameters` text) or on \
            --prompt. The noise of image j at timestep i is torch.randn from seed + j * T + i, so \
            tools/variational_bound.py reproduces every term in PyTorch. One denoiser pass per \
            timestep and batch: all 1000 timesteps of 100 images of the bundled model take a few \
            minutes on two cores; --timesteps K evaluates K of them (a strided estimate).
            """
    )

    @Argument(help: "Image files (PNG or JPEG), all of one size, a multiple of the model's pixels per latent cell.")
    var images: [String]

    @Option(name: .long, help: "A diffusion model: a diffusers folder, a single file, or a bundled model by name (default: the bundled model).")
    var model: String?

    @Option(name: .long, help: "The prompt for images without one of their own (default: the empty prompt, the unconditional model).")
    var prompt: String?

    @Flag(name: .long, help: "Condition every image on --prompt (or the empty prompt), ignoring the prompts the images carry.")
    var ignoreImagePrompts = false

    @Option(name: .long, help: "The noise seed (default 0).")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Evaluate this many of the timesteps 1..T-1, evenly spread, their sum scaled up (default: all).")
    var timesteps: Int?

    @Option(name: .long, help: "Images per denoiser pass (default 16).")
    var batch: Int = 16

    @Option(name: .long, help: "Kernel threads (default: one per core).")
    var threads: Int?

    @Option(name: .long, help: "Write every image's terms and the mean as JSON to this file.")
    var json: String?

    func validate() throws {
        if images.isEmpty { throw ValidationError("give the images to evaluate (PNG or JPEG files)") }
        if let timesteps, timesteps < 1 { throw ValidationError("--timesteps must be at least 1, not \(timesteps)") }
        if batch < 1 || batch > 1024 { throw ValidationError("--batch must be from 1 to 1024, not \(batch)") }
        if let threads { do { try GenerationLimits.threads.check(threads) } catch { throw ValidationError(error.description) } }
        if let json, FileManager.default.fileExists(atPath: json) {
            throw ValidationError("\(json): already exists; stipple never overwrites an output")
        }
    }

    func run() throws {
        if let threads { Threads.set(threads) }
        let loaded: StableDiffusionModel
        do {
            loaded = try ModelLocator.load(path: model)
        } catch {
            throw CommandFailure(error.description)
        }
        let bound: VariationalBound
        do {
            bound = try VariationalBound(model: loaded)
        } catch {
            throw CommandFailure(error.description)
        }
        // The images, their prompts and their latents.
        var pixels: [PixelImage] = []
        var prompts: [String] = []
        for path in images {
            let image: PixelImage
            do {
                image = try InitImage.load(path: path, width: nil, height: nil)
            } catch {
                throw CommandFailure(error.description)
            }
            if let first = pixels.first, first.width != image.width || first.height != image.height {
                throw CommandFailure("\(path): \(image.width)x\(image.height), but \(images[0]) is \(first.width)x\(first.height); "
                                     + "evaluate images of one size together")
            }
            guard image.width % loaded.vaeScaleFactor == 0, image.height % loaded.vaeScaleFactor == 0 else {
                throw CommandFailure("\(path): \(image.width)x\(image.height) is not a multiple of \(loaded.vaeScaleFactor) pixels")
            }
            pixels.append(image)
            let own = ignoreImagePrompts ? nil : (try? readImageTexts(path))?.metadata?.generations.first?.infotext.prompt
            prompts.append(own ?? prompt ?? "")
        }
        var zero = ZeroRandomSource()
        var latents: [Tensor] = []
        do {
            for image in pixels {
                let z = try loaded.decoder.encode(image: image.normalized, random: &zero, check: {})
                guard z.isFinite else { throw CommandFailure("the VAE's latents are not finite") }
                latents.append(z)
            }
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure("\(error)")
        }
        guard let first = latents.first else { throw CommandFailure("no images to evaluate") }
        let stacked = latents.dropFirst().reduce(first) { concatBatch($0, $1) }
        let dimensions = stacked.count / max(stacked.shape[0], 1)
        let control = GenerationControl()
        let interrupts = InterruptHandler { control.cancel() }
        defer { interrupts.restore() }
        let start = Date()
        let terms: [VariationalBound.Terms]
        let progress = isatty(STDERR_FILENO) == 1
        do {
            terms = try bound.evaluate(latents: stacked, prompts: prompts, seed: seed, timestepCount: timesteps, batchSize: batch,
                                       check: { try control.check() }) { done, total in
                guard progress, done % 20 == 0 || done == total else { return }
                FileHandle.standardError.write(Data("\r\u{1B}[Kstipple: eval \(done)/\(total) denoiser passes".utf8))
            }
        } catch GenerationError.cancelled {
            if progress { FileHandle.standardError.write(Data("\n".utf8)) }
            throw CommandFailure("cancelled")
        } catch {
            if progress { FileHandle.standardError.write(Data("\n".utf8)) }
            throw CommandFailure("\(error)")
        }
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        let bits = terms.map { $0.bitsPerDimension(dimensions) }
        let mean = bits.reduce(0, +) / Double(bits.count)
        let spread = bits.count > 1
            ? (bits.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(bits.count - 1)).squareRoot() / Double(bits.count).squareRoot()
            : 0
        let part = { (key: KeyPath<VariationalBound.Terms, Double>) in
            terms.map { $0[keyPath: key] }.reduce(0, +) / Double(terms.count) / (Double(dimensions) * log(2))
        }
        let evaluated = bound.timesteps(count: timesteps).count
        print(String(format: "%@: %.4f bits/dim (± %.4f standard error) over %d images, %d latent dimensions each; "
                     + "prior %.4f, diffusion %.4f (%d of %d timesteps), decoder %.4f; %.1f s",
                     TerminalText.visible(loaded.name), mean, spread, terms.count, dimensions, part(\.prior), part(\.diffusion),
                     evaluated, bound.schedule.count - 1, part(\.decoder), Date().timeIntervalSince(start)))
        if let json {
            let object: [String: Any] = [
                "model": loaded.name, "seed": seed, "images": terms.count, "dimensions": dimensions,
                "timesteps_evaluated": evaluated, "train_timesteps": bound.schedule.count,
                "bits_per_dim": mean, "standard_error": spread,
                "per_image": zip(images, zip(prompts, terms)).map { file, entry in
                    ["file": file, "prompt": entry.0, "prior_nats": entry.1.prior, "diffusion_nats": entry.1.diffusion,
                     "decoder_nats": entry.1.decoder, "bits_per_dim": entry.1.bitsPerDimension(dimensions)] as [String: Any]
                },
            ]
            do {
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                _ = try OutputFolder.saveNew([UInt8](data), to: URL(fileURLWithPath: json))
            } catch {
                throw CommandFailure("\(json): \(error)")
            }
        }
    }
}
