import Diffusion
import Foundation
import Imaging
import Testing
@testable import Studio

/// `stipple generate` as a person runs it (the real binary, built by scripts/test): documented
/// forms work, bad values get one line naming the setting, nothing is sampled when the output
/// cannot be written, and a signal gives the shell's exit status with nothing saved (issue 12).
@Suite(.serialized) struct CommandLineTests {
    struct Run {
        let status: Int32
        let standardError: String
    }

    /// The binary run as `CommandLineSafetyTests.run` runs it (one process runner for both suites).
    static func run(_ arguments: [String], in folder: URL, signal: Int32? = nil, after marker: String = "step 1/") throws -> Run {
        let run = try CommandLineSafetyTests.run(arguments, in: folder, signal: signal, after: marker)
        return Run(status: run.status, standardError: run.stderr)
    }

    static func folder() throws -> URL { try CommandLineSafetyTests.scratch() }

    static let model = ["--model", StudioEndToEndTests.model, "-W", "32", "-H", "32"]

    @Test func seedMinusOneAndNegativeValuesAreRead() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let random = try Self.run(["generate"] + Self.model + ["-p", "a fox", "--steps", "2", "--seed", "-1", "-o", "a.png"], in: folder)
        #expect(random.status == 0, "\(random.standardError)")
        let text = try PNG.read(path: folder.appendingPathComponent("a.png").path).text("parameters") ?? ""
        #expect(text.contains("Seed: "))
        let negative = try Self.run(["generate"] + Self.model + ["-p", "a fox", "--steps", "-3"], in: folder)
        #expect(negative.status != 0)
        #expect(negative.standardError.contains("steps must be a whole number from 1 to 1000, not -3"), "\(negative.standardError)")
        let cfg = try Self.run(["generate"] + Self.model + ["-p", "a fox", "--cfg-scale", "-0.5"], in: folder)
        #expect(cfg.standardError.contains("CFG scale must be a number from 0 to 100, not -0.5"), "\(cfg.standardError)")
    }

    /// An SDXL folder from the command line: SDXL's own options are written into the PNG and
    /// `--from` reruns them to the same image; bad values are one line naming the option.
    @Test func sdxlOptionsRoundTrip() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sdxl = StudioEndToEndTests.root.appendingPathComponent("Tests/DiffusionTests/Fixtures/sdxl/sdxl").path
        let options = ["--model", sdxl, "-W", "32", "-H", "48", "--steps", "3", "--seed", "5", "--sampler", "euler_a",
                       "--timestep-spacing", "trailing", "--original-size", "2048x1536", "--crop-top-left", "0,256"]
        let first = try Self.run(["generate", "-p", "a red house"] + options + ["-o", "a.png"], in: folder)
        #expect(first.status == 0, "\(first.standardError)")
        let text = try PNG.read(path: folder.appendingPathComponent("a.png").path).text("parameters") ?? ""
        #expect(text.contains("Size: 32x48") && text.contains("Model: sdxl") && text.contains("Timestep spacing: trailing")
            && text.contains("Original size: 2048x1536") && text.contains("Crop top left: \"0,256\""), "\(text)")
        let again = try Self.run(["generate", "--model", sdxl, "--from", "a.png", "-o", "b.png"], in: folder)
        #expect(again.status == 0, "\(again.standardError)")
        let a = try PNG.read(path: folder.appendingPathComponent("a.png").path).image
        let b = try PNG.read(path: folder.appendingPathComponent("b.png").path).image
        #expect(a.pixels == b.pixels)
        for (option, value, message) in [("--original-size", "2048", "original size must be WIDTHxHEIGHT in pixels"),
                                         ("--crop-top-left", "0,-8", "crop coordinate must be"),
                                         ("--timestep-spacing", "sideways", "timestep-spacing")] {
            let bad = try Self.run(["generate", "--model", sdxl, "-p", "a", option, value], in: folder)
            #expect(bad.status != 0 && bad.standardError.contains(message), "\(option): \(bad.standardError)")
        }
    }

    /// An output that cannot be written is reported before the first step, not after the run.
    @Test func unwritableOutputsFailBeforeSampling() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("not a folder".utf8).write(to: folder.appendingPathComponent("file"))
        for (arguments, expected) in [(["-o", "missing/a.png"], "does not exist"),
                                      (["--output-dir", "file"], "the output folder is a file"),
                                      (["--output-dir", "file/sub"], "cannot create the output folder")] {
            let run = try Self.run(["generate"] + Self.model + ["-p", "a fox", "--steps", "3"] + arguments, in: folder)
            #expect(run.status == 1, "\(arguments): \(run.standardError)")
            #expect(run.standardError.contains(expected), "\(arguments): \(run.standardError)")
            #expect(!run.standardError.contains("step 1/"), "\(arguments): sampled before failing")
        }
        // A disk without room for the images: checked against the free space before sampling.
        #expect(throws: OutputFolder.SaveError.self) {
            try OutputFolder(url: folder).checkWritable(bytes: Int.max / 2)
        }
        try OutputFolder(url: folder.appendingPathComponent("new/deeper")).checkWritable(bytes: 1000)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("new/deeper").path).isEmpty)
    }

    /// SIGTERM while sampling: exit status 143 (SIGINT: 130), nothing saved.
    @Test(arguments: [SIGTERM, SIGINT]) func signalsEndWithTheShellsStatus(signal: Int32) throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try Self.run(["generate"] + Self.model + ["-p", "a fox", "--steps", "500", "-o", "a.png"], in: folder,
                               signal: signal)
        #expect(run.status == 128 + signal, "\(run.standardError)")
        #expect(run.standardError.contains("cancelled"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("a.png").path))
    }

    /// --sampler and --schedule are read before anything loads (a missing model is not even
    /// looked at): an unknown name lists the valid ones; A1111's "DPM++ 2M Karras" is DPM++ 2M
    /// with the Karras schedule, over --schedule. --timings names every stage once, in order.
    @Test func samplerNamesAndTimings() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = ["generate", "--model", folder.appendingPathComponent("none").path, "-p", "a fox"]
        let sampler = try Self.run(missing + ["--sampler", "eulr"], in: folder)
        #expect(sampler.status == 64, "\(sampler.standardError)")
        #expect(sampler.standardError.contains(#"unknown sampler "eulr"; valid: ddim (DDIM), "#)
                && sampler.standardError.contains("euler_a (Euler a)"), "\(sampler.standardError)")
        let schedule = try Self.run(missing + ["--schedule", "karas"], in: folder)
        #expect(schedule.status == 64 && schedule.standardError.contains(#"unknown schedule "karas"; valid: default, karras, exponential"#),
                "\(schedule.standardError)")

        let run = try Self.run(["generate"] + Self.model + ["-p", "a fox", "--steps", "2", "--seed", "3", "--batch-count", "2",
                                                          "--sampler", "DPM++ 2M Karras", "--schedule", "exponential",
                                                          "-o", "k.png", "--timings"], in: folder)
        #expect(run.status == 0, "\(run.standardError)")
        for name in ["k.png", "k-2.png"] {
            let text = try PNG.read(path: folder.appendingPathComponent(name).path).text("parameters") ?? ""
            #expect(text.contains("Steps: 2, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: "), "\(text)")
        }
        let timings = run.standardError.split(separator: "\n").filter { $0.hasPrefix("timings: ") }
        let pattern = try Regex(#"^timings: load [0-9.]+ s, prompt [0-9.]+ s, sampling \(2 steps\) [0-9.]+ s, decode [0-9.]+ s, "#
                                + #"save [0-9.]+ s, other [0-9.]+ s; total [0-9.]+ s; peak memory [0-9]+ MB$"#)
        #expect(timings.count == 1 && timings.allSatisfy { $0.wholeMatch(of: pattern) != nil }, "\(run.standardError)")
    }

    /// --weight-type keeps the bundled model's weights at the precision asked: f32 gives the image
    /// the model gives as stored, f16 one within a few levels of it; other names are refused.
    @Test func weightType() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let base = ["generate"] + Self.model + ["-p", "a fox", "--steps", "3", "--seed", "5"]
        let wrong = try Self.run(base + ["--weight-type", "q8_0"], in: folder)
        #expect(wrong.status == 64 && wrong.standardError.contains("q8_0") && wrong.standardError.contains("bf16"), "\(wrong.standardError)")
        var images: [PixelImage] = []
        for (name, extra) in [("stored.png", [String]()), ("f32.png", ["--weight-type", "f32"]), ("f16.png", ["--weight-type", "f16"])] {
            let run = try Self.run(base + extra + ["-o", name], in: folder)
            #expect(run.status == 0, "\(run.standardError)")
            let image = try PNG.read(path: folder.appendingPathComponent(name).path).image
            images.append(PixelImage(width: image.width, height: image.height, rgb: image.flattened().pixels))
        }
        guard images.count == 3 else { return }
        #expect(images[0] == images[1])
        #expect(zip(images[0].rgb, images[2].rgb).allSatisfy { abs(Int($0) - Int($1)) <= 8 })
    }

    /// Numbers in a PNG's parameters that used to trap in `Int(Double)`.
    @Test func brokenParametersInAPNGAreOneLineErrors() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let pixels = PixelImage(width: 8, height: 8, rgb: [UInt8](repeating: 90, count: 8 * 8 * 3))
        for (field, expected) in [("Steps: nan", "steps must be a whole number"), ("Steps: 1e300", "steps must be"),
                                  ("Clip skip: inf", "clip skip must be")] {
            let bytes = try ImageSaver.png(pixels, parameters: "a fox\n\(field), Sampler: Euler, Seed: 3, Size: 32x32, RNG: CPU")
            try Data(bytes).write(to: folder.appendingPathComponent("p.png"))
            let run = try Self.run(["generate", "--model", StudioEndToEndTests.model, "--from", "p.png"], in: folder)
            #expect(run.status == 1, "\(field): \(run.standardError)")
            #expect(run.standardError.contains(expected) && run.standardError.split(separator: "\n").count == 1,
                    "\(field): \(run.standardError)")
        }
    }

    /// `--preset few-step`: the preset for the model, said on stderr; options given win over it.
    @Test func fewStepPresetAndTheOptionsThatWin() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bundled = StudioEndToEndTests.root.appendingPathComponent("samples/shapes-64").path
        let lcm = StudioEndToEndTests.root.appendingPathComponent("Tests/DiffusionTests/Fixtures/lcm/lcm").path
        for (name, arguments, said, written) in [
            ("bundled.png", ["--model", bundled], "few-step preset (LCM-LoRA): lcm, 4 steps, CFG 1, decoder taesd\nstipple: note: no LCM-LoRA",
             ["Steps: 4, Sampler: LCM,", "CFG scale: 1,", "Decoder: TAESD"]),
            ("given.png", ["--model", bundled, "--steps", "2", "--cfg-scale", "1.5", "--decoder", "vae"],
             "few-step preset (LCM-LoRA): lcm, 2 steps, CFG 1.5, decoder vae", ["Steps: 2, Sampler: LCM,", "CFG scale: 1.5,"]),
            ("lcm.png", ["--model", lcm, "-W", "32", "-H", "32"], "few-step preset (LCM model): lcm, 4 steps, CFG 8.5, decoder vae\n",
             ["Steps: 4, Sampler: LCM,", "CFG scale: 8.5,"]),
        ] {
            let run = try Self.run(["generate", "-p", "a fox", "--seed", "3", "--preset", "few-step"] + arguments + ["-o", name], in: folder)
            #expect(run.status == 0 && run.standardError.contains("stipple: " + said), "\(name): \(run.standardError)")
            let text = try PNG.read(path: folder.appendingPathComponent(name).path).text("parameters") ?? ""
            #expect(written.allSatisfy { text.contains($0) } && text.contains("Decoder: TAESD") == (name == "bundled.png"), "\(name): \(text)")
        }
        let unknown = try Self.run(["generate", "-p", "a fox", "--preset", "fast"], in: folder)
        #expect(unknown.status == 64 && unknown.standardError.contains("few-step"), "\(unknown.standardError)")
    }

    /// `stipple info` and `--from` on A1111's JPEG and WebP (EXIF UserComment in UTF-16, written
    /// with piexif as A1111 writes it; Tests/ImagingTests/Fixtures/metadata/README.md).
    @Test func infoAndFromReadA1111JPEGAndWebP() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fixtures = StudioEndToEndTests.root.appendingPathComponent("Tests/ImagingTests/Fixtures/metadata")
        let info = try CommandLineSafetyTests.run(["info", fixtures.appendingPathComponent("a1111.jpg").path], in: folder)
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout == """
            Prompt: a photo of a café at night, ✨ neon, (masterpiece:1.2)
            Negative prompt: blurry, lowres
            Steps:         20
            Sampler:       DPM++ 2M
            Schedule type: Karras
            CFG scale:     7
            Seed:          1234567890
            Size:          16x16
            Model hash:    6ce0161689
            Model:         v1-5-pruned-emaonly
            Version:       v1.10.1
            Found in: EXIF UserComment (UTF-16BE)

            """, "\(info.stdout)")
        let rerun = try Self.run(["generate", "--model", StudioEndToEndTests.model, "--from", fixtures.appendingPathComponent("a1111.webp").path,
                                  "-W", "32", "-H", "32", "--steps", "2", "-o", "again.png"], in: folder)
        #expect(rerun.status == 0, "\(rerun.standardError)")
        let text = try PNG.read(path: folder.appendingPathComponent("again.png").path).text("parameters") ?? ""
        #expect(text.hasPrefix("a photo of a café at night, ✨ neon, (masterpiece:1.2)\nNegative prompt: blurry, lowres\n")
            && text.contains("Seed: 1234567890"), "\(text)")
        let gif = try Self.run(["info", fixtures.appendingPathComponent("broken_not_image.gif").path], in: folder)
        #expect(gif.status != 0 && gif.standardError.contains("broken_not_image.gif: not a PNG, JPEG or WebP file"), "\(gif.standardError)")
    }
}

/// Other generators' metadata from the command line (issue 17): `info` shows a ComfyUI graph's
/// samplers as fields with notes, and `generate --from` reruns a fixture with each note as a
/// warning (Tests/DiffusionTests/Fixtures/metadata, tools/make_metadata_fixtures.py).
@Suite(.serialized) struct MetadataCommandLineTests {
    static func fixture(_ name: String) -> String {
        StudioEndToEndTests.root.appendingPathComponent("Tests/DiffusionTests/Fixtures/metadata/\(name)").path
    }

    @Test func infoShowsAComfyUIGraphsSamplersAsFields() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try CommandLineTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let info = try CommandLineSafetyTests.run(["info", Self.fixture("comfyui_refiner.png")], in: folder)
        #expect(info.status == 0, "\(info.stderr)")
        let lines = info.stdout.components(separatedBy: "\n")
        #expect(lines.first == "Source: ComfyUI")
        #expect(lines.contains("Generation 1 of 2 (KSamplerAdvanced node 10):") && lines.contains("Generation 2 of 2 (KSamplerAdvanced node 11):"))
        #expect(lines.contains("Prompt: evening sunset scenery blue sky nature, glass bottle with a galaxy in it"))
        #expect(lines.contains("Seed:          721897303308196") && lines.contains("Model:         sd_xl_refiner_1.0"), "\(info.stdout)")
        #expect(lines.contains("Note: this KSamplerAdvanced runs only steps 0 to 20 of 25 (a base/refiner split); stipple runs all 25 steps"))
        // No raw graph JSON any more.
        #expect(!info.stdout.contains("class_type"))
        let json = try CommandLineSafetyTests.run(["info", "--json", Self.fixture("comfyui_refiner.png")], in: folder)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["source"] as? String == "ComfyUI")
        let generations = try #require(object["generations"] as? [[String: Any]])
        #expect(generations.count == 2 && generations[1]["label"] as? String == "KSamplerAdvanced node 11")
        #expect((object["parameters"] as? [[String: String]])?.contains(["key": "Seed", "value": "721897303308196"]) == true)
    }

    @Test func generateFromAFixturePrintsItsNotesAsWarnings() throws {
        guard StudioEndToEndTests.binaryIsBuilt() else { return }
        let folder = try CommandLineTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let tiny = ["--model", StudioEndToEndTests.model, "--steps", "1", "-W", "32", "-H", "32"]
        let run = try CommandLineTests.run(["generate", "--from", Self.fixture("comfyui_custom_advanced.png"), "-o", "a.png"] + tiny, in: folder)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("stipple: warning: ComfyUI scheduler 'beta' has no stipple equivalent; using default"), "\(run.standardError)")
        #expect(run.standardError.contains("stipple: warning: ComfyUI sampler 'dpmpp_2m_sde_gpu' draws its SDE noise on the GPU"))
        let text = try PNG.read(path: folder.appendingPathComponent("a.png").path).text("parameters") ?? ""
        #expect(text.hasPrefix("a lighthouse at dawn, volumetric light\nNegative prompt: lowres\n"), "\(text)")
        #expect(text.contains("Sampler: DPM++ 2M SDE, ") && text.contains("CFG scale: 5.5, Seed: 55555, Size: 32x32") && text.contains("RNG: CPU"), "\(text)")

        // The refiner pass of a two-sampler graph, chosen by number; a number past the end is one line.
        let second = try CommandLineTests.run(["generate", "--from", Self.fixture("comfyui_refiner.png"), "--from-generation", "2", "-o", "b.png"]
                                              + tiny, in: folder)
        #expect(second.status == 0 && second.standardError.contains("continues the latent from KSamplerAdvanced node 10"), "\(second.standardError)")
        #expect(try PNG.read(path: folder.appendingPathComponent("b.png").path).text("parameters")?.contains("Seed: 0,") == true)
        let third = try CommandLineTests.run(["generate", "--from", Self.fixture("comfyui_refiner.png"), "--from-generation", "3"] + tiny, in: folder)
        #expect(third.status == 1 && third.standardError.contains("--from-generation 3, but the image has 2 generations"), "\(third.standardError)")
        let workflow = try CommandLineTests.run(["generate", "--from", Self.fixture("comfyui_workflow_only.png")] + tiny, in: folder)
        #expect(workflow.status == 1 && workflow.standardError.contains("its ComfyUI metadata holds no generation to rerun"), "\(workflow.standardError)")
    }

    /// The gallery's `l` loads another tool's image as it loads ours, the notes in the status.
    @Test func galleryLoadsAComfyUIImage() throws {
        let folder = try CommandLineTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(atPath: Self.fixture("comfyui_custom_advanced.png"),
                                         toPath: folder.appendingPathComponent("comfy.png").path)
        var state = StudioState(modelName: "m", width: 64, height: 64, gallery: Gallery.load(folder: folder))
        #expect(state.gallery.selectedEntry?.seed == "55555" && state.gallery.selectedEntry?.sampler == "DPM++ 2M SDE")
        state.loadSelectedParameters()
        #expect(state.prompt.text == "a lighthouse at dawn, volumetric light" && state.negative.text == "lowres")
        #expect(state.panel.steps == 24 && state.panel.seed == 55555 && state.panel.sampler == .dpmpp2MSDE && state.panel.cfgScale == 5.5)
        #expect(state.statusKind == .warning && state.status.contains("ComfyUI scheduler 'beta' has no stipple equivalent"), "\(state.status)")
    }
}
