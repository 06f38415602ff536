import Tensor

/// Multi-head attention as diffusers' `Attention` with the default processor: separate q/k/v
/// projections, scaled dot-product attention, and an output projection (`to_out.0`).
/// Cross-attention takes keys and values from `context`; self-attention from `x` itself.
struct Attention {
    let heads: Int
    let toQuery: Linear
    let toKey: Linear
    let toValue: Linear
    let toOut: Linear

    /// - Parameters: `queryDim` channels of `x`; `contextDim` channels of the context (nil for
    ///   self-attention); `heads` x `headDim` = inner width; `qkvBias` true for the VAE's attention.
    init(_ weights: any WeightSource, _ name: String, queryDim: Int, contextDim: Int?, heads: Int, headDim: Int,
         qkvBias: Bool = false) throws {
        let inner = heads * headDim
        self.heads = heads
        toQuery = try Linear(weights, name + ".to_q", input: queryDim, output: inner, bias: qkvBias)
        toKey = try Linear(weights, name + ".to_k", input: contextDim ?? queryDim, output: inner, bias: qkvBias)
        toValue = try Linear(weights, name + ".to_v", input: contextDim ?? queryDim, output: inner, bias: qkvBias)
        toOut = try Linear(weights, name + ".to_out.0", input: inner, output: queryDim)
    }

    /// x [B, T, queryDim], context [B, S, contextDim] -> [B, T, queryDim]
    func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        let source = context ?? x
        let q = toQuery(x), k = toKey(source), v = toValue(source)  // [B, T|S, heads * headDim]
        OperationCount.add(multiplyAdds: 2 * q.count * k.shape[1])  // q·kᵀ and p·v
        let h = attention(query: q, key: k, value: v, heads: heads)  // [B, T, heads * headDim]
        return toOut(h)
    }
}
