import Foundation
import Testing
@testable import Diffusion

/// Fixtures/configs/NAME.json are the configs diffusers 0.42.1 / transformers 5.24.0 write for
/// SD1.5, SD2.1 and SDXL; NAME.hub.json carry only the keys of the files published on the Hub:
///     .venv-ref/bin/python tools/make_safetensors_fixtures.py Tests/DiffusionTests/Fixtures
@Suite struct ConfigTests {
    static func read<Config: DiffusersConfig>(_ type: Config.Type, _ name: String) throws -> Config {
        try Config.read(from: CheckpointFixtures.config(name))
    }

    /// The sd15 UNet config with `key` set to the JSON text `json`, decoded.
    static func sd15UNet(setting key: String, to json: String) throws -> UNet2DConditionConfig {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        let data = try Data(contentsOf: URL(fileURLWithPath: CheckpointFixtures.config("sd15-unet.json")))
        guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CheckpointError(path: "sd15-unet.json", reason: .invalidConfig("not an object"))
        }
        object[key] = value
        return try UNet2DConditionConfig.decode(json: JSONSerialization.data(withJSONObject: object))
    }

    // MARK: UNet

    @Test func decodesSD15UNet() throws {
        let config = try Self.read(UNet2DConditionConfig.self, "sd15-unet.json")
        #expect(config.headCounts == [8, 8, 8, 8])
        #expect(config.blockOutChannels == [320, 640, 1280, 1280])
        #expect(config.layersPerBlock == [2, 2, 2, 2])
        #expect(config.crossAttentionDim == 768)
        #expect(config.sampleSize == 64)
        #expect(config.inChannels == 4 && config.outChannels == 4)
        #expect(config.midBlockType == .crossAttnMid)
        #expect(config.flipSinToCos && config.freqShift == 0 && config.downsamplePadding == 1)
        #expect(!config.useLinearProjection && !config.upcastAttention)
        #expect(config.normNumGroups == 32 && config.normEps == 1e-5)
        #expect(config.timeEmbeddingChannels == 1280)
        try config.validate()
    }

    /// Block classes are read as `UNetBlockType`s; a class stipple does not build, or one in the
    /// wrong place, is refused naming the key and the class.
    @Test func blockTypesAreTypes() throws {
        let config = try Self.read(UNet2DConditionConfig.self, "sd15-unet.json")
        #expect(config.downBlockTypes == [.crossAttnDown, .crossAttnDown, .crossAttnDown, .down])
        #expect(config.upBlockTypes == [.up, .crossAttnUp, .crossAttnUp, .crossAttnUp])
        #expect(config.downBlockTypes.map(\.hasCrossAttention) == [true, true, true, false])
        #expect(config.midBlockType?.hasCrossAttention == true)
        for (key, json, value, note) in [
            ("down_block_types", #"["CrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]"#,
             "SimpleCrossAttnDownBlock2D", "only CrossAttnDownBlock2D and DownBlock2D"),
            ("up_block_types", #"["UpBlock2D", "CrossAttnDownBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]"#,
             "CrossAttnDownBlock2D", "only CrossAttnUpBlock2D and UpBlock2D"),
            ("mid_block_type", #""UNetMidBlock2D""#, "UNetMidBlock2D", "only UNetMidBlock2DCrossAttn"),
        ] {
            let error = #expect(throws: CheckpointError.self) { try Self.sd15UNet(setting: key, to: json).validate() }
            #expect(error?.reason == .unsupportedConfig(key: key, value: value, note: note))
            #expect(error?.description.contains("\n") == false)
        }
    }

    @Test func decodesSD21UNet() throws {
        let config = try Self.read(UNet2DConditionConfig.self, "sd21-unet.json")
        #expect(config.attentionHeadDim == [5, 10, 20, 20])
        #expect(config.headCounts == [5, 10, 20, 20])
        #expect(zip(config.blockOutChannels, config.headCounts).map { $0 / $1 } == [64, 64, 64, 64])
        #expect(config.crossAttentionDim == 1024)
        #expect(config.useLinearProjection && config.upcastAttention)
        #expect(config.sampleSize == 96)
        try config.validate()
    }

    @Test(arguments: ["sd15-unet", "sd21-unet", "sdxl-unet"])
    func hubFilesDecodeAsTheFullOnes(_ name: String) throws {
        // The Hub files lack most keys; our defaults must fill them in as diffusers does.
        let hub = try Self.read(UNet2DConditionConfig.self, name + ".hub.json")
        let full = try Self.read(UNet2DConditionConfig.self, name + ".json")
        #expect(hub == full)
    }

    @Test func acceptsSDXLUNet() throws {
        let config = try Self.read(UNet2DConditionConfig.self, "sdxl-unet.json")
        #expect(config.additionEmbedType == "text_time")
        #expect(config.additionTimeEmbedDim == 256)
        #expect(config.transformerLayersPerBlock == [1, 2, 10])
        #expect(config.headCounts == [5, 10, 20])
        #expect(config.crossAttentionDim == 2048)
        #expect(config.projectionClassEmbeddingsInputDim == 2816)
        #expect(!config.upcastAttention)  // null in the file
        try config.validate()
        let layout = try UNetLayout(config)
        #expect(layout.levels.map(\.transformerDepth) == [1, 2, 10])
        #expect(layout.textTime?.timeIdWidth == 256 && layout.textTime?.inputWidth == 2816)
    }

    @Test(arguments: [
        ("addition_embed_type", #""image""#, "not supported yet: addition_embed_type = image (only SDXL's \"text_time\" (pooled text and size ids))"),
        ("addition_time_embed_dim", "null", "invalid config: addition_embed_type \"text_time\" needs an even, positive addition_time_embed_dim"),
        ("addition_time_embed_dim", "255", "invalid config: addition_embed_type \"text_time\" needs an even, positive addition_time_embed_dim"),
        ("projection_class_embeddings_input_dim", "null",
         "invalid config: addition_embed_type \"text_time\" needs projection_class_embeddings_input_dim (pooled width + ids x addition_time_embed_dim)"),
        ("time_cond_proj_dim", "1", "invalid config: time_cond_proj_dim 1 must be at least 2 (the guidance embedding's sines and cosines)"),
        ("transformer_layers_per_block", "[1, 0, 10]", "invalid config: transformer_layers_per_block has 0; each level needs 1 to 64 transformer blocks"),
        ("transformer_layers_per_block", "[1, 2, 100]", "invalid config: transformer_layers_per_block has 100; each level needs 1 to 64 transformer blocks"),
    ])
    func refusesBrokenSDXLSettings(_ key: String, _ value: String, _ message: String) throws {
        let file = try Data(contentsOf: URL(fileURLWithPath: CheckpointFixtures.config("sdxl-unet.json")))
        var object = try #require(try JSONSerialization.jsonObject(with: file) as? [String: Any])
        object[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        let config = try UNet2DConditionConfig.decode(json: JSONSerialization.data(withJSONObject: object))
        let error = #expect(throws: CheckpointError.self) { try config.validate() }
        #expect(error?.description == message)
    }

    @Test(arguments: [
        ("class_embed_type", #""timestep""#),
        ("num_class_embeds", "10"),
        ("encoder_hid_dim", "768"),
        ("encoder_hid_dim_type", #""text_proj""#),
        ("dual_cross_attention", "true"),
        ("resnet_time_scale_shift", #""scale_shift""#),
        ("time_embedding_type", #""fourier""#),
        ("time_embedding_dim", "512"),
        ("time_embedding_act_fn", #""silu""#),
        ("timestep_post_act", #""silu""#),
        ("act_fn", #""gelu""#),
        ("conv_in_kernel", "1"),
        ("conv_out_kernel", "1"),
        ("attention_type", #""gated""#),
        ("cross_attention_norm", #""layer_norm""#),
        ("resnet_skip_time_act", "true"),
        ("resnet_out_scale_factor", "2.0"),
        ("reverse_transformer_layers_per_block", "[[1, 1], [1, 1], [1, 1], [1, 1]]"),
        ("down_block_types", #"["CrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]"#),
        ("up_block_types", #"["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "AttnUpBlock2D"]"#),
        ("mid_block_type", "null"),
        ("mid_block_type", #""UNetMidBlock2DSimpleCrossAttn""#),
        ("cross_attention_dim", "[768, 768, 1024, 1024]"),
    ])
    func refusesArchitecturesWeDoNotBuild(_ key: String, _ value: String) throws {
        let config = try Self.sd15UNet(setting: key, to: value)
        let error = #expect(throws: CheckpointError.self) { try config.validate() }
        guard case .unsupportedConfig(let reportedKey, _, _) = error?.reason else {
            Issue.record("expected unsupportedConfig for \(key), got \(String(describing: error))")
            return
        }
        #expect(reportedKey == key)
        #expect(error?.description.hasPrefix("not supported yet: \(key) = ") == true)
    }

    @Test(arguments: [
        ("attention_head_dim", "[8, 8, 8]", "attention_head_dim has 3 entries for 4 down blocks"),
        ("layers_per_block", "[2, 2]", "layers_per_block has 2 entries for 4 down blocks"),
        ("block_out_channels", "[320, 640, 1280]", "block_out_channels has 3 entries for 4 down blocks"),
        ("up_block_types", #"["UpBlock2D", "CrossAttnUpBlock2D"]"#, "4 down_block_types but 2 up_block_types"),
        ("norm_num_groups", "48", "block_out_channels 320 is not divisible by norm_num_groups 48"),
        ("attention_head_dim", "3", "block_out_channels 320 is not divisible by its 3 attention heads"),
    ])
    func refusesInconsistentUNetConfigs(_ key: String, _ value: String, _ detail: String) throws {
        let config = try Self.sd15UNet(setting: key, to: value)
        let error = #expect(throws: CheckpointError.self) { try config.validate() }
        #expect(error?.reason == .invalidConfig(detail))
    }

    @Test func resolvesPerBlockSettings() throws {
        let config = try Self.sd15UNet(setting: "layers_per_block", to: "[1, 2, 3, 4]")
        #expect(config.layersPerBlock == [1, 2, 3, 4])
        try config.validate()
        // num_attention_heads, when given, wins over attention_head_dim.
        let heads = try Self.sd15UNet(setting: "num_attention_heads", to: "[5, 10, 20, 20]")
        #expect(heads.attentionHeadDim == [8, 8, 8, 8] && heads.headCounts == [5, 10, 20, 20])
        let only = try Self.sd15UNet(setting: "only_cross_attention", to: "true")
        #expect(only.onlyCrossAttention == [true, true, true, true])
        try only.validate()
        let square = try Self.sd15UNet(setting: "sample_size", to: "[96, 96]")
        #expect(square.sampleSize == 96)
        // A negative size used to surface later as "width -8 ..." (issue 12).
        for size in ["-1", "0", "100000"] {
            let bad = try Self.sd15UNet(setting: "sample_size", to: size)
            #expect(throws: CheckpointError.self) { try bad.validate() }
            do { try bad.validate() } catch { #expect(error.description.contains("sample_size \(size) must be"), "\(error)") }
        }
    }

    @Test func emptyUNetConfigTakesDiffusersDefaults() throws {
        let config = try UNet2DConditionConfig.decode(json: Data("{}".utf8))
        #expect(config == UNet2DConditionConfig())
        #expect(config.sampleSize == nil && config.crossAttentionDim == 1280 && config.headCounts == [8, 8, 8, 8])
        try config.validate()
    }

    @Test func unetConfigSurvivesEncoding() throws {
        let config = try Self.read(UNet2DConditionConfig.self, "sd21-unet.json")
        let again = try UNet2DConditionConfig.decode(json: JSONEncoder().encode(config))
        #expect(again == config)
    }

    @Test func explainsUndecodableConfigs() {
        let error = #expect(throws: CheckpointError.self) {
            try UNet2DConditionConfig.decode(json: Data(#"{"block_out_channels": [320, "640"]}"#.utf8), path: "unet/config.json")
        }
        #expect(error?.description == "unet/config.json: invalid config: block_out_channels[1]: expected an integer")
        let notJSON = #expect(throws: CheckpointError.self) { try UNet2DConditionConfig.decode(json: Data("{".utf8)) }
        #expect(notJSON?.description.hasPrefix("config.json: invalid config: ") == true)
    }

    // MARK: VAE

    @Test(arguments: [("sd15-vae", 512), ("sd21-vae", 768)])
    func decodesSDVAEs(_ name: String, _ sampleSize: Int) throws {
        let config = try Self.read(AutoencoderKLConfig.self, name + ".json")
        #expect(config.blockOutChannels == [128, 256, 512, 512])
        #expect(config.layersPerBlock == 2 && config.latentChannels == 4 && config.normNumGroups == 32)
        #expect(config.scalingFactor == 0.18215 && config.shiftFactor == nil)
        #expect(config.useQuantConv && config.usePostQuantConv && config.midBlockAddAttention && config.forceUpcast)
        #expect(config.sampleSize == sampleSize)
        try config.validate()
        #expect(try Self.read(AutoencoderKLConfig.self, name + ".hub.json") == config)
    }

    @Test func emptyVAEConfigTakesDiffusersDefaults() throws {
        let config = try AutoencoderKLConfig.decode(json: Data("{}".utf8))
        #expect(config.blockOutChannels == [64] && config.layersPerBlock == 1 && config.sampleSize == 32)
        try config.validate()
    }

    @Test(arguments: [
        (#"{"down_block_types": ["DownEncoderBlock2D", "DownBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"], "block_out_channels": [64, 64]}"#,
         CheckpointError.Reason.unsupportedConfig(key: "down_block_types", value: "DownBlock2D", note: "only DownEncoderBlock2D")),
        (#"{"act_fn": "relu"}"#, .unsupportedConfig(key: "act_fn", value: "relu", note: "only silu")),
        (#"{"block_out_channels": [64, 128]}"#, .invalidConfig("2 block_out_channels but 1 down_block_types and 1 up_block_types")),
        (#"{"latent_channels": 16, "latents_mean": [0, 0, 0, 0]}"#, .invalidConfig("latents_mean has 4 entries for 16 latent channels")),
    ])
    func refusesVAEsWeDoNotBuild(_ json: String, _ reason: CheckpointError.Reason) throws {
        let config = try AutoencoderKLConfig.decode(json: Data(json.utf8))
        let error = #expect(throws: CheckpointError.self) { try config.validate() }
        #expect(error?.reason == reason)
    }

    @Test func readsSD3StyleVAEFields() throws {
        let config = try AutoencoderKLConfig.decode(json: Data(#"{"latent_channels": 16, "scaling_factor": 1.5305, "shift_factor": 0.0609, "use_quant_conv": false, "use_post_quant_conv": false}"#.utf8))
        #expect(config.latentChannels == 16 && config.scalingFactor == 1.5305 && config.shiftFactor == 0.0609)
        #expect(!config.useQuantConv && !config.usePostQuantConv)
    }

    // MARK: CLIP text encoder

    @Test func decodesSD15TextEncoder() throws {
        let config = try Self.read(CLIPTextConfig.self, "sd15-text_encoder.json")
        #expect(config.hiddenSize == 768 && config.intermediateSize == 3072)
        #expect(config.numHiddenLayers == 12 && config.numAttentionHeads == 12 && config.headDim == 64)
        #expect(config.hiddenAct == "quick_gelu" && config.layerNormEps == 1e-5)
        #expect(config.vocabSize == 49408 && config.maxPositionEmbeddings == 77 && config.projectionDim == 768)
        #expect(config.bosTokenID == 0 && config.eosTokenID == 2 && config.padTokenID == 1)
        #expect(config.poolsAtHighestTokenID)
        #expect(config.architectures == ["CLIPTextModel"])
        try config.validate()
        #expect(try Self.read(CLIPTextConfig.self, "sd15-text_encoder.hub.json") == config)
    }

    @Test func decodesSD21TextEncoder() throws {
        let config = try Self.read(CLIPTextConfig.self, "sd21-text_encoder.json")
        #expect(config.hiddenSize == 1024 && config.intermediateSize == 4096)
        #expect(config.numHiddenLayers == 23 && config.numAttentionHeads == 16)
        #expect(config.hiddenAct == "gelu" && config.projectionDim == 512)
        try config.validate()
        #expect(try Self.read(CLIPTextConfig.self, "sd21-text_encoder.hub.json") == config)
    }

    @Test func emptyTextEncoderConfigTakesTransformersDefaults() throws {
        let config = try CLIPTextConfig.decode(json: Data("{}".utf8))
        #expect(config == CLIPTextConfig())
        #expect(config.hiddenSize == 512 && config.bosTokenID == 49406 && config.eosTokenID == 49407 && !config.poolsAtHighestTokenID)
        try config.validate()
    }

    @Test func refusesUnknownTextActivations() throws {
        let relu = try CLIPTextConfig.decode(json: Data(#"{"hidden_act": "relu"}"#.utf8))
        let error = #expect(throws: CheckpointError.self) { try relu.validate() }
        #expect(error?.description == "not supported yet: hidden_act = relu (known: quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)")
        let heads = try CLIPTextConfig.decode(json: Data(#"{"hidden_size": 100, "num_attention_heads": 8}"#.utf8))
        #expect(throws: CheckpointError.self) { try heads.validate() }
    }
}
