import Foundation
import Imaging
import Testing
@testable import Diffusion

/// LoRAs against diffusers' `load_lora_weights` + `fuse_lora` (Fixtures/lora, made by
/// tools/make_lora_fixtures.py): kohya, LoCon, PEFT and old-diffusers files on the tiny SD 1.x,
/// SD 2.x and SDXL pipelines, named in the prompt as `<lora:NAME:W>`. The bar is the pipelines':
/// <= 2 levels, >= 99% within one level, latents within 5e-3. Each LoRA moves its image 70-173
/// levels (the fixture's `effect_vs_plain`), so a LoRA ignored, or scaled wrongly, fails.
@Suite struct LoRATests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("lora") }
    static var loraFolder: String { folder.appendingPathComponent("loras").path }

    typealias Case = PipelineCase

    struct LoRAInfo: Decodable {
        var format: String
        var a1111_short_hash: String
        var modules: [String: Int]
        var diffusers: String
    }

    static let cases = PipelineCase.load(from: folder)

    static let loraCases = cases.filter { $0.embeddings?.isEmpty ?? true }

    static let infos: [String: LoRAInfo] = {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("loras.json")) else { return [:] }
        return (try? JSONDecoder().decode([String: LoRAInfo].self, from: data)) ?? [:]
    }()

    static let latents: SafetensorsFile = {
        try! SafetensorsFile(path: folder.appendingPathComponent("latents.safetensors").path)
    }()

    static let models = PipelineTests.ModelCache { try StableDiffusionModel(folder: folder.appendingPathComponent($0).standardized.path) }

    static func request(_ fixture: Case) throws -> GenerationRequest {
        var request = try fixture.request(imagesIn: folder)
        request.loraFolder = loraFolder
        return request
    }

    @Test func fixturesArePresent() {
        #expect(Self.loraCases.count >= 14)
        #expect(Self.infos.count == 11)
    }

    @Test(arguments: loraCases)
    func matchesDiffusers(_ fixture: Case) throws {
        let model = try Self.models.model(fixture.folder ?? "")
        var warnings: [String] = []
        let image = try #require(try Pipeline(model: model).run(Self.request(fixture)) { event in
            if case .warning(let text) = event { warnings.append(text) }
        }.first)
        #expect(warnings.isEmpty, "\(warnings)")
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                                       latents: Self.latents.tensor(fixture.name), label: "lora \(fixture.name)")
        // The image reports the prompt as written, and A1111's short hash of each LoRA.
        #expect(image.request.prompt == fixture.prompt)
        #expect(image.loraHashes.map(\.name) == (fixture.loras ?? []).map(\.name).reduce(into: []) { if !$0.contains($1) { $0.append($1) } })
        for hash in image.loraHashes { #expect(hash.hash == Self.infos[hash.name]?.a1111_short_hash) }
    }

    /// LoRAs merged into the weights (`--lora-apply merge`) give diffusers' images too: LoCon's 3x3
    /// convolutions, two LoRAs at once, the LCM-style file (every convolution), SD2, SDXL's two encoders.
    @Test(arguments: ["sd1-kohya_r4", "sd1-locon_r4", "sd1-two-loras", "sd1-lcm_lora_r8", "sd2-kohya_r8", "sdxl-kohya_r4"])
    func mergedApplicationMatchesDiffusers(_ name: String) throws {
        let fixture = try #require(Self.loraCases.first { $0.name == name })
        var request = try Self.request(fixture)
        request.loraApplication = .merge
        var warnings: [String] = []
        let image = try #require(try Pipeline(model: Self.models.model(fixture.folder ?? "")).run(request) { event in
            if case .warning(let text) = event { warnings.append(text) }
        }.first)
        #expect(warnings.isEmpty, "\(warnings)")
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                                       latents: Self.latents.tensor(fixture.name), label: "lora merged \(fixture.name)")
    }

    /// A merge that would not fit the memory available runs the LoRA beside the layers instead, and says so.
    /// An image's parameters name another machine's LoRAs: read back (`--from`, the gallery), one that
    /// is not here is left out with a warning, as A1111 does; typed here, it is refused (a typo).
    @Test func missingLoRAsOfAnImageAreLeftOutWithAWarning() throws {
        let model = try PipelineTests.models.model("sd1")
        var request = try GenerationRequest(infotext: Infotext.read(
            "a red house <lora:not_here:0.8>\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 32x32"))
        request.preview = .off
        var warnings: [String] = []
        let images = try Pipeline(model: model).run(request) { event in
            if case .warning(let text) = event { warnings.append(text) }
        }
        #expect(images.count == 1)
        #expect(warnings.contains { $0.contains("not_here") && $0.contains("left out") }, "\(warnings)")
        var typed = GenerationRequest(prompt: "a red house <lora:not_here:0.8>")
        (typed.steps, typed.width, typed.height, typed.preview) = (2, 32, 32, .off)
        #expect(throws: GenerationError.self) { try Pipeline(model: model).run(typed) }
    }

    @Test func mergeTooLargeForMemoryRunsAtRunTime() throws {
        let model = try Self.models.model("../pipelines/sd1")
        let file = try LoRALibrary.shared.file(named: "sd1_kohya_r4", in: Self.loraFolder)
        let use = LoRAUse(file: file, textWeight: 1, unetWeight: 1)
        let roomy = try model.withLoRAs([use], application: .merge, available: 1e12)
        #expect(roomy.warnings.isEmpty)
        let tight = try model.withLoRAs([use], application: .merge, available: Double(file.adaptedWeightCount))  // a quarter of the copies' bytes
        #expect(tight.warnings.count == 1 && tight.warnings[0].contains("--lora-apply runtime"), "\(tight.warnings)")
        #expect(tight.model !== roomy.model)
        _ = try model.withLoRAs([])
    }

    /// Every file is read as the format the fixture says, with its modules per component; LoHa is
    /// refused naming the kind.
    @Test func readsEachFormat() throws {
        for (name, info) in Self.infos.sorted(by: { $0.key < $1.key }) {
            let path = Self.folder.appendingPathComponent("loras/\(name).safetensors").path
            guard info.diffusers == "loads" else {
                #expect(throws: CheckpointError.self) { try LoRAFile(path: path) }
                do { _ = try LoRAFile(path: path) } catch {
                    #expect("\(error)".contains("LyCORIS LoHa is not supported"), "\(error)")
                }
                continue
            }
            let file = try LoRAFile(path: path)
            let expected: LoRAFile.Format = switch info.format {
            case "kohya": .kohya
            case "locon": .locon
            case "peft": .peft
            default: .diffusersOld
            }
            #expect(file.format == expected, "\(name): \(info.format)")
            for (component, count) in info.modules {
                let ours: LoRAComponent = component == "unet" ? .unet : component == "text_encoder_2" ? .textEncoder2 : .textEncoder
                #expect(file.flatNames(ours).count == count, "\(name) \(component)")
            }
        }
    }

    /// After a run with LoRAs, a run without gives the plain model's image again (nothing merged
    /// into the base), and a run with other weights differs.
    @Test(arguments: LoRAApplication.allCases)
    func weightsChangeWithoutReloading(_ application: LoRAApplication) throws {
        let model = try Self.models.model("../pipelines/sd1")
        let plain = try #require(Self.cases.first { $0.name == "sd1-plain" })
        let halved = try #require(Self.cases.first { $0.name == "sd1-kohya_r4-w0.5" })
        let full = try #require(Self.cases.first { $0.name == "sd1-kohya_r4" })
        let pipeline = Pipeline(model: model)
        func run(_ fixture: Case) throws -> GeneratedImage {
            var request = try Self.request(fixture)
            request.loraApplication = application
            return try #require(try pipeline.run(request).first)
        }
        let (first, second, third) = (try run(full), try run(halved), try run(plain))
        try PipelineTests.expectParity(second, png: Self.folder.appendingPathComponent(halved.output),
                                       latents: Self.latents.tensor(halved.name), label: "after w1: w0.5")
        try PipelineTests.expectParity(third, png: Self.folder.appendingPathComponent(plain.output),
                                       latents: Self.latents.tensor(plain.name), label: "after LoRAs: plain")
        #expect(first.image.rgb != second.image.rgb)
    }

    @Test func loraForAnotherFamilyIsRefusedNamingIt() throws {
        let model = try Self.models.model("../pipelines/sd1")
        var request = GenerationRequest(prompt: "a house <lora:sdxl_kohya_r4:1>")
        (request.steps, request.width, request.height, request.preview, request.loraFolder) = (2, 32, 32, .off, Self.loraFolder)
        #expect {
            try Pipeline(model: model).run(request)
        } throws: { error in
            let text = "\(error)"
            return text.contains("sdxl_kohya_r4.safetensors") && text.contains("another kind of model") && !text.contains("\n")
        }
    }

    @Test func missingFolderAndNameAreOneLineErrors() throws {
        let model = try Self.models.model("../pipelines/sd1")
        var request = GenerationRequest(prompt: "a house <lora:nothing_here:1>")
        (request.steps, request.width, request.height, request.preview) = (2, 32, 32, .off)
        #expect { try Pipeline(model: model).run(request) } throws: { "\($0)".contains("--lora-dir") }
        request.loraFolder = Self.loraFolder
        #expect { try Pipeline(model: model).run(request) } throws: {
            "\($0)".contains("\"nothing_here\" not found") && "\($0)".contains("sd1_kohya_r4")
        }
        request.prompt = "a house <lora:../lora/loras/sd1_kohya_r4:1>"
        #expect { try Pipeline(model: model).run(request) } throws: { "\($0)".contains("without folders") }
        request.loraFolder = "/nonexistent/loras"
        request.prompt = "a house <lora:sd1_kohya_r4:1>"
        #expect { try Pipeline(model: model).run(request) } throws: { "\($0)".contains("does not exist") }
    }

    /// An embedding and a LoRA in one prompt: both apply, and the infotext lists each under its
    /// field (a LoRA tag is not read as a use of an embedding of the same name).
    @Test func embeddingAndLoRATogether() throws {
        let model = try Self.models.model("../pipelines/sd1")
        var request = GenerationRequest(prompt: "a tinystyle house <lora:sd1_kohya_r4:1> <lora:tinystyle:0>")
        (request.steps, request.width, request.height, request.preview, request.seed) = (3, 32, 32, .off, 5)
        request.loraFolder = Self.loraFolder
        request.embeddingsFolder = Self.folder.appendingPathComponent("embeddings").path
        // No LoRA is named tinystyle: the tag is refused, not read as the embedding.
        #expect { try Pipeline(model: model).run(request) } throws: { "\($0)".contains("\"tinystyle\" not found") }
        request.prompt = "a tinystyle house <lora:sd1_kohya_r4:1>"
        let image = try #require(try Pipeline(model: model).run(request).first)
        let text = Infotext(image: image, model: model, modelHash: nil, version: "test").text
        #expect(text.contains("TI hashes: \"tinystyle: "), "\(text)")
        #expect(text.contains("Lora hashes: \"sd1_kohya_r4: 8dbdbfc10ca5\""), "\(text)")
    }

    /// Names are found below the folder too (links followed, hidden folders left out), as the
    /// studio's LoRA list shows them.
    @Test func namesAreFoundInFoldersBelow() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loras-\(UUID().uuidString)")
        let original = Self.folder.appendingPathComponent("loras/sd1_kohya_r4.safetensors").path
        for sub in ["styles", ".hidden"] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("styles/linked.safetensors").path,
                                                   withDestinationPath: original)
        try FileManager.default.copyItem(atPath: original, toPath: folder.appendingPathComponent(".hidden/secret.safetensors").path)
        let library = LoRALibrary()
        #expect(try library.file(named: "linked", in: folder.path).moduleCount == 150)
        #expect(throws: LoRAError.self) { try library.file(named: "secret", in: folder.path) }
        #expect(LoRALibrary.names(in: folder.path) == ["linked"])
        #expect(LoRALibrary.files(in: folder.path).map(\.path) == ["styles/linked.safetensors"])
    }

    @Test func infotextCarriesLoraHashesAndTags() throws {
        let model = try Self.models.model("../pipelines/sd1")
        let fixture = try #require(Self.cases.first { $0.name == "sd1-two-loras" })
        var request = try Self.request(fixture)
        request.steps = 2
        let image = try #require(try Pipeline(model: model).run(request).first)
        let text = Infotext(image: image, model: model, modelHash: nil, version: "test").text
        #expect(text.hasPrefix(fixture.prompt))
        #expect(text.contains("Lora hashes: \"sd1_kohya_r4: 8dbdbfc10ca5, sd1_peft_r8: 1a542017c28e\""), "\(text)")
        var back = try GenerationRequest(infotext: Infotext(parsing: text))
        #expect(back.prompt == fixture.prompt)
        #expect(back.recordedLoRAHashes == image.loraHashes)
        // Rerun from the infotext: same LoRAs, no warning; a LoRA file that changed since is named.
        back.loraFolder = Self.loraFolder
        var warnings: [String] = []
        _ = try Pipeline(model: model).run(back) { if case .warning(let w) = $0 { warnings.append(w) } }
        #expect(warnings.isEmpty)
        back.recordedLoRAHashes[1].hash = "000000000000"
        _ = try Pipeline(model: model).run(back) { if case .warning(let w) = $0 { warnings.append(w) } }
        #expect(warnings.count == 1 && warnings[0].contains("sd1_peft_r8") && warnings[0].contains("000000000000"), "\(warnings)")
    }
}

/// LoRA files made here, tensor by tensor: the parts of the format the fixtures do not cover.
@Suite struct LoRAFileTests {
    /// Writes a safetensors file of float32 tensors (and metadata) to a temporary path.
    static func write(_ tensors: [(String, [Int], [Float])], metadata: [String: String] = [:]) throws -> String {
        var header: [String: Any] = metadata.isEmpty ? [:] : ["__metadata__": metadata]
        var data = Data()
        for (name, shape, values) in tensors {
            header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [data.count, data.count + values.count * 4]]
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(data)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString).safetensors")
        try file.write(to: url)
        return url.path
    }

    static func ones(_ shape: [Int]) -> [Float] { [Float](repeating: 1, count: shape.reduce(1, *)) }

    @Test func peftAlphaPatternAndRankStabilisedScaling() throws {
        let config = #"{"unet.r": 4, "unet.lora_alpha": 2, "unet.alpha_pattern": {"mid_block.attentions.0.proj_out": 8}, "unet.use_rslora": false, "text_encoder.r": 4, "text_encoder.lora_alpha": 8, "text_encoder.use_rslora": true}"#
        let path = try Self.write([
            ("unet.mid_block.attentions.0.proj_out.lora_A.weight", [4, 3], Self.ones([4, 3])),
            ("unet.mid_block.attentions.0.proj_out.lora_B.weight", [3, 4], Self.ones([3, 4])),
            ("unet.mid_block.attentions.0.proj_in.lora_A.weight", [4, 3], Self.ones([4, 3])),
            ("unet.mid_block.attentions.0.proj_in.lora_B.weight", [3, 4], Self.ones([3, 4])),
            ("text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_A.weight", [4, 3], Self.ones([4, 3])),
            ("text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_B.weight", [5, 4], Self.ones([5, 4])),
        ], metadata: ["lora_adapter_metadata": config])
        let file = try LoRAFile(path: path)
        #expect(file.format == .peft)
        #expect(file.module(.unet, "mid_block_attentions_0_proj_out")?.scale == 2)  // 8 / 4
        #expect(file.module(.unet, "mid_block_attentions_0_proj_in")?.scale == 0.5)  // 2 / 4
        #expect(file.module(.textEncoder, "encoder_layers_0_mlp_fc1")?.scale == 4)  // 8 / sqrt(4)
    }

    @Test(arguments: [("x.hada_w1_a", "LyCORIS LoHa"), ("x.lokr_w1", "LyCORIS LoKr"), ("x.oft_blocks", "LyCORIS OFT"),
                      ("x.diff", "LyCORIS full-weight diff"), ("lora_unet_x.dora_scale", "DoRA"), ("lora_unet_x.lora_mid.weight", "CP decomposition")])
    func otherKindsAreRefusedByName(_ name: String, _ kind: String) throws {
        let path = try Self.write([(name, [2, 2], Self.ones([2, 2]))])
        #expect { try LoRAFile(path: path) } throws: { "\($0)".contains(kind) && "\($0)".contains("not supported") }
    }

    @Test func brokenModulesAreOneLineErrors() throws {
        let noUp = try Self.write([("lora_unet_a.lora_down.weight", [2, 3], Self.ones([2, 3]))])
        #expect { try LoRAFile(path: noUp) } throws: { "\($0)".contains("lora_unet_a") && "\($0)".contains("no up") }
        let mismatched = try Self.write([("lora_unet_a.lora_down.weight", [2, 3], Self.ones([2, 3])),
                                         ("lora_unet_a.lora_up.weight", [3, 5], Self.ones([3, 5]))])
        #expect { try LoRAFile(path: mismatched) } throws: { "\($0)".contains("do not make a low-rank update") }
        let badAlpha = try Self.write([("lora_unet_a.lora_down.weight", [2, 3], Self.ones([2, 3])),
                                       ("lora_unet_a.lora_up.weight", [3, 2], Self.ones([3, 2])), ("lora_unet_a.alpha", [2], [1, 2])])
        #expect { try LoRAFile(path: badAlpha) } throws: { "\($0)".contains("alpha") }
        let nothing = try Self.write([("model.weight", [2, 2], Self.ones([2, 2]))])
        #expect { try LoRAFile(path: nothing) } throws: { "\($0)".contains("no LoRA tensors") }
    }

    /// A file with tensors of no module, and modules that fit no layer of the model: the rest
    /// applies, both are named in warnings.
    @Test func unknownTensorsAndUnmatchedModulesAreWarnings() throws {
        let fixture = try SafetensorsFile(path: LoRATests.folder.appendingPathComponent("loras/sd1_kohya_te_r8.safetensors").path)
        var tensors: [(String, [Int], [Float])] = try fixture.tensorNames.map { name in
            let tensor = try fixture.tensor(name)
            return (name, tensor.shape, tensor.storage)
        }
        tensors.append(("bundle_emb.style.string_to_param.*", [1, 32], Self.ones([1, 32])))
        tensors.append(("lora_unet_no_such_layer.lora_down.weight", [2, 3], Self.ones([2, 3])))
        tensors.append(("lora_unet_no_such_layer.lora_up.weight", [3, 2], Self.ones([3, 2])))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loras-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: try Self.write(tensors), toPath: folder.appendingPathComponent("extra.safetensors").path)
        var request = GenerationRequest(prompt: "a house <lora:extra:1>")
        (request.steps, request.width, request.height, request.preview, request.loraFolder) = (2, 32, 32, .off, folder.path)
        var warnings: [String] = []
        _ = try Pipeline(model: LoRATests.models.model("../pipelines/sd1")).run(request) {
            if case .warning(let text) = $0 { warnings.append(text) }
        }
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.contains { $0.contains("bundle_emb.style") && $0.contains("left out") })
        #expect(warnings.contains { $0.contains("1 of its 19 modules") && $0.contains("lora_unet_no_such_layer") })
    }
}

/// `<lora:…>` tags as A1111 reads them.
@Suite struct ExtraNetworkTagTests {
    @Test func takesTagsOutAndReadsWeights() {
        let tags = ExtraNetworkTags(parsing: "a red house <lora:one:0.8> by the sea <lora:two> <lyco:three:-0.5:1.5> at sunset")
        #expect(tags.prompt == "a red house  by the sea   at sunset")
        #expect(tags.loras == [
            .init(name: "one", textWeight: 0.8, unetWeight: 0.8), .init(name: "two", textWeight: 1, unetWeight: 1),
            .init(name: "three", textWeight: -0.5, unetWeight: 1.5),
        ])
        #expect(tags.notes.isEmpty)
    }

    @Test func namedWeights() {
        #expect(ExtraNetworkTags(parsing: "<lora:x:te=0.3>").loras == [.init(name: "x", textWeight: 0.3, unetWeight: 0.3)])
        #expect(ExtraNetworkTags(parsing: "<lora:x:unet=0.7>").loras == [.init(name: "x", textWeight: 1, unetWeight: 0.7)])
        #expect(ExtraNetworkTags(parsing: "<lora:x:0.2:unet=0.9>").loras == [.init(name: "x", textWeight: 0.2, unetWeight: 0.9)])
    }

    @Test func leavesOtherAnglesAlone() {
        for text in ["a < b and c > d", "<3 love", "<lora:>", "x <lora:a:1", "<:x>", "<lora<lora:a:1>"] {
            let tags = ExtraNetworkTags(parsing: text)
            #expect(tags.loras.isEmpty || text == "<lora<lora:a:1>", "\(text)")
            if text != "<lora<lora:a:1>" { #expect(tags.prompt == text, "\(text)") }
        }
        #expect(ExtraNetworkTags(parsing: "<lora<lora:a:1>").prompt == "<lora")
    }

    @Test func badWeightsAndOtherNetworksAreNotes() {
        let bad = ExtraNetworkTags(parsing: "a <lora:x:heavy> b <hypernet:h:1> c <lora:y:nan>")
        #expect(bad.loras.isEmpty)
        #expect(bad.prompt == "a  b  c ")
        #expect(bad.notes.count == 3)
        #expect(bad.notes.contains { $0.contains("hypernet") })
    }
}
