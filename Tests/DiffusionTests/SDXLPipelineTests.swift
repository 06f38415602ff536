import Foundation
import Imaging
import Tensor
import Testing
@testable import Diffusion

/// End-to-end parity with diffusers' `StableDiffusionXLPipeline` / `StableDiffusionXLImg2ImgPipeline`
/// on the tiny random-weight SDXL pipeline of Fixtures/sdxl (made by tools/make_sdxl_fixtures.py;
/// see the README there): two text encoders of different widths, a `text_time` UNet with a
/// transformer depth of 2, the 0.13025 VAE; as a diffusers folder (float32 and fp16) and as SGM
/// single files made by tools/convert_to_single_file.py. The bar is the SD 1.x / 2.x pipelines':
/// max difference <= 2 levels, >= 99% of channel values within 1 level, final latents within 5e-3.
@Suite struct SDXLPipelineTests {
    static var folder: URL { CheckpointFixtures.root.appendingPathComponent("sdxl") }

    typealias Case = PipelineCase

    static let cases = PipelineCase.load(from: folder)

    static let latents: SafetensorsFile = {
        try! SafetensorsFile(path: folder.appendingPathComponent("latents.safetensors").path)
    }()

    /// Models loaded once each and shared by the cases: the folders, and the single files.
    static let models = PipelineTests.ModelCache { name in
        switch name {
        case "sdxl-single": try singleFile("sdxl.safetensors")
        case "sdxl-fp16-single": try singleFile("sdxl-fp16.safetensors")
        default: try StableDiffusionModel(folder: folder.appendingPathComponent(name).path)
        }
    }

    /// A single file of the tiny model: the configs the tiny widths need (64-wide heads cannot
    /// be assumed at width 32) from the folder, as diffusers' `from_single_file(config=folder)`.
    static func singleFile(_ file: String) throws -> StableDiffusionModel {
        let reference = folder.appendingPathComponent("sdxl").path
        let component = { (part: String) in try DiffusersComponent(model: reference, component: part) }
        let options = SingleFileCheckpoint.Options(
            textEncoderConfig: try component("text_encoder").loadConfig(CLIPTextConfig.self),
            textEncoder2Config: try component("text_encoder_2").loadConfig(CLIPTextConfig.self),
            unetConfig: try component("unet").loadConfig(UNet2DConditionConfig.self),
            vaeConfig: try component("vae").loadConfig(AutoencoderKLConfig.self))
        let checkpoint = try SingleFileCheckpoint(path: folder.appendingPathComponent(file).path, options: options)
        let tokenizer = try CLIPTokenizer(folder: reference + "/tokenizer")
        let tokenizer2 = try CLIPTokenizer(folder: reference + "/tokenizer_2")
        return try StableDiffusionModel(checkpoint: checkpoint, tokenizer: tokenizer, padToken: tokenizer.pad,
                                        secondTokenizer: tokenizer2,
                                        scheduler: SchedulerConfig.read(from: reference + "/scheduler/scheduler_config.json"))
    }

    static func request(for fixture: Case) throws -> GenerationRequest {
        try fixture.request(imagesIn: folder)
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 22)
    }

    @Test(arguments: cases)
    func matchesDiffusers(_ fixture: Case) throws {
        let model = try Self.models.model(fixture.model)
        #expect(model.family == .sdxl)
        let images = try Pipeline(model: model).run(try Self.request(for: fixture))
        #expect(images.count == 1)
        guard let image = images.first else { return }
        try PipelineTests.expectParity(image, png: Self.folder.appendingPathComponent(fixture.output),
                                       latents: Self.latents.tensor(fixture.name), label: "sdxl \(fixture.name)")
    }
}

/// SDXL single files as model sites ship them: the full-size SGM layout read from names and
/// shapes alone (Fixtures/sdxl/shapes-sdxl.json), and the refiner refused.
@Suite struct SDXLSingleFileTests {
    @Test func fullSizeLayoutMapsEveryTensorToDiffusers() throws {
        let (tensors, diffusers) = try SingleFileCheckpointTests.fullSize(at: SDXLPipelineTests.folder.appendingPathComponent("shapes-sdxl.json"))
        let layout = try SingleFileLayout(tensors: tensors, metadata: ["modelspec.architecture": "stable-diffusion-xl-v1-base"],
                                          path: "sdxl", options: .init())
        #expect(layout.family == .sdxl && layout.prediction == .epsilon)
        #expect(layout.unetConfig == (try UNet2DConditionConfig.read(from: CheckpointFixtures.config("sdxl-unet.hub.json"))))
        #expect(layout.textEncoderConfig.hiddenSize == 768 && layout.textEncoderConfig.numHiddenLayers == 12
            && layout.textEncoderConfig.hiddenAct == "quick_gelu" && layout.textEncoderConfig.numAttentionHeads == 12)
        let second = try #require(layout.textEncoder2Config)
        #expect(second.hiddenSize == 1280 && second.numHiddenLayers == 32 && second.numAttentionHeads == 20
            && second.intermediateSize == 5120 && second.hiddenAct == "gelu" && second.projectionDim == 1280)
        #expect(layout.vaeConfig.scalingFactor == 0.13025 && layout.vaeConfig.sampleSize == 1024
            && layout.vaeConfig.blockOutChannels == [128, 256, 512, 512])
        #expect(layout.schedulerConfig.className == "EulerDiscreteScheduler" && layout.schedulerConfig.timestepSpacing == "leading")
        let components = [("unet", layout.unet), ("vae", layout.vae), ("text_encoder", layout.textEncoder)]
            + [layout.textEncoder2.map { ("text_encoder_2", $0) }].compactMap { $0 }
        #expect(components.count == 4)
        for (name, component) in components {
            let mapped = component.entries.mapValues(\.info.shape)
            #expect(mapped == diffusers[name], "\(name): \(mapped.count) mapped, \(diffusers[name]?.count ?? 0) expected")
        }
        #expect(layout.unrecognized.isEmpty, "\(layout.unrecognized.prefix(5))")
        #expect(layout.ignored == ["conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
                                   "conditioner.embedders.1.model.logit_scale"])
        // The UNet the layout describes builds (names and shapes agree) without any weight data.
        let layoutOnly = try UNetLayout(layout.unetConfig)
        #expect(layoutOnly.levels.map(\.transformerDepth) == [1, 2, 10] && layoutOnly.textTime?.inputWidth == 2816)
    }

    @Test func tinySingleFileKnowsItsFamilyAndTransposesTheProjection() throws {
        let model = try SDXLPipelineTests.models.model("sdxl-single")
        #expect(model.family == .sdxl && model.nativeSize == 32)
        #expect(model.previewFactors == .stableDiffusionXL)
        let folder = try SDXLPipelineTests.models.model("sdxl")
        let ours = try #require(model.conditioner as? SDXLTextConditioner)
        let theirs = try #require(folder.conditioner as? SDXLTextConditioner)
        // text_projection is stored [width, projection] = [64, 32] in the file, [32, 64] in the folder.
        #expect(ours.projection.weight.shape == [32, 64])
        let count = ours.projection.weight.count
        let a = ours.projection.weight.withFloat32 { Array(UnsafeBufferPointer(start: $0, count: count)) }
        let b = theirs.projection.weight.withFloat32 { Array(UnsafeBufferPointer(start: $0, count: count)) }
        #expect(a == b)
    }

    @Test func refinerFolderIsRefused() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        _ = try scratch.write("refiner/model_index.json", Array(#"{"_class_name": "StableDiffusionXLImg2ImgPipeline", "text_encoder": [null, null], "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "requires_aesthetics_score": true}"#.utf8))
        let error = #expect(throws: CheckpointError.self) { try StableDiffusionModel(folder: scratch.url.appendingPathComponent("refiner").path) }
        #expect(error?.description.contains("not supported yet: model = SDXL refiner (the refiner (OpenCLIP-bigG only, aesthetic-score conditioning) is not supported") == true)
    }
}

/// SDXL's conditioning seams: what the conditioner hands the UNet.
@Suite struct SDXLConditioningTests {
    static func conditioner() throws -> SDXLTextConditioner {
        try #require(try SDXLPipelineTests.models.model("sdxl").conditioner as? SDXLTextConditioner)
    }

    @Test func timeIdsAreOriginalCropTarget() throws {
        var request = ConditioningRequest(prompt: "a house", negativePrompt: "blurry", width: 48, height: 32)
        #expect(request.timeIds == [32, 48, 0, 0, 32, 48])
        request.sizeConditioning = SizeConditioning(originalWidth: 2048, originalHeight: 1536, cropTop: 4, cropLeft: 8)
        #expect(request.timeIds == [1536, 2048, 4, 8, 32, 48])
        let (positive, negative) = try Self.conditioner().encode(request)
        #expect(positive.timeIds?.storage == request.timeIds && negative?.timeIds?.storage == request.timeIds)
        #expect(positive.crossAttention.shape == [1, 77, 96] && positive.pooled?.shape == [1, 32])
    }

    @Test func emptyNegativeIsZerosAndLongPromptsPadBoth() throws {
        let conditioner = try Self.conditioner()
        let long = Array(repeating: "a red house by the sea", count: 20).joined(separator: ", ")
        let (positive, negative) = try conditioner.encode(ConditioningRequest(prompt: long, negativePrompt: "", width: 32, height: 32))
        let zeros = try #require(negative)
        #expect(positive.crossAttention.shape[1] > 77 && zeros.crossAttention.shape == positive.crossAttention.shape)
        #expect(zeros.crossAttention.storage.allSatisfy { $0 == 0 } && zeros.pooled?.storage.allSatisfy { $0 == 0 } == true)
        let (_, encoded) = try conditioner.encode(ConditioningRequest(prompt: long, negativePrompt: "blurry", width: 32, height: 32))
        #expect(encoded?.crossAttention.shape == positive.crossAttention.shape)
        #expect(encoded?.crossAttention.storage.contains { $0 != 0 } == true)
    }

    @Test func clipSkipOneAndTwoAreThePenultimateLayer() throws {
        let conditioner = try Self.conditioner()
        func states(_ skip: Int) throws -> [Float] {
            try conditioner.encode(ConditioningRequest(prompt: "a house", negativePrompt: nil, clipSkip: skip, width: 32, height: 32)).positive.crossAttention.storage
        }
        #expect(try states(1) == states(2))
        #expect(try states(3) != states(2))
        #expect(conditioner.layerCount == 4)  // the smaller encoder's
        let error = #expect(throws: GenerationError.self) {
            try conditioner.encode(ConditioningRequest(prompt: "a house", negativePrompt: nil, clipSkip: 6, width: 32, height: 32))
        }
        #expect(error?.description.hasPrefix("clip skip must be a whole number from 1 to 5") == true)
    }

    @Test func emphasisChangesEachEncodersStatesButNotThePooledOutput() throws {
        let conditioner = try Self.conditioner()
        let plain = try conditioner.encode(ConditioningRequest(prompt: "a red house", negativePrompt: nil, width: 32, height: 32)).positive
        let weighted = try conditioner.encode(ConditioningRequest(prompt: "a (red:1.5) house", negativePrompt: nil, width: 32, height: 32)).positive
        #expect(plain.crossAttention.storage != weighted.crossAttention.storage)
        #expect(plain.pooled?.storage == weighted.pooled?.storage)
    }

    @Test func unetWithoutPooledTextFailsInOneLine() throws {
        let model = try SDXLPipelineTests.models.model("sdxl")
        let latents = Tensor(zeros: [1, 4, 16, 16])
        let context = Conditioning(crossAttention: Tensor(zeros: [1, 77, 96]))
        let error = #expect(throws: GenerationError.self) {
            try model.denoiser(latents, timesteps: [500], conditioning: context, check: {})
        }
        #expect(error?.description.contains("needs a pooled text embedding and time ids 80 wide") == true)
    }
}

/// SDXL images' parameters: A1111's text for SDXL images read back, stipple's own SDXL fields
/// written and read.
@Suite struct SDXLInfotextTests {
    @Test func readsA1111SDXLImages() throws {
        let base = try Infotext(parsing: """
            cinematic photo of a fox in the snow, (detailed fur:1.2)
            Negative prompt: blurry, lowres
            Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 1216x832, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.8, Version: v1.10.1
            """)
        let request = try GenerationRequest(infotext: base)
        #expect(request.prompt == "cinematic photo of a fox in the snow, (detailed fur:1.2)" && request.negativePrompt == "blurry, lowres")
        #expect(request.steps == 30 && request.sampler == .dpmpp2M && request.schedule == .karras && request.cfgScale == 7)
        #expect(request.seed == 1234 && request.width == 1216 && request.height == 832 && request.timestepSpacing == nil)
        #expect(GenerationRequest.warnings(for: base).contains("Refiner is not supported and is ignored"))

        let lightning = try Infotext(parsing: """
            a lighthouse at dusk
            Steps: 4, Sampler: Euler, Schedule type: SGM Uniform, CFG scale: 1, Seed: 5, Size: 1024x1024, Model: sdxl_lightning_4step, Version: f2.0.1v1.10.1
            """)
        let fast = try GenerationRequest(infotext: lightning)
        #expect(fast.sampler == .euler && fast.schedule == .model && fast.timestepSpacing == .trailing && fast.cfgScale == 1)
        #expect(GenerationRequest.warnings(for: lightning).contains { $0.hasPrefix("Schedule type SGM Uniform is run as trailing") })
    }

    @Test func writesAndReadsBackSpacingAndSizeConditioning() throws {
        let model = try SDXLPipelineTests.models.model("sdxl")
        var request = GenerationRequest(prompt: "a house")
        request.timestepSpacing = .trailing
        request.sizeConditioning = SizeConditioning(originalWidth: 2048, originalHeight: 1536, cropTop: 0, cropLeft: 256)
        request.cfgScale = 0
        let text = Infotext(request: request, seed: 7, width: 32, height: 48, model: model, modelHash: nil, version: "test")
        #expect(text["Timestep spacing"] == "trailing" && text["Original size"] == "2048x1536" && text["Crop top left"] == "0,256")
        let back = try GenerationRequest(infotext: Infotext(parsing: text.text))
        #expect(back.timestepSpacing == .trailing && back.sizeConditioning == request.sizeConditioning && back.cfgScale == 0)
        // Defaults write nothing of their own.
        let plain = Infotext(request: GenerationRequest(prompt: "a house"), seed: 7, width: 32, height: 32, model: model,
                             modelHash: nil, version: "test")
        #expect(plain["Timestep spacing"] == nil && plain["Original size"] == nil && plain["Crop top left"] == nil)
        for (key, value) in [("Timestep spacing", "sideways"), ("Original size", "2048"), ("Crop top left", "-1,0")] {
            #expect(throws: GenerationError.self) { try GenerationRequest(infotext: Infotext(parsing: "a\nSteps: 4, Sampler: Euler, CFG scale: 7, \(key): \(value)")) }
        }
    }
}
