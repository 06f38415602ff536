import Foundation

/// A full-size Stable Diffusion architecture, described by the config.json files that the real
/// downloads ship (as published on the Hugging Face Hub), for benchmarking without weight files.
public enum Architecture: String, Sendable, CaseIterable {
    /// Stable Diffusion 1.5: OpenAI CLIP ViT-L/14 text encoder, 860M-parameter UNet.
    case sd15
    /// Stable Diffusion 2.1: OpenCLIP ViT-H/14 text encoder (23 of 24 layers), linear projections.
    case sd21

    /// The text encoder's config.
    public func textEncoderConfig() throws -> CLIPTextConfig {
        try CLIPTextConfig.decode(json: Data(textEncoderJSON.utf8), path: "\(rawValue) text_encoder/config.json")
    }

    /// The UNet's config.
    public func unetConfig() throws -> UNet2DConditionConfig {
        try UNet2DConditionConfig.decode(json: Data(unetJSON.utf8), path: "\(rawValue) unet/config.json")
    }

    /// The VAE's config (the same for both).
    public func vaeConfig() throws -> AutoencoderKLConfig {
        try AutoencoderKLConfig.decode(json: Data(Self.vaeJSON.utf8), path: "\(rawValue) vae/config.json")
    }

    private var textEncoderJSON: String {
        switch self {
        case .sd15:
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
        }
    }

    private static let vaeJSON = #"{"act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"], "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"], "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "sample_size": 512}"#
}
