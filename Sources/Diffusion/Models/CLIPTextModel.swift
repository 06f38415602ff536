import Tensor

/// The CLIP text encoder as transformers' `CLIPTextModel`: token + position embeddings, a stack
/// of pre-norm transformer layers with causal self-attention, and a final layer norm.
/// Used by SD1 (OpenAI CLIP ViT-L/14, quick_gelu) and SD2 (OpenCLIP ViT-H/14, gelu).
public struct CLIPTextModel {
    let config: CLIPTextConfig
    let tokenEmbedding: StoredWeight  // [vocab, hidden], kept as stored (rows converted as looked up)
    let positionEmbedding: Tensor  // [positions, hidden]
    let layers: [CLIPEncoderLayer]
    let finalLayerNorm: LayerNorm

    /// Builds the model from its config, reading weights named as transformers names them:
    /// `text_model.embeddings.token_embedding.weight`, ... (transformers 4, every SD download)
    /// or the same without `text_model.` (what transformers 5 writes).
    public init(config: CLIPTextConfig, weights: any WeightSource) throws {
        try config.validate()
        self.config = config
        let hidden = config.hiddenSize
        let root = weights.contains("text_model.embeddings.token_embedding.weight") ? "text_model." : ""
        tokenEmbedding = try weights.storedWeight(root + "embeddings.token_embedding.weight", shape: [config.vocabSize, hidden])
        positionEmbedding = try weights.tensor(root + "embeddings.position_embedding.weight",
                                               shape: [config.maxPositionEmbeddings, hidden])
        layers = try (0..<config.numHiddenLayers).map {
            try CLIPEncoderLayer(weights, root + "encoder.layers.\($0)", config: config)
        }
        finalLayerNorm = try LayerNorm(weights, root + "final_layer_norm", dimension: hidden, eps: config.layerNormEps)
    }

    /// The hidden states after the embeddings (index 0) and after each layer (1...layers), as
    /// transformers' `output_hidden_states`, without the final layer norm. Stops after
    /// `upToLayer` layers when given (clip skip needs no more).
    /// tokens: one row of ids per sequence, all the same length -> [N, T, hidden] each
    /// vectors: per row (or none), token-embedding vectors [hidden] by position that stand in for
    /// the table's row of the id there (textual-inversion embeddings); positions are added as usual.
    public func hiddenStates(tokens: [[Int]], vectors: [[Int: ArraySlice<Float>]] = [], upToLayer: Int? = nil) -> [Tensor] {
        let (n, length, hidden) = (tokens.count, tokens[0].count, config.hiddenSize)
        precondition(vectors.isEmpty || vectors.count == n, "one vector map per row")
        var h = Tensor(zeros: [n, length, hidden])
        var embedding = [Float](repeating: 0, count: hidden)
        for (b, row) in tokens.enumerated() {
            precondition(row.count == length && length <= config.maxPositionEmbeddings, "token rows must share one length within the position table")
            for (position, id) in row.enumerated() {
                let out = (b * length + position) * hidden
                if let vector = vectors.isEmpty ? nil : vectors[b][position] {
                    precondition(vector.count == hidden, "a token-embedding vector is \(hidden) wide")
                    embedding.replaceSubrange(0..<hidden, with: vector)
                } else {
                    embedding.withUnsafeMutableBufferPointer { tokenEmbedding.copyRow(id, into: $0.baseAddress!) }
                }
                for c in 0..<hidden {
                    h.storage[out + c] = embedding[c] + positionEmbedding.storage[position * hidden + c]
                }
            }
        }
        var states = [h]
        for layer in layers.prefix(upToLayer ?? layers.count) {
            h = layer(h)
            states.append(h)
        }
        return states
    }

    /// The conditioning a pipeline feeds the UNet: the final layer norm applied to the output of
    /// the last layer, or of an earlier one with `skipLayers` > 0 (diffusers' `clip_skip`;
    /// A1111's "Clip skip: 2" is skipLayers 1). tokens -> [N, T, hidden]
    public func encode(tokens: [[Int]], skipLayers: Int = 0) -> Tensor {
        let states = hiddenStates(tokens: tokens, upToLayer: layers.count - skipLayers)
        return finalLayerNorm(states[states.count - 1])
    }

    /// Encoder layers (12 for SD1, 23 for SD2 as diffusers keeps them).
    public var layerCount: Int { layers.count }
    /// Token ids below this are valid.
    public var vocabularySize: Int { config.vocabSize }
    /// Width of the hidden states (768 for SD1, 1024 for SD2).
    public var hiddenSize: Int { config.hiddenSize }

    /// The final layer norm, for callers holding hidden states.
    public func applyFinalLayerNorm(_ x: Tensor) -> Tensor {
        finalLayerNorm(x)
    }
}

/// One CLIP encoder layer: causal self-attention and an MLP, each pre-normed and residual.
struct CLIPEncoderLayer {
    let norm1: LayerNorm
    let query: Linear
    let key: Linear
    let value: Linear
    let out: Linear
    let norm2: LayerNorm
    let fc1: Linear
    let fc2: Linear
    let heads: Int
    let activation: Activation

    /// The MLP's activation (transformers' `hidden_act`).
    enum Activation {
        case quickGELU, gelu, geluTanh

        init(_ name: String) throws {
            switch name {
            case "quick_gelu": self = .quickGELU
            case "gelu": self = .gelu
            case "gelu_new", "gelu_pytorch_tanh": self = .geluTanh
            default: throw CheckpointError(path: "", reason: .unsupportedConfig(key: "hidden_act", value: name, note: "quick_gelu, gelu, gelu_new or gelu_pytorch_tanh"))
            }
        }
    }

    init(_ weights: any WeightSource, _ name: String, config: CLIPTextConfig) throws {
        let hidden = config.hiddenSize
        norm1 = try LayerNorm(weights, name + ".layer_norm1", dimension: hidden, eps: config.layerNormEps)
        query = try Linear(weights, name + ".self_attn.q_proj", input: hidden, output: hidden)
        key = try Linear(weights, name + ".self_attn.k_proj", input: hidden, output: hidden)
        value = try Linear(weights, name + ".self_attn.v_proj", input: hidden, output: hidden)
        out = try Linear(weights, name + ".self_attn.out_proj", input: hidden, output: hidden)
        norm2 = try LayerNorm(weights, name + ".layer_norm2", dimension: hidden, eps: config.layerNormEps)
        fc1 = try Linear(weights, name + ".mlp.fc1", input: hidden, output: config.intermediateSize)
        fc2 = try Linear(weights, name + ".mlp.fc2", input: config.intermediateSize, output: hidden)
        heads = config.numAttentionHeads
        activation = try Activation(config.hiddenAct)
    }

    /// x [N, T, hidden] -> [N, T, hidden]
    func callAsFunction(_ x: Tensor) -> Tensor {
        var h = norm1(x)
        let q = query(h)
        OperationCount.add(multiplyAdds: 2 * q.count * q.shape[1])  // q·kᵀ and p·v (causal: counted in full, as PyTorch does)
        h = attention(query: q, key: key(h), value: value(h), heads: heads, causal: true)
        h = add(x, out(h))
        var m = fc1(norm2(h))  // [N, T, intermediate]
        switch activation {
        case .quickGELU: m = quickGELU(m)
        case .gelu: m = gelu(m)
        case .geluTanh: m = geluTanh(m)
        }
        return add(h, fc2(m))
    }
}

/// Immutable after init (weights are only read), so one model serves several threads.
extension CLIPTextModel: @unchecked Sendable {}
