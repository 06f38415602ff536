/// Family and configs from tensor names and shapes. Shapes give the widths, depths and which
/// levels have attention; the rest is the family's convention, as in the official diffusers
/// configs: SD 1.x has 8 attention heads per transformer and OpenAI CLIP's `quick_gelu`; SD 2.x
/// has 64-channel heads, linear transformer projections, `upcast_attention` and OpenCLIP's exact
/// `gelu`. A model that breaks the convention needs its config passed in `Options`.
extension SingleFileLayout {
    /// SD 1.x, 2.x or SDXL from the text encoders' names; anything else is refused, naming what was found.
    static func family(of shapes: ShapeTable) throws(CheckpointError) -> SingleFileCheckpoint.Family {
        func refuse(_ architecture: String, _ found: String) -> CheckpointError {
            CheckpointError(path: shapes.path, reason: .unsupportedConfig(
                key: "architecture", value: architecture, note: "found \(found); stipple reads Stable Diffusion 1.x, 2.x and XL single files"))
        }
        if shapes.hasAny(prefix: "conditioner.embedders.") {
            if shapes.hasAny(prefix: sdxlCLIPPrefix) && shapes.hasAny(prefix: sdxlOpenCLIPPrefix) {
                try requireUNetAndVAE(shapes)
                return .sdxl
            }
            if shapes.hasAny(prefix: "conditioner.embedders.0.model.") {
                throw CheckpointError(path: shapes.path, reason: .unsupportedConfig(
                    key: "architecture", value: "SDXL refiner", note: "found an OpenCLIP-bigG-only conditioner.embedders.0 "
                        + "(the refiner, conditioned on aesthetic scores); use an SDXL base model or a fine-tune of one"))
            }
            throw refuse("SGM conditioner", "conditioner.embedders.* without SDXL's CLIP-L (embedders.0.transformer) and OpenCLIP-bigG (embedders.1.model)")
        }
        if shapes.hasAny(prefix: unetPrefix + "joint_blocks.") || shapes.hasAny(prefix: "joint_blocks.") {
            throw refuse("SD3", "joint_blocks.* MMDiT blocks")
        }
        if shapes.hasAny(prefix: unetPrefix + "double_blocks.") || shapes.hasAny(prefix: "double_blocks.") {
            throw refuse("Flux", "double_blocks.* transformer blocks")
        }
        if shapes.has(unetPrefix + "label_emb.0.0.weight") {
            throw refuse("class-conditioned UNet (SDXL or the x4 upscaler)", unetPrefix + "label_emb.*")
        }
        try requireUNetAndVAE(shapes)
        if shapes.hasAny(prefix: clipPrefix) { return .sd1 }
        if shapes.has(openCLIPPrefix + "token_embedding.weight") { return .sd2 }
        throw CheckpointError(path: shapes.path, reason: .missing(
            "has a UNet but no text encoder (\(clipPrefix)* for SD 1.x, \(openCLIPPrefix)* for SD 2.x, conditioner.embedders.* for SDXL)"))
    }

    /// Throws unless the file has an LDM UNet and a VAE, naming what it has instead.
    private static func requireUNetAndVAE(_ shapes: ShapeTable) throws(CheckpointError) {
        guard shapes.has(unetPrefix + "input_blocks.0.0.weight") else {
            if shapes.has("conv_in.weight") && shapes.hasAny(prefix: "down_blocks.") {
                throw CheckpointError(path: shapes.path, reason: .missing(
                    "a diffusers UNet weight file, not a single-file checkpoint; give the model folder (with unet/, vae/, text_encoder/) instead"))
            }
            let names = shapes.tensors.keys.sorted()
            let sample = names.prefix(4).joined(separator: ", ") + (names.count > 4 ? ", ..." : "")
            throw CheckpointError(path: shapes.path, reason: .missing(
                "not a Stable Diffusion checkpoint: no \(unetPrefix)* UNet among its \(names.count) tensors (\(sample))"))
        }
        guard shapes.hasAny(prefix: vaePrefix) else {
            throw CheckpointError(path: shapes.path, reason: .missing("has a UNet but no VAE (\(vaePrefix)*)"))
        }
    }

    /// The UNet's config. `input_blocks` are walked level by level: resnets (with a transformer
    /// at `.1` on attention levels) until a downsampler (`.0.op`) ends the level.
    static func unetConfig(_ shapes: ShapeTable, family: SingleFileCheckpoint.Family,
                           prediction: PredictionType) throws(CheckpointError) -> UNet2DConditionConfig {
        let p = unetPrefix
        let convIn = try shapes.required(p + "input_blocks.0.0.weight", rank: 4)  // [C0, in, 3, 3]
        let convOut = try shapes.required(p + "out.2.weight", rank: 4)          // [out, C0, 3, 3]
        var channels: [Int] = [], layers: [Int] = [], attention: [Bool] = [], depths: [Int] = []
        var level = (channels: 0, layers: 0, attention: false, depth: 1)
        var index = 1
        while true {
            let block = p + "input_blocks.\(index)."
            if shapes.has(block + "0.op.weight") {
                guard level.layers > 0 else { break }
                channels.append(level.channels); layers.append(level.layers); attention.append(level.attention)
                depths.append(level.depth)
                level = (0, 0, false, 1)
            } else if let conv1 = shapes[block + "0.in_layers.2.weight"] {  // [C, C_in, 3, 3]
                level.channels = conv1[0]
                level.layers += 1
                if !level.attention && shapes.has(block + "1.proj_in.weight") {
                    level.attention = true
                    level.depth = shapes.count { block + "1.transformer_blocks.\($0).attn1.to_q.weight" }
                }
            } else {
                break
            }
            index += 1
        }
        guard level.layers > 0 else {
            throw CheckpointError(path: shapes.path, tensor: p + "input_blocks.\(index).0.in_layers.2.weight", reason: .noSuchTensor)
        }
        channels.append(level.channels); layers.append(level.layers); attention.append(level.attention)
        depths.append(level.depth)

        // Up blocks mirror the levels with one more resnet each; the first resnet of a block shows its attention.
        var upAttention: [Bool] = []
        index = 0
        for block in channels.indices {
            upAttention.append(shapes.has(p + "output_blocks.\(index).1.proj_in.weight"))
            index += layers[channels.count - 1 - block] + 1
        }
        guard let projIn = shapes[p + "middle_block.1.proj_in.weight"] else {  // [C, C] linear (SD 2.x) or [C, C, 1, 1] conv
            throw CheckpointError(path: shapes.path, tensor: p + "middle_block.1.proj_in.weight", reason: .noSuchTensor)
        }
        let toK = try shapes.required(p + "middle_block.1.transformer_blocks.0.attn2.to_k.weight", rank: 2)  // [inner, context]
        // The mid block's depth is the deepest level's (diffusers' `transformer_layers_per_block[-1]`).
        let midDepth = shapes.count { p + "middle_block.1.transformer_blocks.\($0).attn1.to_q.weight" }
        if let last = attention.indices.last {
            if !attention[last] { depths[last] = midDepth }
            guard depths[last] == midDepth else {
                throw CheckpointError(path: shapes.path, reason: .unsupportedConfig(
                    key: "transformer depth", value: "\(midDepth) in the mid block, \(depths[last]) in the deepest level", note: "the same depth"))
            }
        }

        var config = UNet2DConditionConfig()
        let levels = channels.count
        switch family {
        case .sd1: config.sampleSize = 64
        case .sd2: config.sampleSize = prediction == .vPrediction ? 96 : 64
        case .sdxl: config.sampleSize = 128
        }
        config.inChannels = convIn[1]
        config.outChannels = convOut[0]
        config.downBlockTypes = attention.map { $0 ? .crossAttnDown : .down }
        config.upBlockTypes = upAttention.map { $0 ? .crossAttnUp : .up }
        config.onlyCrossAttention = Array(repeating: false, count: levels)
        config.blockOutChannels = channels
        config.layersPerBlock = layers
        config.crossAttentionDims = Array(repeating: toK[1], count: levels)
        config.transformerLayersPerBlock = depths
        config.useLinearProjection = projIn.count == 2
        switch family {
        case .sd1:
            config.attentionHeadDim = Array(repeating: 8, count: levels)
        case .sd2, .sdxl:
            for width in channels where width % 64 != 0 {
                throw CheckpointError(path: shapes.path, reason: .invalidConfig(
                    "cannot tell the attention heads of \(width)-channel UNet blocks (SD 2.x and XL heads are 64 wide); give the UNet config"))
            }
            config.attentionHeadDim = channels.map { $0 / 64 }
            config.upcastAttention = family == .sd2
        }
        if family == .sdxl {
            // SDXL's added embedding: [time width, pooled + 6 ids x id width] in `label_emb.0.0`,
            // the pooled width from bigG's projection [width, projection].
            let addIn = try shapes.required(p + "label_emb.0.0.weight", rank: 2)
            let projection = try shapes.required(sdxlOpenCLIPPrefix + "text_projection", rank: 2)
            let idsWidth = addIn[1] - projection[1]
            guard idsWidth > 0, idsWidth % 6 == 0, (idsWidth / 6) % 2 == 0 else {
                throw CheckpointError(path: shapes.path, tensor: p + "label_emb.0.0.weight", reason: .unsupportedConfig(
                    key: "shape", value: "\(addIn)", note: "SDXL's \(projection[1]) pooled values + 6 time ids of an even width"))
            }
            config.additionEmbedType = "text_time"
            config.additionTimeEmbedDim = idsWidth / 6
            config.projectionClassEmbeddingsInputDim = addIn[1]
        } else if shapes.has(p + "label_emb.0.0.weight") {
            throw CheckpointError(path: shapes.path, reason: .unsupportedConfig(
                key: "architecture", value: "class-conditioned UNet", note: "found \(p)label_emb.* without SDXL's text encoders (the x4 upscaler?)"))
        }
        return config
    }

    /// The VAE's config: levels and widths from the encoder's resnets, latent channels from the decoder's input.
    static func vaeConfig(_ shapes: ShapeTable, family: SingleFileCheckpoint.Family, sampleSize: Int) throws(CheckpointError) -> AutoencoderKLConfig {
        let p = vaePrefix
        let convIn = try shapes.required(p + "encoder.conv_in.weight", rank: 4)          // [C0, 3, 3, 3]
        let decoderIn = try shapes.required(p + "decoder.conv_in.weight", rank: 4)       // [C, latent, 3, 3]
        let decoderOut = try shapes.required(p + "decoder.conv_out.weight", rank: 4)     // [3, C0, 3, 3]
        var channels: [Int] = [], layers: [Int] = []
        while let conv1 = shapes[p + "encoder.down.\(channels.count).block.0.conv1.weight"] {
            let level = channels.count
            channels.append(conv1[0])
            layers.append(shapes.count { p + "encoder.down.\(level).block.\($0).conv1.weight" })
        }
        guard let layersPerBlock = layers.first else {
            throw CheckpointError(path: shapes.path, tensor: p + "encoder.down.0.block.0.conv1.weight", reason: .noSuchTensor)
        }
        guard layers.allSatisfy({ $0 == layersPerBlock }) else {
            throw CheckpointError(path: shapes.path, reason: .unsupportedConfig(
                key: "VAE resnets per level", value: "\(layers)", note: "the same number at every level"))
        }
        var config = AutoencoderKLConfig()
        config.inChannels = convIn[1]
        config.outChannels = decoderOut[0]
        config.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: channels.count)
        config.upBlockTypes = Array(repeating: "UpDecoderBlock2D", count: channels.count)
        config.blockOutChannels = channels
        config.layersPerBlock = layersPerBlock
        config.latentChannels = decoderIn[1]
        config.normNumGroups = 32
        config.sampleSize = sampleSize
        config.scalingFactor = family == .sdxl ? 0.13025 : 0.18215
        config.useQuantConv = shapes.has(p + "quant_conv.weight")
        config.usePostQuantConv = shapes.has(p + "post_quant_conv.weight")
        config.midBlockAddAttention = shapes.has(p + "encoder.mid.attn_1.q.weight")
        return config
    }

    /// The text encoder's config. SD 1.x's CLIP ViT-L/14 keeps all its layers; SD 2.x uses all
    /// but the last of OpenCLIP's (the penultimate layer's output, through the final layer norm).
    static func textEncoderConfig(_ shapes: ShapeTable, family: SingleFileCheckpoint.Family) throws(CheckpointError) -> CLIPTextConfig {
        var config = CLIPTextConfig()
        let tokens: [Int], positions: [Int], mlp: [Int]
        switch family {
        case .sd1, .sdxl:
            let prefix = family == .sd1 ? clipPrefix : sdxlCLIPPrefix
            let root = prefix + (shapes.hasAny(prefix: prefix + "text_model.") ? "text_model." : "")
            tokens = try shapes.required(root + "embeddings.token_embedding.weight", rank: 2)        // [vocab, hidden]
            positions = try shapes.required(root + "embeddings.position_embedding.weight", rank: 2)  // [77, hidden]
            mlp = try shapes.required(root + "encoder.layers.0.mlp.fc1.weight", rank: 2)             // [intermediate, hidden]
            config.numHiddenLayers = shapes.count { root + "encoder.layers.\($0).self_attn.q_proj.weight" }
            config.hiddenAct = "quick_gelu"
            config.projectionDim = tokens[1]
        case .sd2:
            return try openCLIPConfig(shapes, root: openCLIPPrefix, keepsLastLayer: false)
        }
        config.architectures = ["CLIPTextModel"]
        return try finishCLIPConfig(config, shapes: shapes, tokens: tokens, positions: positions, mlp: mlp)
    }

    /// `config` with the widths the shapes give (token table [vocab, hidden], positions, MLP
    /// [intermediate, hidden]), 64-wide heads and the token ids SD's diffusers configs carry.
    private static func finishCLIPConfig(_ config: CLIPTextConfig, shapes: ShapeTable, tokens: [Int], positions: [Int],
                                         mlp: [Int]) throws(CheckpointError) -> CLIPTextConfig {
        var config = config
        let hidden = tokens[1]
        guard hidden % 64 == 0 else {
            throw CheckpointError(path: shapes.path, reason: .invalidConfig(
                "cannot tell the attention heads of a \(hidden)-wide text encoder (CLIP heads are 64 wide); give the text encoder config"))
        }
        config.vocabSize = tokens[0]
        config.hiddenSize = hidden
        config.maxPositionEmbeddings = positions[0]
        config.intermediateSize = mlp[0]
        config.numAttentionHeads = hidden / 64
        config.layerNormEps = 1e-5
        // The ids SD's diffusers configs carry (0, 2, 1): eos 2 makes pooling use the highest id, as transformers does for them.
        config.bosTokenID = 0
        config.eosTokenID = 2
        config.padTokenID = 1
        return config
    }

    /// An OpenCLIP text tower's config: SD 2.x's ViT-H without its last layer (SD 2.x uses the
    /// penultimate layer's output through the final layer norm), SDXL's ViT-bigG whole
    /// (`keepsLastLayer`: the last layer feeds the pooled output) with its projection's width.
    static func openCLIPConfig(_ shapes: ShapeTable, root: String, keepsLastLayer: Bool) throws(CheckpointError) -> CLIPTextConfig {
        var config = CLIPTextConfig()
        let tokens = try shapes.required(root + "token_embedding.weight", rank: 2)  // [vocab, hidden]
        let positions = try shapes.required(root + "positional_embedding", rank: 2)
        let mlp = try shapes.required(root + "transformer.resblocks.0.mlp.c_fc.weight", rank: 2)
        let stored = shapes.count { root + "transformer.resblocks.\($0).attn.in_proj_weight" }
        guard stored >= 2 else {
            throw CheckpointError(path: shapes.path, tensor: root + "transformer.resblocks.\(stored).attn.in_proj_weight", reason: .noSuchTensor)
        }
        config.numHiddenLayers = keepsLastLayer ? stored : stored - 1
        config.hiddenAct = "gelu"
        if keepsLastLayer {
            config.projectionDim = try shapes.required(root + "text_projection", rank: 2)[1]  // [hidden, projection]
            config.architectures = ["CLIPTextModelWithProjection"]
        } else {
            config.projectionDim = 512  // as the SD 2.x diffusers config says; unused by the text model
            config.architectures = ["CLIPTextModel"]
        }
        return try finishCLIPConfig(config, shapes: shapes, tokens: tokens, positions: positions, mlp: mlp)
    }

}
