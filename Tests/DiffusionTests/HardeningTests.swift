import Foundation
import Tensor
import Testing
@testable import Diffusion

/// Inputs that used to crash, hang or mislead (issue 12): one rule per setting, numbers from PNGs,
/// NaN caught as an error instead of a trap, memory refused before work, linear infotext parsing.
@Suite struct HardeningTests {
    // MARK: One rule per setting

    @Test func rulesNameTheSettingAndTheRange() throws {
        #expect(throws: SettingError(description: "steps must be a whole number from 1 to 1000, not 0")) {
            try GenerationLimits.steps.check(0)
        }
        #expect(throws: SettingError(description: "width must be a multiple of 8 from 8 to 8192, not 12")) {
            try GenerationLimits.width.check(12)
        }
        #expect(throws: SettingError(description: "CFG scale must be a number from 0 to 100, not 1e+38")) {
            try GenerationLimits.cfgScale.check(1e38)
        }
        #expect(throws: SettingError(description: "strength must be a number above 0 and at most 1, not 0")) {
            try GenerationLimits.strength.check(0.0)
        }
        #expect(throws: SettingError.self) { try GenerationLimits.eta.check(1e30) }
        #expect(throws: SettingError.self) { try GenerationLimits.cfgScale.check(Double.nan) }
        #expect(throws: SettingError.self) { try GenerationLimits.threads.check(10_000) }
        #expect(try GenerationLimits.threads.check(1) == 1)
        #expect(try GenerationLimits.seed("-1") == nil)
        #expect(try GenerationLimits.seed("18446744073709551615") == UInt64.max)
        #expect(throws: SettingError.self) { try GenerationLimits.seed("-2") }
        #expect(GenerationLimits.width.clamped(9000) == 8192 && GenerationLimits.steps.clamped(0) == 1)
    }

    /// `Int(Double)` of NaN, infinity or 1e300 traps; numbers from files go through the rules.
    @Test func numbersFromAPNGNeverTrap() throws {
        for (key, value) in [("Steps", "nan"), ("Steps", "1e300"), ("Steps", "-inf"), ("Steps", "2.5"), ("Clip skip", "inf"),
                             ("Clip skip", "nan"), ("CFG scale", "nan"), ("CFG scale", "1e38"), ("Seed", "-5"),
                             ("Size", "nanx64"), ("Size", "64x1e300"), ("Size", "64"), ("Denoising strength", "inf"),
                             ("Eta DDIM", "1e30")] {
            let infotext = Infotext(prompt: "a", fields: [(key, value), ("Sampler", "Euler"), ("Model", "x")])
            #expect(throws: GenerationError.self, "\(key): \(value)") { try GenerationRequest(infotext: infotext) }
        }
        let fine = try GenerationRequest(infotext: Infotext(parsing: "a\nSteps: 20.0, Seed: -1, Size: 64x48, Clip skip: 2"))
        #expect(fine.steps == 20 && fine.seed == nil && fine.width == 64 && fine.height == 48 && fine.clipSkip == 2)
        do {
            _ = try GenerationRequest(infotext: Infotext(parsing: "a\nSteps: nan, Sampler: Euler, Seed: 1"))
            Issue.record("Steps: nan was accepted")
        } catch {
            #expect(error.description == "the image's Steps: steps must be a whole number from 1 to 1000, not \"nan\"")
        }
    }

    // MARK: Infotext

    /// The hand scanner finds what A1111's regex finds, on the cases that make regexes slow or odd.
    @Test func infotextPairsMatchA1111sRegex() {
        let cases: [(String, [String])] = [
            ("Steps: 20, Sampler: Euler a, CFG scale: 7", ["Steps=20", "Sampler=Euler a", "CFG scale=7"]),
            ("a: 1, bb: 2,cc:3", ["bb=2", "cc=3"]),
            ("Lora hashes: \"a: 1, b: 2\", Seed: 5", ["Lora hashes=a: 1, b: 2", "Seed=5"]),
            ("Key: \"open, More: 1", ["Key=\"open", "More=1"]),
            ("Key: \"\", Next: x", ["Key=", "Next=x"]),
            ("x-y/z w: v", ["x-y/z w=v"]),
            ("no pairs here at all", []),
            ("  Spaced  : value ,", ["Spaced  =value "]),
            ("Quote: \"a\\\"b\", T: 1", ["Quote=a\"b"]),  // a one-letter key is no key
            ("Émoji ключ: 1, 数字: 2", ["Émoji ключ=1", "数字=2"]),
        ]
        for (line, expected) in cases {
            let found = Infotext.pairs(in: line).map { "\($0.key)=\($0.value)" }
            #expect(found == expected, "\(line.debugDescription)")
        }
    }

    /// 1 MB of key characters without a colon: the regex backtracked over every start (32 KB took
    /// 10 s, 1 MB never ended). The scan is one pass; this finishes at once.
    @Test func longInfotextParsesInLinearTime() throws {
        let run = String(repeating: "word ", count: 200_000)
        let parsed = Infotext(parsing: "prompt\n" + run + ", Steps: 3, Seed: 1, Sampler: Euler")
        #expect(parsed["Steps"] == "3" && parsed["Seed"] == "1")
        #expect(throws: InfotextTooLong.self) { try Infotext.read(run + run) }
        #expect(try Infotext.read("p\nSteps: 1, Seed: 2, Size: 8x8")["Size"] == "8x8")
    }

    // MARK: NaN is an error, never a trap

    @Test func nonFiniteTensorsAreFound() {
        #expect(Tensor(shape: [3], values: [1, -2, 0]).isFinite)
        #expect(!Tensor(shape: [3], values: [1, .nan, 0]).isFinite)
        #expect(!Tensor(shape: [2], values: [.infinity, 0]).isFinite)
        #expect(!Tensor(shape: [2], values: [0, -.infinity]).isFinite)
        // Decoding pixels of NaN no longer traps (the pipeline refuses such images before this).
        let image = PixelImage(decoded: Tensor(shape: [1, 3, 1, 2], values: [.nan, 1, .infinity, -.infinity, 0, 3]))
        #expect(image.rgb == [0, 255, 128, 255, 0, 255])
        let preview = LatentPreviewFactors.stableDiffusion.rgb(Tensor(shape: [1, 4, 1, 1], values: [.nan, 0, 0, 0]))
        #expect(preview.rgb == [0, 0, 0])
    }

    /// A model whose weights hold NaN: the run fails with a one-line error naming the step, and no
    /// image comes out.
    @Test func nanWeightsFailTheJobWithAMessage() throws {
        let folder = try Self.copyOfFixtureModel("sd1")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.poison(tensor: "conv_out.bias", in: folder.appendingPathComponent("unet/diffusion_pytorch_model.safetensors"))
        let model = try StableDiffusionModel(folder: folder.path)
        var request = GenerationTests.request(steps: 3)
        var images = 0
        do {
            _ = try Pipeline(model: model).run(request) { event in if case .image = event { images += 1 } }
            Issue.record("NaN weights produced an image")
        } catch {
            #expect(error.description.hasPrefix("the model produced NaN at step 1 of 3 (the UNet's output"), "\(error)")
            #expect(!error.description.contains("\n"))
        }
        #expect(images == 0)
        request.cfgScale = 1e38
        #expect(throws: GenerationError.invalid("CFG scale must be a number from 0 to 100, not 1e+38")) {
            try Pipeline(model: model).run(request)
        }
    }

    /// Ever deeper brackets multiply a token's weight to infinity (10,000 `(`): refused by name.
    @Test func runawayEmphasisIsRefused() throws {
        let model = try GenerationTests.model()
        var request = GenerationTests.request(steps: 1)
        request.prompt = String(repeating: "(", count: 10_000) + "fox"
        do {
            _ = try Pipeline(model: model).run(request)
            Issue.record("10,000 brackets were accepted")
        } catch {
            #expect(error.description.contains("emphasis weight is inf"), "\(error)")
        }
        request.prompt = "(fox:1.5) ((snow)) [[[[cold]]]]"
        #expect(try Pipeline(model: model).run(request).count == 1)
    }

    // MARK: Memory

    @Test func sizesTheMachineCannotHoldAreRefusedBeforeWork() throws {
        let model = try GenerationTests.model()
        var request = GenerationTests.request(steps: 1)
        (request.width, request.height) = (8192, 8192)
        let estimate = MemoryEstimate(request: request, model: model)
        #expect(throws: GenerationError.self) { try estimate.check(available: estimate.bytes - 1) }
        try estimate.check(available: estimate.bytes + 1)
        do {
            try estimate.check(available: 2e9)
            Issue.record("not refused")
        } catch {
            #expect(error.description.hasPrefix("8192x8192 needs about "), "\(error)")
            #expect(error.description.contains("more than the 2.0 GB available"))
        }
        // Four times the pixels, about four times the memory.
        (request.width, request.height) = (4096, 4096)
        let quarter = MemoryEstimate(request: request, model: model).bytes
        #expect(abs(estimate.bytes / quarter - 4) < 0.01)
    }

    // MARK: Helpers

    /// A writable copy of a fixture pipeline folder.
    static func copyOfFixtureModel(_ name: String) throws -> URL {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/pipelines/\(name)")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("stipple-nan-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: copy)
        return copy
    }

    /// Overwrites every value of `tensor` in a safetensors file with NaN (fp32 or fp16).
    static func poison(tensor name: String, in url: URL) throws {
        var data = try Data(contentsOf: url)
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any])
        let entry = try #require(header[name] as? [String: Any])
        let offsets = try #require(entry["data_offsets"] as? [Int])
        let dtype = try #require(entry["dtype"] as? String)
        let nan: [UInt8] = dtype == "F16" ? [0x00, 0x7E] : [0x00, 0x00, 0xC0, 0x7F]
        var position = 8 + headerLength + offsets[0]
        while position < 8 + headerLength + offsets[1] {
            data.replaceSubrange(position..<(position + nan.count), with: nan)
            position += nan.count
        }
        try data.write(to: url)
    }
}
