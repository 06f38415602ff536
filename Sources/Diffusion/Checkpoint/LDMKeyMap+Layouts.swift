/// The module tables of SD 1.x / 2.x single files, built from the config of the model that reads
/// them (so every name the model asks for has its LDM name, even when the file lacks it).
/// Checked against diffusers' single-file converters by tools/make_single_file_fixtures.py.
extension LDMKeyMap {
    /// A UNet resnet (`ResBlock`): `in_layers` = GroupNorm, SiLU, conv; `out_layers` = GroupNorm, SiLU, dropout, conv.
    static let unetResnet: [Leaf] = [
        Leaf(ldm: "in_layers.0", diffusers: "norm1"),
        Leaf(ldm: "in_layers.2", diffusers: "conv1"),
        Leaf(ldm: "emb_layers.1", diffusers: "time_emb_proj"),
        Leaf(ldm: "out_layers.0", diffusers: "norm2"),
        Leaf(ldm: "out_layers.3", diffusers: "conv2"),
        Leaf(ldm: "skip_connection", diffusers: "conv_shortcut"),
    ]

    /// A VAE resnet: the same names but for the 1x1 shortcut.
    static let vaeResnet: [Leaf] = [
        Leaf(ldm: "norm1", diffusers: "norm1"),
        Leaf(ldm: "conv1", diffusers: "conv1"),
        Leaf(ldm: "norm2", diffusers: "norm2"),
        Leaf(ldm: "conv2", diffusers: "conv2"),
        Leaf(ldm: "nin_shortcut", diffusers: "conv_shortcut"),
    ]

    /// The VAE's mid-block attention: LDM stores q, k, v and the output projection as 1x1 convolutions.
    static let vaeAttention: [Leaf] = [
        Leaf(ldm: "norm", diffusers: "group_norm"),
        Leaf(ldm: "q", diffusers: "to_q", transform: .convToLinear),
        Leaf(ldm: "k", diffusers: "to_k", transform: .convToLinear),
        Leaf(ldm: "v", diffusers: "to_v", transform: .convToLinear),
        Leaf(ldm: "proj_out", diffusers: "to_out.0", transform: .convToLinear),
    ]

    /// One OpenCLIP transformer layer (`resblocks.N`) as a transformers CLIP encoder layer; q, k
    /// and v are one fused projection, rows q then k then v.
    static let openCLIPLayer: [Leaf] = [
        Leaf(ldm: "ln_1", diffusers: "layer_norm1"),
        Leaf(ldm: "ln_2", diffusers: "layer_norm2"),
        Leaf(ldm: "mlp.c_fc", diffusers: "mlp.fc1"),
        Leaf(ldm: "mlp.c_proj", diffusers: "mlp.fc2"),
        Leaf(ldm: "attn.out_proj", diffusers: "self_attn.out_proj"),
    ] + ["q", "k", "v"].enumerated().flatMap { index, part in
        [Leaf(ldm: "attn.in_proj_weight", diffusers: "self_attn.\(part)_proj.weight", transform: .rows(index: index, count: 3)),
         Leaf(ldm: "attn.in_proj_bias", diffusers: "self_attn.\(part)_proj.bias", transform: .rows(index: index, count: 3))]
    }

    /// The UNet (`model.diffusion_model.`): `input_blocks` is conv_in, then per level its resnets
    /// (each with its transformer at `.1`) and a downsampler; `middle_block` is resnet, transformer,
    /// resnet; `output_blocks` has one more resnet per level, the upsampler after the last (at `.1`,
    /// or `.2` behind a transformer).
    static func unet(_ config: UNet2DConditionConfig) -> LDMKeyMap {
        let levels = config.blockOutChannels.count
        var modules = [
            Module(ldm: "input_blocks.0.0", diffusers: "conv_in"),
            Module(ldm: "time_embed.0", diffusers: "time_embedding.linear_1"),
            Module(ldm: "time_embed.2", diffusers: "time_embedding.linear_2"),
            Module(ldm: "out.0", diffusers: "conv_norm_out"),
            Module(ldm: "out.2", diffusers: "conv_out"),
        ]
        if config.additionEmbedType == "text_time" {  // SDXL: pooled text + time ids -> time embedding
            modules += [Module(ldm: "label_emb.0.0", diffusers: "add_embedding.linear_1"),
                        Module(ldm: "label_emb.0.2", diffusers: "add_embedding.linear_2")]
        }
        var index = 1
        for level in 0..<levels {
            let attention = config.downBlockTypes[level].hasCrossAttention
            for layer in 0..<config.layersPerBlock[level] {
                modules.append(Module(ldm: "input_blocks.\(index).0", diffusers: "down_blocks.\(level).resnets.\(layer)", leaves: unetResnet))
                if attention {
                    modules.append(Module(ldm: "input_blocks.\(index).1", diffusers: "down_blocks.\(level).attentions.\(layer)"))
                }
                index += 1
            }
            if level < levels - 1 {
                modules.append(Module(ldm: "input_blocks.\(index).0.op", diffusers: "down_blocks.\(level).downsamplers.0.conv"))
                index += 1
            }
        }
        modules += [
            Module(ldm: "middle_block.0", diffusers: "mid_block.resnets.0", leaves: unetResnet),
            Module(ldm: "middle_block.1", diffusers: "mid_block.attentions.0"),
            Module(ldm: "middle_block.2", diffusers: "mid_block.resnets.1", leaves: unetResnet),
        ]
        index = 0
        for block in 0..<levels {
            let attention = config.upBlockTypes[block].hasCrossAttention
            let count = config.layersPerBlock[levels - 1 - block] + 1
            for layer in 0..<count {
                modules.append(Module(ldm: "output_blocks.\(index).0", diffusers: "up_blocks.\(block).resnets.\(layer)", leaves: unetResnet))
                if attention {
                    modules.append(Module(ldm: "output_blocks.\(index).1", diffusers: "up_blocks.\(block).attentions.\(layer)"))
                }
                if layer == count - 1, block < levels - 1 {
                    modules.append(Module(ldm: "output_blocks.\(index).\(attention ? 2 : 1).conv", diffusers: "up_blocks.\(block).upsamplers.0.conv"))
                }
                index += 1
            }
        }
        return LDMKeyMap(modules)
    }

    /// The VAE (`first_stage_model.`): `encoder.down.N.block.M`, `mid.block_1`, `mid.attn_1`,
    /// `mid.block_2`, `norm_out`; the decoder numbers its levels `up.N` from the lowest resolution,
    /// the reverse of diffusers' `up_blocks`.
    static func vae(_ config: AutoencoderKLConfig) -> LDMKeyMap {
        let levels = config.blockOutChannels.count
        var modules: [Module] = []
        for part in ["encoder", "decoder"] {
            modules += [
                Module(ldm: "\(part).conv_in", diffusers: "\(part).conv_in"),
                Module(ldm: "\(part).norm_out", diffusers: "\(part).conv_norm_out"),
                Module(ldm: "\(part).conv_out", diffusers: "\(part).conv_out"),
                Module(ldm: "\(part).mid.block_1", diffusers: "\(part).mid_block.resnets.0", leaves: vaeResnet),
                Module(ldm: "\(part).mid.attn_1", diffusers: "\(part).mid_block.attentions.0", leaves: vaeAttention),
                Module(ldm: "\(part).mid.block_2", diffusers: "\(part).mid_block.resnets.1", leaves: vaeResnet),
            ]
        }
        for level in 0..<levels {
            for layer in 0..<config.layersPerBlock {
                modules.append(Module(ldm: "encoder.down.\(level).block.\(layer)", diffusers: "encoder.down_blocks.\(level).resnets.\(layer)", leaves: vaeResnet))
            }
            if level < levels - 1 {
                modules.append(Module(ldm: "encoder.down.\(level).downsample.conv", diffusers: "encoder.down_blocks.\(level).downsamplers.0.conv"))
            }
        }
        for block in 0..<levels {
            let level = levels - 1 - block
            for layer in 0...config.layersPerBlock {
                modules.append(Module(ldm: "decoder.up.\(level).block.\(layer)", diffusers: "decoder.up_blocks.\(block).resnets.\(layer)", leaves: vaeResnet))
            }
            if block < levels - 1 {
                modules.append(Module(ldm: "decoder.up.\(level).upsample.conv", diffusers: "decoder.up_blocks.\(block).upsamplers.0.conv"))
            }
        }
        modules += [Module(ldm: "quant_conv", diffusers: "quant_conv"), Module(ldm: "post_quant_conv", diffusers: "post_quant_conv")]
        return LDMKeyMap(modules)
    }

    /// SD 1.x's text encoder (`cond_stage_model.transformer.`): transformers' own `CLIPTextModel`
    /// names (`text_model.encoder.layers.0.self_attn.q_proj.weight`), unchanged.
    static let clip = LDMKeyMap([Module(ldm: "", diffusers: "")])

    /// An OpenCLIP text tower as a transformers `CLIPTextModel` of its first `layers` layers: SD
    /// 2.x's ViT-H (`cond_stage_model.model.`), or SDXL's ViT-bigG (`conditioner.embedders.1.model.`)
    /// whole, with `projection` its `text_projection` ([width, projection], applied as `x @ P`) read
    /// transposed as `CLIPTextModelWithProjection`'s `text_projection.weight`.
    static func openCLIP(layers: Int, projection: Bool = false) -> LDMKeyMap {
        var modules = projection ? [Module(ldm: "", diffusers: "", leaves: [
            Leaf(ldm: "text_projection", diffusers: "text_projection.weight", transform: .transposed)])] : []
        modules += [
            Module(ldm: "token_embedding", diffusers: "text_model.embeddings.token_embedding"),
            Module(ldm: "positional_embedding", diffusers: "text_model.embeddings.position_embedding.weight"),
            Module(ldm: "ln_final", diffusers: "text_model.final_layer_norm"),
        ]
        for layer in 0..<layers {
            modules.append(Module(ldm: "transformer.resblocks.\(layer)", diffusers: "text_model.encoder.layers.\(layer)", leaves: openCLIPLayer))
        }
        return LDMKeyMap(modules)
    }
}
