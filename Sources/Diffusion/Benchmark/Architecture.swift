import Foundation

/// A full-size Stable Diffusion architecture, described by the config.json files that the real
/// downloads ship (as published on the Hugging Face Hub), for benchmarking without weight files.
public enum Architecture: String, Sendable, CaseIterable {
    /// Stable Diffusion 1.5: OpenAI CLIP ViT-L/14 text encoder, 860M-parameter UNet.
    case sd15
    /// Stable Diffusion 2.1: OpenCLIP ViT-H/14 text encoder (23 of 24 layers), linear projections.
    case sd21
    /// Stable Diffusion XL 1.0 base: CLIP ViT-L/14 + OpenCLIP ViT-bigG/14 (with its projection),
    /// 2.6B-parameter UNet with `text_time` conditioning, the SDXL VAE (scaling factor 0.13025).
    case sdxl

    /// The text encoder's config.
    public func textEncoderConfig() throws -> CLIPTextConfig {
        try CLIPTextConfig.decode(json: Data(textEncoderJSON.utf8), path: "\(rawValue) text_encoder/config.json")
    }

    /// The UNet's config.
    public func unetConfig() throws -> UNet2DConditionConfig {
        try UNet2DConditionConfig.decode(json: Data(unetJSON.utf8), path: "\(rawValue) unet/config.json")
    }

    /// The VAE's config (SD's for all three; SDXL's has its own scaling factor and sample size).
    public func vaeConfig() throws -> AutoencoderKLConfig {
        var config = try AutoencoderKLConfig.decode(json: Data(Self.vaeJSON.utf8), path: "\(rawValue) vae/config.json")
        if self == .sdxl {
            config.scalingFactor = 0.13025
            config.sampleSize = 1024
        }
        return config
    }

    /// SDXL's second text encoder (OpenCLIP ViT-bigG as `CLIPTextModelWithProjection`); nil for the others.
    public func textEncoder2Config() throws -> CLIPTextConfig? {
        guard self == .sdxl else { return nil }
        let json = #"{"hidden_act": "gelu", "hidden_size": 1280, "intermediate_size": 5120, "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "num_attention_heads": 20, "num_hidden_layers": 32, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "projection_dim": 1280, "vocab_size": 49408, "architectures": ["CLIPTextModelWithProjection"]}"#
        return try CLIPTextConfig.decode(json: Data(json.utf8), path: "sdxl text_encoder_2/config.json")
    }

    /// The size the model was made for (its UNet's sample size x 8).
    public var nativeSize: Int {
        switch self {
        case .sd15: 512
        case .sd21: 768
        case .sdxl: 1024
        }
    }

    private var textEncoderJSON: String {
        switch self {
        case .sd15, .sdxl:
            #"{"hidden_act": "quick_gelu", "hidden_size": 768, "intermediate_size": 3072, "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "num_attention_heads": 12, "num_hidden_layers": 12, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "projection_dim": 768, "vocab_size": 49408}"#
        case .sd21:
            #"{"hidden_act": "gelu", "hidden_size": 1024, "intermediate_size": 4096, "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "num_attention_heads": 16, "num_hidden_layers": 23, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "projection_dim": 512, "vocab_size": 49408}"#
        }
    }

    private var unetJSON: String {
        let blocks = #""down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"], "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "in_channels": 4, "out_channels": 4, "norm_num_groups": 32, "norm_eps": 1e-05, "flip_sin_to_cos": true, "freq_shift": 0, "downsample_padding": 1, "act_fn": "silu""#
        switch self {
        case .sd15:
            return #"{"attention_head_dim": 8, "cross_attention_dim": 768, "sample_size": 64, "#  + blocks + "}"
        case .sd21:
            return #"{"attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024, "use_linear_projection": true, "upcast_attention": true, "sample_size": 96, "# + blocks + "}"
        case .sdxl:
            return #"{"act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280], "center_input_sample": false, "class_embed_type": null, "class_embeddings_concat": false, "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": 2048, "cross_attention_norm": null, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], "downsample_padding": 1, "dual_cross_attention": false, "encoder_hid_dim": null, "encoder_hid_dim_type": null, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2, "mid_block_only_cross_attention": null, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32, "num_attention_heads": null, "num_class_embeds": null, "only_cross_attention": false, "out_channels": 4, "projection_class_embeddings_input_dim": 2816, "resnet_out_scale_factor": 1.0, "resnet_skip_time_act": false, "resnet_time_scale_shift": "default", "sample_size": 128, "time_cond_proj_dim": null, "time_embedding_act_fn": null, "time_embedding_dim": null, "time_embedding_type": "positional", "timestep_post_act": null, "transformer_layers_per_block": [1, 2, 10], "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": null, "use_linear_projection": true}"#
        }
    }

    private static let vaeJSON = #"{"act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"], "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "sample_size": 512}"#
}
