import Foundation
import Testing
import Tensor
@testable import Diffusion

/// Single-file checkpoints in the original LDM layout against the diffusers folders they were
/// made from, and full-size SD1.5 / SD2.1 layouts (names and shapes only) against the Hub configs.
/// Fixtures: `.venv-ref/bin/python tools/make_single_file_fixtures.py Tests/DiffusionTests/Fixtures`
/// (its checks: diffusers' own single-file converters give back every folder tensor exactly).
@Suite struct SingleFileCheckpointTests {
    static let folder = CheckpointFixtures.root.appendingPathComponent("single_file")

    static func path(_ model: String) -> String {
        folder.appendingPathComponent(model + ".safetensors").path
    }

    /// The folder model's own configs: a tiny model's head and group counts cannot be inferred.
    static func folderOptions(_ model: String) throws -> SingleFileCheckpoint.Options {
        try SingleFileCheckpoint.Options(
            textEncoderConfig: ModelParityTests.component(model, "text_encoder").loadConfig(CLIPTextConfig.self),
            unetConfig: ModelParityTests.component(model, "unet").loadConfig(UNet2DConditionConfig.self),
            vaeConfig: ModelParityTests.component(model, "vae").loadConfig(AutoencoderKLConfig.self))
    }

    static func open(_ model: String) throws -> SingleFileCheckpoint {
        try SingleFileCheckpoint(path: path(model), options: folderOptions(model))
    }

    // MARK: Family and what is left out

    @Test(arguments: ModelParityTests.models)
    func detectsFamily(model: String) throws {
        let checkpoint = try Self.open(model)
        let sd2 = model == "sd2"
        #expect(checkpoint.family == (sd2 ? .sd2 : .sd1))
        #expect(checkpoint.padToken == (sd2 ? .exclamationMark : .endOfText))
        #expect(checkpoint.prediction == .epsilon)
        #expect(checkpoint.schedulerConfig.className == (sd2 ? "DDIMScheduler" : "PNDMScheduler"))
        #expect(checkpoint.schedulerConfig.predictionType == "epsilon")
        #expect(checkpoint.schedulerConfig.betaSchedule == "scaled_linear" && checkpoint.schedulerConfig.stepsOffset == 1)
        #expect(checkpoint.unrecognizedTensorNames.isEmpty)
        let ignored = checkpoint.ignoredTensorNames
        switch model {
        case "sd1":  // EMA junk, the 12 schedule buffers, CLIP's position_ids
            #expect(ignored.filter { $0.hasPrefix("model_ema.") }.count == 5)
            #expect(ignored.contains("alphas_cumprod") && ignored.contains("posterior_mean_coef2"))
            #expect(ignored.count == 5 + 12 + 1)
        case "sd2":  // the 4th OpenCLIP layer (12 tensors), text_projection, logit_scale
            #expect(ignored.filter { $0.hasPrefix("cond_stage_model.model.transformer.resblocks.3.") }.count == 12)
            #expect(ignored.contains("cond_stage_model.model.text_projection") && ignored.contains("cond_stage_model.model.logit_scale"))
            #expect(ignored.count == 14)
        default:
            #expect(ignored == ["cond_stage_model.transformer.text_model.embeddings.position_ids"])
        }
    }

    /// Shapes tell the tiny UNet's and VAE's structure; only the conventions (8 heads, 32 groups) are SD's.
    @Test func infersStructureOfTinyModels() throws {
        let file = try SafetensorsFile(path: Self.path("sd1"))
        let shapes = ShapeTable(tensors: file.entries, path: file.path)
        let unet = try SingleFileLayout.unetConfig(shapes, family: .sd1, prediction: .epsilon)
        let expected = try ModelParityTests.component("sd1", "unet").loadConfig(UNet2DConditionConfig.self)
        #expect(unet.blockOutChannels == expected.blockOutChannels)
        #expect(unet.layersPerBlock == expected.layersPerBlock)
        #expect(unet.downBlockTypes == expected.downBlockTypes && unet.upBlockTypes == expected.upBlockTypes)
        #expect(unet.crossAttentionDims == expected.crossAttentionDims)
        #expect(unet.inChannels == 4 && unet.outChannels == 4 && !unet.useLinearProjection)
        #expect(unet.attentionHeadDim == [8, 8, 8] && unet.normNumGroups == 32)  // SD conventions, not the tiny model's
        for model in ["sd1", "sd2"] {
            let file = try SafetensorsFile(path: Self.path(model))
            let vae = try SingleFileLayout.vaeConfig(ShapeTable(tensors: file.entries, path: file.path), family: .sd1, sampleSize: 512)
            let expected = try ModelParityTests.component(model, "vae").loadConfig(AutoencoderKLConfig.self)
            #expect(vae.blockOutChannels == expected.blockOutChannels && vae.layersPerBlock == expected.layersPerBlock)
            #expect(vae.latentChannels == 4 && vae.inChannels == 3 && vae.outChannels == 3 && vae.midBlockAddAttention)
        }
        let sd2 = try SingleFileLayout.unetConfig(ShapeTable(tensors: SafetensorsFile(path: Self.path("sd2")).entries, path: ""),
                                                  family: .sd1, prediction: .epsilon)
        #expect(sd2.useLinearProjection)  // from proj_in's rank
    }

    @Test func tinySD2NeedsItsConfigs() throws {
        let error = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: Self.path("sd2")) }
        #expect(error?.description == Self.path("sd2")
            + ": invalid config: cannot tell the attention heads of 8-channel UNet blocks (SD 2.x and XL heads are 64 wide); give the UNet config")
    }

    // MARK: The mapped tensors are the folder's tensors

    /// Every tensor of the folder model is in the single file under the same name, with the same
    /// dtype, shape and values; and the single file maps no tensor the folder lacks.
    @Test(arguments: ModelParityTests.models)
    func mappedTensorsEqualFolder(model: String) throws {
        let checkpoint = try Self.open(model)
        let components: [(String, SingleFileWeights)] = [
            ("text_encoder", checkpoint.textEncoderWeights), ("unet", checkpoint.unetWeights), ("vae", checkpoint.vaeWeights),
        ]
        var compared = 0
        for (name, single) in components {
            let folder = try ModelParityTests.component(model, name).openWeights()
            var expectedNames: Set<String> = []
            for folderName in folder.tensorNames where !folderName.hasSuffix("position_ids") {
                let mapped = name == "text_encoder" && !folderName.hasPrefix("text_model.") ? "text_model." + folderName : folderName
                expectedNames.insert(mapped)
                let info = try #require(single.info(mapped), "\(model) \(mapped) missing")
                #expect(info.shape == folder.info(folderName)?.shape && info.dtype == folder.info(folderName)?.dtype, "\(model) \(mapped)")
                let ours = try single.tensor(mapped, shape: info.shape), theirs = try folder.tensor(folderName)
                #expect(ours.shape == theirs.shape && ours.storage == theirs.storage, "\(model) \(mapped) values")
                compared += 1
            }
            #expect(Set(single.tensorNames) == expectedNames, "\(model) \(name)")
            #expect(single.unusedTensorNames.isEmpty)
        }
        #expect(compared == 52 + 494 + 124)  // text encoder (without position_ids), UNet, VAE
        #expect(checkpoint.unusedTensorNames.isEmpty)
    }

    /// Mapping reads byte ranges of the file: a q of OpenCLIP's fused q, k, v is its first third,
    /// a 1x1 convolution read as a linear weight is the same bytes.
    @Test func mapsByteRangesOfTheFile() throws {
        let checkpoint = try Self.open("sd2")
        let file = checkpoint.textEncoderWeights.file
        let fusedName = "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight"
        let fused = try #require(file.info(fusedName))
        #expect(fused.shape == [96, 32])
        let third = fused.dataOffsets.count / 3
        for (index, part) in ["q", "k", "v"].enumerated() {
            let name = "text_model.encoder.layers.1.self_attn.\(part)_proj.weight"
            let info = try #require(checkpoint.textEncoderWeights.info(name))
            #expect(info.shape == [32, 32])
            #expect(info.dataOffsets == (fused.dataOffsets.lowerBound + index * third)..<(fused.dataOffsets.lowerBound + (index + 1) * third))
            let rows = try checkpoint.textEncoderWeights.tensor(name, shape: [32, 32])
            #expect(rows.storage == Array(try file.tensor(fusedName).storage[(index * 1024)..<((index + 1) * 1024)]))
            #expect(checkpoint.textEncoderWeights.storedName(of: name) == fusedName)
        }
        let conv = try #require(file.info("first_stage_model.decoder.mid.attn_1.q.weight"))
        let linear = try #require(checkpoint.vaeWeights.info("decoder.mid_block.attentions.0.to_q.weight"))
        #expect(conv.shape == [16, 16, 1, 1] && linear.shape == [16, 16] && linear.dataOffsets == conv.dataOffsets)
    }

    // MARK: Models built from the single file

    @Test(arguments: ModelParityTests.models)
    func modelsMatchReferences(model: String) throws {
        let checkpoint = try Self.open(model)
        let reference = try ModelParityTests.reference(model)
        let referencePath = CheckpointFixtures.root.appendingPathComponent("parity/\(model)/reference.safetensors").path

        let encoder = try CLIPTextModel(config: checkpoint.textEncoderConfig, weights: checkpoint.textEncoderWeights)
        let tokens = try ModelParityTests.tokenIDs(reference, path: referencePath)
        let text = ModelParityTests.relativeError(encoder.encode(tokens: tokens), try reference.tensor("text.last_hidden_state"))
        let skip = ModelParityTests.relativeError(encoder.encode(tokens: tokens, skipLayers: 1), try reference.tensor("text.clip_skip2"))
        #expect(text <= 1e-4 && skip <= 1e-4, "\(model) text: \(text), clip skip 2: \(skip)")

        let unet = try UNet2DConditionModel(config: checkpoint.unetConfig, weights: checkpoint.unetWeights)
        let sample = try reference.tensor("unet.sample"), context = try reference.tensor("unet.encoder_hidden_states")
        for t in [1, 500, 999] {
            let out = unet(sample, timesteps: [Float(t), Float(t)], context: context)
            let error = ModelParityTests.relativeError(out, try reference.tensor("unet.out.t\(t).batch2"))
            #expect(error <= 1e-4, "\(model) unet t=\(t): \(error)")
        }

        let vae = try AutoencoderKL(config: checkpoint.vaeConfig, weights: checkpoint.vaeWeights)
        let (mean, logvar) = vae.encode(try reference.tensor("vae.image"))
        let errors = [ModelParityTests.relativeError(mean, try reference.tensor("vae.encode.mean")),
                      ModelParityTests.relativeError(logvar, try reference.tensor("vae.encode.logvar")),
                      ModelParityTests.relativeError(vae.decode(try reference.tensor("vae.latent")), try reference.tensor("vae.decode"))]
        #expect(errors.allSatisfy { $0 <= 1e-4 }, "\(model) vae mean, logvar, decode: \(errors)")
        #expect(checkpoint.unusedTensorNames.isEmpty, "\(model) unused: \(checkpoint.unusedTensorNames.prefix(5))")
    }

    // MARK: Full-size layouts

    /// The names and shapes of a full-size single file (written by the fixture tool from the Hub
    /// configs on PyTorch's meta device) and the diffusers names and shapes of each component.
    static func fullSize(_ arch: String) throws -> (tensors: [String: TensorInfo], diffusers: [String: [String: [Int]]]) {
        try fullSize(at: folder.appendingPathComponent("shapes-\(arch).json"))
    }

    /// The header-only layout of a full-size file in the JSON form of shapes-sd15.json.
    static func fullSize(at url: URL) throws -> (tensors: [String: TensorInfo], diffusers: [String: [String: [Int]]]) {
        let data = try Data(contentsOf: url)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let ldm = try #require(json["ldm"] as? [String: [Any]])
        var tensors: [String: TensorInfo] = [:]
        var offset = 0
        for name in ldm.keys.sorted() {
            let entry = try #require(ldm[name])
            let dtype = TensorInfo.DType(rawValue: try #require(entry[0] as? String)), shape = try #require(entry[1] as? [Int])
            let bytes = shape.reduce(1, *) * (dtype.bitWidth ?? 8) / 8
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, dataOffsets: offset..<(offset + bytes))
            offset += bytes
        }
        let diffusers = try #require(json["diffusers"] as? [String: [String: [Int]]])
        return (tensors, diffusers)
    }

    /// Full-size SD1.5 and SD2.1 (768-v): inferred configs equal the Hub's config.json files and
    /// each component maps to exactly the names and shapes of the diffusers model.
    @Test(arguments: [("sd15", PredictionType.epsilon), ("sd21", PredictionType.vPrediction)])
    func fullSizeLayout(arch: String, prediction: PredictionType) throws {
        let (tensors, diffusers) = try Self.fullSize(arch)
        let layout = try SingleFileLayout(tensors: tensors, metadata: [:], path: arch, options: .init(prediction: prediction))
        let hub = { (component: String) in CheckpointFixtures.config("\(arch)-\(component).hub.json") }
        #expect(layout.family == (arch == "sd15" ? .sd1 : .sd2))
        #expect(layout.textEncoderConfig == (try CLIPTextConfig.read(from: hub("text_encoder"))))
        #expect(layout.unetConfig == (try UNet2DConditionConfig.read(from: hub("unet"))))
        #expect(layout.vaeConfig == (try AutoencoderKLConfig.read(from: hub("vae"))))
        for (name, component) in [("unet", layout.unet), ("vae", layout.vae), ("text_encoder", layout.textEncoder)] {
            let mapped = component.entries.mapValues(\.info.shape)
            #expect(mapped == diffusers[name], "\(arch) \(name): \(mapped.count) mapped, \(diffusers[name]?.count ?? 0) expected")
        }
        #expect(layout.unrecognized.isEmpty)
        if arch == "sd15" {
            #expect(layout.ignored == ["cond_stage_model.transformer.text_model.embeddings.position_ids"])
        } else {  // OpenCLIP-H's 24th layer, text_projection, logit_scale
            #expect(layout.ignored.count == 14 && layout.ignored.allSatisfy { $0.contains("resblocks.23.") || !$0.contains("resblocks") })
        }
    }

    /// SD 2.x base and 768-v files have the same tensors: epsilon and 512 pixels unless told or the metadata says so.
    @Test func sd2PredictionFromOptionsOrMetadata() throws {
        let (tensors, _) = try Self.fullSize("sd21")
        let plain = try SingleFileLayout(tensors: tensors, metadata: [:], path: "", options: .init())
        #expect(plain.prediction == .epsilon && plain.schedulerConfig.predictionType == "epsilon")
        #expect(plain.unetConfig.sampleSize == 64 && plain.vaeConfig.sampleSize == 512)
        let spec = try SingleFileLayout(tensors: tensors, metadata: ["modelspec.architecture": "stable-diffusion-v2-768-v"], path: "", options: .init())
        #expect(spec.prediction == .vPrediction && spec.schedulerConfig.predictionType == "v_prediction" && spec.unetConfig.sampleSize == 96)
        let told = try SingleFileLayout(tensors: tensors, metadata: ["modelspec.prediction_type": "v"], path: "", options: .init(prediction: .epsilon))
        #expect(told.prediction == .epsilon)
        #expect(SingleFileLayout.prediction(from: ["modelspec.prediction_type": "epsilon"]) == .epsilon)
        #expect(SingleFileLayout.prediction(from: ["modelspec.architecture": "stable-diffusion-v1"]) == nil)
    }

    // MARK: Refusals

    @Test(arguments: ["model.ckpt", "model.pt", "model.pth", "pytorch_model.bin", "pickle.safetensors"])
    func refusesPickles(name: String) throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        // torch.save's zip archive (PK\3\4), or a bare protocol-2 pickle stream for the one named .safetensors.
        let bytes: [UInt8] = name.hasSuffix(".safetensors") ? [0x80, 0x02, 0x7D, 0x71, 0x00, 0x2E] + Array(repeating: 0, count: 32)
            : [0x50, 0x4B, 0x03, 0x04] + Array(repeating: 0, count: 60)
        let path = try scratch.write(name, bytes)
        let error = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: path) }
        #expect(error?.reason == .pickle)
        #expect(error?.description == path + ": is a PyTorch pickle checkpoint, not safetensors; " + CheckpointError.pickleAdvice)
    }

    @Test func refusesFilesThatAreNotSD1SD2OrSDXL() throws {
        let sampler = CheckpointFixtures.root.appendingPathComponent("samplers/ddim.safetensors").path
        let notSD = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: sampler) }
        #expect(notSD?.description == sampler + ": not a Stable Diffusion checkpoint: no model.diffusion_model.* UNet among its 15 tensors "
            + "(cosine-linspace-9/samples, cosine-linspace-9/timesteps, epsilon-default-4/samples, epsilon-default-4/timesteps, ...)")

        let unetFile = try #require(try ModelParityTests.component("sd1", "unet").weights.filePath)
        let component = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: unetFile) }
        #expect(component?.description.hasSuffix(": a diffusers UNet weight file, not a single-file checkpoint; "
            + "give the model folder (with unet/, vae/, text_encoder/) instead") == true)

        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        var sdxl = SafetensorsBuilder()
        sdxl.add("conditioner.embedders.1.model.token_embedding.weight", f32: [0, 0], shape: [1, 2])
        sdxl.add("model.diffusion_model.input_blocks.0.0.weight", f32: [0, 0], shape: [2, 1, 1, 1])
        let path = try scratch.write("sdxl.safetensors", sdxl.bytes)
        let refused = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: path) }
        #expect(refused?.description == path + ": not supported yet: architecture = SGM conditioner (found conditioner.embedders.* "
            + "without SDXL's CLIP-L (embedders.0.transformer) and OpenCLIP-bigG (embedders.1.model); "
            + "stipple reads Stable Diffusion 1.x, 2.x and XL single files)")

        let refiner = CheckpointFixtures.root.appendingPathComponent("sdxl/sdxl-refiner.safetensors").path
        let refinerError = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: refiner) }
        #expect(refinerError?.description == refiner + ": not supported yet: architecture = SDXL refiner (found an OpenCLIP-bigG-only "
            + "conditioner.embedders.0 (the refiner, conditioned on aesthetic scores); use an SDXL base model or a fine-tune of one)")
    }

    /// A tensor the model needs but the file lacks is named as the file would name it.
    @Test(arguments: [
        ("sd1", "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"),
        ("sd2", "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"),
        ("sd1", "first_stage_model.decoder.mid.attn_1.proj_out.weight"),
    ])
    func missingTensorIsNamed(model: String, removed: String) throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let path = try scratch.write("\(model).safetensors", Self.copy(of: Self.path(model), without: removed))
        let checkpoint = try SingleFileCheckpoint(path: path, options: Self.folderOptions(model))
        let error = #expect(throws: CheckpointError.self) {
            switch removed.prefix(while: { $0 != "." }) {
            case "model": _ = try UNet2DConditionModel(config: checkpoint.unetConfig, weights: checkpoint.unetWeights)
            case "first_stage_model": _ = try AutoencoderKL(config: checkpoint.vaeConfig, weights: checkpoint.vaeWeights)
            default: _ = try CLIPTextModel(config: checkpoint.textEncoderConfig, weights: checkpoint.textEncoderWeights)
            }
        }
        #expect(error?.description == path + ": no tensor named " + removed)
        // Without the folder's configs, inference reads the UNet's shapes first and names the same tensor.
        if removed.hasPrefix("model.") {
            let inferred = #expect(throws: CheckpointError.self) { try SingleFileCheckpoint(path: path) }
            #expect(inferred?.description == path + ": no tensor named " + removed)
        }
    }

    /// The bytes of a safetensors file without the named tensor, written independently of our reader.
    static func copy(of path: String, without removed: String) throws -> [UInt8] {
        let file = try SafetensorsFile(path: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var builder = SafetensorsBuilder()
        builder.metadata = file.metadata
        for name in file.tensorNames where name != removed {
            let info = try #require(file.info(name))
            let start = 8 + headerLength + info.dataOffsets.lowerBound
            builder.add(name, dtype: info.dtype.rawValue, raw: Array(data[start..<(start + info.dataOffsets.count)]), shape: info.shape)
        }
        return builder.bytes
    }
}

extension DiffusersComponent.Weights {
    /// The single weight file's path; nil for sharded weights.
    var filePath: String? {
        if case .file(let path) = self { path } else { nil }
    }
}
