import Diffusion
import Foundation
import Imaging
import Testing
@testable import Studio

/// Generated images saved as PNGs with their parameters: decodable, with the text, never
/// overwriting, and good for a rerun that gives the same pixels.
@Suite struct ImageSaverTests {
    static var modelFolder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DiffusionTests/Fixtures/pipelines/sd1").path
    }

    static func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("stipple-saver-" + UUID().uuidString)
    }

    @Test func savedPNGCarriesItsParametersAndReruns() throws {
        let model = try ModelLocator.load(path: Self.modelFolder)
        var request = GenerationRequest(prompt: "a lighthouse, (stormy:1.2) sea")
        request.negativePrompt = "blurry"
        request.steps = 4
        request.seed = 77
        request.setSampler(try SamplerChoice(parsing: "DPM++ 2M Karras"))
        let image = try Pipeline(model: model).run(request)[0]
        let saver = ImageSaver(model: model, modelHash: ImageSaver.modelHash(of: model))
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try saver.save(image, in: OutputFolder(url: folder))
        #expect(url.lastPathComponent == "00000-77.png")

        let file = try PNG.read(path: url.path)
        #expect(file.image.pixels == image.image.rgb && file.image.width == 32)
        let text = try #require(file.text("parameters"))
        #expect(text == saver.infotext(for: image).text)
        #expect(text.hasPrefix("a lighthouse, (stormy:1.2) sea\nNegative prompt: blurry\nSteps: 4, Sampler: DPM++ 2M, Schedule type: Karras,"))
        #expect(text.contains("Seed: 77, Size: 32x32, Model hash: f44006ef13, Model: sd1") && text.hasSuffix("RNG: CPU, Version: stipple 0.1.0"))

        let rerun = try GenerationRequest(infotext: Infotext(parsing: text))
        #expect(try Pipeline(model: model).run(rerun)[0].image == image.image)

        // A chosen file name is written once; a second save to it fails and keeps the first.
        let chosen = folder.appendingPathComponent("chosen.png").path
        _ = try saver.save(image, to: chosen)
        let before = try Data(contentsOf: URL(fileURLWithPath: chosen))
        #expect(throws: (any Error).self) { try saver.save(image, to: chosen) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: chosen)) == before)
        #expect(throws: (any Error).self) { try saver.save(image, to: folder.appendingPathComponent("missing/x.png").path) }
        // No temporary files left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func modelLocatorErrorsAreOneLine() throws {
        #expect(throws: ModelLocator.LoadError.self) { try ModelLocator.load(path: "/nonexistent/model") }
        let folder = Self.temporaryFolder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pickle = folder.appendingPathComponent("model.ckpt")
        try Data([0x80, 0x02, 0x7d]).write(to: pickle)
        do {
            _ = try ModelLocator.load(path: pickle.path)
            Issue.record("a .ckpt loaded")
        } catch {
            #expect(error.description.contains("safetensors") && !error.description.contains("\n"))
        }
        do {
            _ = try ModelLocator.load(path: folder.path)
            Issue.record("an empty folder loaded")
        } catch {
            #expect(error.description.contains("model_index.json"))
        }
    }

    @Test func configFileSettings() throws {
        let config = try StudioConfig(text: """
            # stipple settings
            model = "/models/sd15"   # the default model
            output_dir = "/tmp/images"
            theme = "light"
            """)
        #expect(config.model == "/models/sd15" && config.outputDirectory == "/tmp/images" && config.theme == "light")
        #expect(try StudioConfig(text: "").model == nil)
    }
}
