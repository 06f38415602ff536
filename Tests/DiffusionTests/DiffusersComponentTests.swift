import Foundation
import Testing
@testable import Diffusion

@Suite struct DiffusersComponentTests {
    /// A tiny valid safetensors file with one tensor.
    static var weightBytes: [UInt8] {
        var builder = SafetensorsBuilder()
        builder.add("conv_in.weight", f32: [1, 2, 3], shape: [3])
        return builder.bytes
    }

    /// A model folder holding `files` (relative paths) next to `unet/config.json` and friends.
    static func model(_ files: [String], configs: [String] = ["unet"]) throws -> ScratchFolder {
        let folder = try ScratchFolder()
        for component in configs {
            try folder.write(component + "/config.json", text: "{}")
        }
        for file in files {
            try folder.write(file, weightBytes)
        }
        return folder
    }

    @Test func findsTheUsualFiles() throws {
        let folder = try Self.model(["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"],
                                    configs: ["unet", "text_encoder"])
        defer { folder.remove() }
        let unet = try DiffusersComponent(model: folder.url.path, component: "unet")
        #expect(unet.weights == .file(folder.url.appendingPathComponent("unet/diffusion_pytorch_model.safetensors").path))
        #expect(unet.configPath == folder.url.appendingPathComponent("unet/config.json").path)
        #expect(unet.variant == nil)
        #expect(try unet.openWeights().tensor("conv_in.weight", shape: [3]).storage == [1, 2, 3])
        let text = try DiffusersComponent(model: folder.url.path, component: "text_encoder")
        #expect(text.weights == .file(folder.url.appendingPathComponent("text_encoder/model.safetensors").path))
    }

    @Test(arguments: [
        // files present, variant asked for, file expected, variant found
        (["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"], nil, "diffusion_pytorch_model.safetensors", nil),
        (["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"], "fp16", "diffusion_pytorch_model.fp16.safetensors", "fp16"),
        (["diffusion_pytorch_model.fp16.safetensors"], nil, "diffusion_pytorch_model.fp16.safetensors", "fp16"),
        (["diffusion_pytorch_model.safetensors"], "fp16", "diffusion_pytorch_model.safetensors", nil),
        (["model.fp16.safetensors", "model.safetensors"], nil, "model.safetensors", nil),
        (["diffusion_pytorch_model.ema.safetensors", "diffusion_pytorch_model.fp16.safetensors"], nil, "diffusion_pytorch_model.fp16.safetensors", "fp16"),
        (["diffusion_pytorch_model.ema.safetensors", "diffusion_pytorch_model.fp16.safetensors"], "ema", "diffusion_pytorch_model.ema.safetensors", "ema"),
        (["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"], nil, "diffusion_pytorch_model.safetensors", nil),
    ] as [([String], String?, String, String?)])
    func choosesWeightsLikeDiffusers(_ files: [String], _ asked: String?, _ expected: String, _ found: String?) throws {
        let folder = try Self.model(files.map { "unet/" + $0 })
        defer { folder.remove() }
        let unet = try DiffusersComponent(model: folder.url.path, component: "unet", variant: asked)
        #expect(unet.weights == .file(folder.url.appendingPathComponent("unet/" + expected).path))
        #expect(unet.variant == found)
    }

    @Test func findsShardedCheckpoints() throws {
        let folder = try Self.model(["unet/diffusion_pytorch_model-00001-of-00001.fp16.safetensors"])
        defer { folder.remove() }
        try folder.write("unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                         text: #"{"weight_map": {"conv_in.weight": "diffusion_pytorch_model-00001-of-00001.fp16.safetensors"}}"#)
        let unet = try DiffusersComponent(folder: folder.url.appendingPathComponent("unet").path)
        #expect(unet.weights == .sharded(index: folder.url.appendingPathComponent("unet/diffusion_pytorch_model.safetensors.index.fp16.json").path))
        #expect(unet.variant == "fp16")
        let weights = try unet.openWeights()
        #expect(weights is ShardedWeights)
        #expect(try weights.tensor("conv_in.weight", shape: [3]).storage == [1, 2, 3])
    }

    @Test func namesVariantsAsDiffusersDoes() {
        #expect(DiffusersComponent.withVariant("diffusion_pytorch_model.safetensors", "fp16") == "diffusion_pytorch_model.fp16.safetensors")
        #expect(DiffusersComponent.withVariant("model.safetensors.index.json", "fp16") == "model.safetensors.index.fp16.json")
        #expect(DiffusersComponent.withVariant("model.safetensors", nil) == "model.safetensors")
    }

    @Test(arguments: ["diffusion_pytorch_model.bin", "model.ckpt", "pytorch_model.bin"])
    func refusesPickleWeights(_ file: String) throws {
        let folder = try Self.model(["unet/" + file])
        defer { folder.remove() }
        let error = #expect(throws: CheckpointError.self) { try DiffusersComponent(model: folder.url.path, component: "unet") }
        #expect(error?.reason == .pickle)
        #expect(error?.path == folder.url.appendingPathComponent("unet/" + file).path)
        let message = error?.description ?? ""
        #expect(message.contains("can run arbitrary code") && message.contains("save_pretrained(out, safe_serialization=True)"))
    }

    @Test func saysWhatIsMissingAndWhere() throws {
        let folder = try Self.model([], configs: ["unet"])
        defer { folder.remove() }
        let model = folder.url.path

        let noModel = #expect(throws: CheckpointError.self) { try DiffusersComponent(model: model + "/nope", component: "unet") }
        #expect(noModel?.description == model + "/nope: no such model folder")

        let noComponent = #expect(throws: CheckpointError.self) { try DiffusersComponent(model: model, component: "vae") }
        #expect(noComponent?.description == model + ": no vae/ folder in this model folder")

        try FileManager.default.createDirectory(at: folder.url.appendingPathComponent("vae"), withIntermediateDirectories: true)
        try folder.write("vae/diffusion_pytorch_model.safetensors", Self.weightBytes)
        let noConfig = #expect(throws: CheckpointError.self) { try DiffusersComponent(model: model, component: "vae") }
        #expect(noConfig?.description == model + "/vae: no config.json in this component folder")

        let noWeights = #expect(throws: CheckpointError.self) { try DiffusersComponent(model: model, component: "unet") }
        #expect(noWeights?.path == model + "/unet")
        #expect(noWeights?.description.contains("no weights: looked for diffusion_pytorch_model.safetensors, model.safetensors") == true)
    }

    @Test func loadsAndValidatesConfigsNamingTheFile() throws {
        let folder = try Self.model(["unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"],
                                    configs: ["vae"])
        defer { folder.remove() }
        let sdxl = try String(contentsOfFile: CheckpointFixtures.config("sdxl-unet.json"), encoding: .utf8)
        try folder.write("unet/config.json", text: sdxl.replacingOccurrences(of: "\"text_time\"", with: "\"image\""))
        let unet = try DiffusersComponent(model: folder.url.path, component: "unet")
        let error = #expect(throws: CheckpointError.self) { try unet.loadConfig(UNet2DConditionConfig.self) }
        #expect(error?.description == unet.configPath
            + ": not supported yet: addition_embed_type = image (only SDXL's \"text_time\" (pooled text and size ids))")

        let vae = try DiffusersComponent(model: folder.url.path, component: "vae")
        #expect(try vae.loadConfig(AutoencoderKLConfig.self) == AutoencoderKLConfig())

        try folder.write("vae/config.json", text: #"{"latent_channels": "four"}"#)
        let invalid = #expect(throws: CheckpointError.self) { try vae.loadConfig(AutoencoderKLConfig.self) }
        #expect(invalid?.description == vae.configPath + ": invalid config: latent_channels: expected an integer")
    }
}
