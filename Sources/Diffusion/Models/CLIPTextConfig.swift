/// transformers' `CLIPTextConfig`: the `text_encoder/config.json` of a diffusers model. Absent
/// keys take transformers' defaults (those of the small CLIP ViT-B/32 text tower).
///
/// SD1.x uses OpenAI CLIP ViT-L/14 (768 wide, 12 layers, `quick_gelu`); SD2.x uses OpenCLIP
/// ViT-H/14 with its last layer dropped (1024 wide, 23 layers, `gelu`).
public struct CLIPTextConfig: DiffusersConfig, Equatable {
    /// Number of token embeddings (49408 for CLIP's BPE vocabulary).
    public var vocabSize: Int = 49408
    /// Width of the token embeddings and of every transformer layer.
    public var hiddenSize: Int = 512
    /// Width of the MLP's hidden layer.
    public var intermediateSize: Int = 2048
    /// Number of transformer layers.
    public var numHiddenLayers: Int = 12
    /// Attention heads per layer (head width = hiddenSize / numAttentionHeads).
    public var numAttentionHeads: Int = 8
    /// Length of the position embedding table, the longest token sequence (77).
    public var maxPositionEmbeddings: Int = 77
    /// The MLP activation: `"quick_gelu"` (x * sigmoid(1.702 x)), `"gelu"` (exact, erf) or
    /// `"gelu_new"` / `"gelu_pytorch_tanh"` (tanh approximation).
    public var hiddenAct: String = "quick_gelu"
    /// Epsilon of every LayerNorm.
    public var layerNormEps: Float = 1e-5
    /// Width of the text projection (used only by `CLIPTextModelWithProjection`, e.g. SDXL's second encoder).
    public var projectionDim: Int = 512
    /// Id of the start-of-text token. SD checkpoints' configs say 0, an outdated value; the tokenizer's is 49406.
    public var bosTokenID: Int = 49406
    /// Id of the end-of-text token. SD checkpoints' configs say 2, which makes transformers pool at
    /// the highest token id instead (see `poolsAtHighestTokenID`); the tokenizer's is 49407.
    public var eosTokenID: Int = 49407
    /// Id of the padding token.
    public var padTokenID: Int = 1
    /// The transformers classes the checkpoint was saved from, e.g. `["CLIPTextModel"]`.
    public var architectures: [String] = []

    /// Activations stipple implements.
    public static let supportedActivations: Set<String> = ["quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh"]

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case projectionDim = "projection_dim"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case padTokenID = "pad_token_id"
        case architectures
    }

    /// The transformers defaults.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        vocabSize = try c.decode(.vocabSize, default: d.vocabSize)
        hiddenSize = try c.decode(.hiddenSize, default: d.hiddenSize)
        intermediateSize = try c.decode(.intermediateSize, default: d.intermediateSize)
        numHiddenLayers = try c.decode(.numHiddenLayers, default: d.numHiddenLayers)
        numAttentionHeads = try c.decode(.numAttentionHeads, default: d.numAttentionHeads)
        maxPositionEmbeddings = try c.decode(.maxPositionEmbeddings, default: d.maxPositionEmbeddings)
        hiddenAct = try c.decode(.hiddenAct, default: d.hiddenAct)
        layerNormEps = try c.decode(.layerNormEps, default: d.layerNormEps)
        projectionDim = try c.decode(.projectionDim, default: d.projectionDim)
        bosTokenID = try c.decode(.bosTokenID, default: d.bosTokenID)
        eosTokenID = try c.decode(.eosTokenID, default: d.eosTokenID)
        padTokenID = try c.decode(.padTokenID, default: d.padTokenID)
        architectures = try c.decode(.architectures, default: d.architectures)
    }

    /// Whether the pooled output is taken at the highest token id of each row (the end-of-text
    /// token, 49407, the largest in the vocabulary) rather than at the first `eosTokenID`:
    /// transformers keeps that legacy rule for configs whose `eos_token_id` is 2, as SD's are.
    public var poolsAtHighestTokenID: Bool { eosTokenID == 2 }

    /// Width of one attention head.
    public var headDim: Int { numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0 }

    public func validate() throws(CheckpointError) {
        guard Self.supportedActivations.contains(hiddenAct) else {
            throw CheckpointError(path: "", reason: .unsupportedConfig(key: "hidden_act", value: hiddenAct,
                                                                       note: "known: quick_gelu, gelu, gelu_new, gelu_pytorch_tanh"))
        }
        let positive: [(String, Int)] = [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                                         ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                                         ("max_position_embeddings", maxPositionEmbeddings)]
        for (key, value) in positive where value <= 0 {
            throw CheckpointError(path: "", reason: .invalidConfig("\(key) = \(value) must be positive"))
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw CheckpointError(path: "", reason: .invalidConfig(
                "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)"))
        }
    }
}
