import CBLAS
import CKernels
import Foundation
import Synchronization

/// Multi-head scaled dot-product attention: per head h, softmax(Q_h K_hᵀ · scale [+ causal mask]) V_h.
/// query [B, Tq, heads·D], key/value [B, Tk, heads·D] -> [B, Tq, heads·D]; scale defaults to 1/√D;
/// `causal` masks key j > query i.
/// Runs the kernel `attentionKernel` picks for the instruction set in use: the fused C
/// kernel (online softmax, `fusedAttention`) or the sliced sgemm path (`attention(…scoreBudget:threads:)`).
public func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    let threads = BLASThreads.prepare()
    switch attentionKernel(isa: stipple_isa_active()) {
    case .fused(let isa):
        return fusedAttention(query: query, key: key, value: value, heads: heads, causal: causal, scale: scale, isa: isa, threads: threads)
    case .sliced:
        return attention(query: query, key: key, value: value, heads: heads, causal: causal, scale: scale,
                         scoreBudget: attentionScoreBudget, threads: threads)
    }
}

/// The two implementations of `attention`.
enum AttentionKernel: Equatable {
    /// `fusedAttention` with the variant for this instruction-set level.
    case fused(stipple_isa)
    /// `attention(…scoreBudget:threads:)`: two sgemms per slice of query rows.
    case sliced
}

/// Which kernel `attention` runs at an instruction-set level, by measurement (docs/DECISIONS.md,
/// "Fused attention kernel"): the fused kernel's AVX2 and AVX-512 variants beat OpenBLAS's sgemms
/// at every SD shape, head widths 40 to 512 alike, so the shape does not enter; its portable
/// variant loses to OpenBLAS's vector kernels.
func attentionKernel(isa: stipple_isa) -> AttentionKernel {
    isa.rawValue >= STIPPLE_ISA_AVX2.rawValue ? .fused(isa) : .sliced
}

/// Attention with the fused C kernel (CKernels' `stipple_attention`, the variant for `isa`): work
/// items (batch, head, block of query rows) are shared out over `threads` workers, each with its own
/// scratch (29 KB at D = 40, 150 KB at D = 512); the scores exist one block of keys at a time.
func fusedAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool, scale: Float?, isa: stipple_isa, threads: Int) -> Tensor {
    attentionOutput(query: query, key: key, value: value, heads: heads, scale: scale) { size, q, k, v, y in
        let width = Int32(size.width)
        var problem = stipple_attention_problem(
            query: q, key: k, value: v, out: y,
            batch: Int32(size.batch), query_tokens: Int32(size.queryTokens), key_tokens: Int32(size.keyTokens),
            heads: Int32(heads), head_dim: Int32(size.headWidth),
            query_stride: width, key_stride: width, value_stride: width, out_stride: width,
            scale: size.scale, causal: causal ? 1 : 0)
        withUnsafePointer(to: &problem) { problem in
            forEachAttentionItem(Int(stipple_attention_items(problem, isa)), threads: threads,
                                 scratchCount: stipple_attention_scratch_floats(Int32(size.headWidth))) { item, scratch in
                stipple_attention(problem, isa, Int32(item), 1, scratch)
            }
        }
    }
}

/// Attention with OpenBLAS: work items are (batch, head, slice of query rows); per item one sgemm
/// makes the slice's scores straight from the strided Q and K (leading dimension heads·D, no
/// transposes or copies), they are exponentiated in place, a second sgemm writes P·V into the
/// output, and softmax's division by Σ P is applied to those D-wide output rows. Each worker owns one
/// scratch of at most `scoreBudget` floats (or one row of scores, if larger): the score matrix is
/// never whole. Tests pass tiny budgets to force many slices.
func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool, scale: Float?, scoreBudget: Int, threads: Int) -> Tensor {
    attentionOutput(query: query, key: key, value: value, heads: heads, scale: scale) { size, pq, pk, pv, out in
        let (batch, tq, tk, width, d, alpha) = (size.batch, size.queryTokens, size.keyTokens, size.width, size.headWidth, size.scale)
        nonisolated(unsafe) let (q, k, v, y) = (pq, pk, pv, out)
        let sliceRows = max(1, min(tq, scoreBudget / tk))
        let slices = (tq + sliceRows - 1) / sliceRows
        let items = batch * heads * slices
        /// One (batch, head, slice) item, with the worker's scratch: scores [sliceRows, Tk] and 1/Σ per row.
        let runItem = { (item: Int, scores: UnsafeMutablePointer<Float>, inverseSums: UnsafeMutablePointer<Float>) in
            let slice = item % slices, head = (item / slices) % heads, b = item / (slices * heads)
            let first = slice * sliceRows, rows = min(sliceRows, tq - first)
            // Causal rows first..<first+rows see at most keys 0..<first+rows.
            let keys = causal ? min(tk, first + rows) : tk
            let qBase = q + (b * tq + first) * width + head * d
            let kBase = k + b * tk * width + head * d, vBase = v + b * tk * width + head * d
            // S [rows, keys] = scale · Q_slice · K_hᵀ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(keys), Int32(d),
                        alpha, qBase, Int32(width), kBase, Int32(width), 0, scores, Int32(keys))
            // P = exp(S - rowmax), unnormalised; masked keys get 0.
            for r in 0..<rows {
                let row = scores + r * keys
                let visible = causal ? min(keys, first + r + 1) : keys
                inverseSums[r] = exponentiateRowInPlace(row, visible)
                if visible < keys { (row + visible).update(repeating: 0, count: keys - visible) }
            }
            // O_slice [rows, D] = P · V_h, then each row / Σ P (softmax's normalisation on D values, not Tk).
            let output = y + (b * tq + first) * width + head * d
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(keys),
                        1, scores, Int32(keys), vBase, Int32(width), 0, output, Int32(width))
            for r in 0..<rows {
                let (row, inverse) = (output + r * width, inverseSums[r])
                for e in 0..<d { row[e] *= inverse }
            }
        }
        forEachAttentionItem(items, threads: threads, scratchCount: sliceRows * tk + sliceRows) { item, scratch in
            runItem(item, scratch, scratch + sliceRows * tk)
        }
    }
}

/// The sizes of one attention call: query [batch, queryTokens, width], key and value
/// [batch, keyTokens, width], width = heads · headWidth.
private struct AttentionSize {
    let batch, queryTokens, keyTokens, width, headWidth: Int
    /// Multiplies the scores: the caller's scale, or 1/√headWidth.
    let scale: Float
}

/// Checks the shapes, then makes `attention`'s output: zeros when there are no keys, else what
/// `fill` writes through its last pointer from the query's, key's and value's storage.
private func attentionOutput(query: Tensor, key: Tensor, value: Tensor, heads: Int, scale: Float?,
                             _ fill: (AttentionSize, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
    checkAttentionShapes(query: query, key: key, value: value, heads: heads)
    let width = query.shape[2], d = width / heads
    let size = AttentionSize(batch: query.shape[0], queryTokens: query.shape[1], keyTokens: key.shape[1], width: width,
                             headWidth: d, scale: scale ?? 1 / Float(d).squareRoot())
    return Tensor(shape: query.shape) { out in
        guard out.count > 0 else { return }
        guard size.keyTokens > 0 else { out.initialize(repeating: 0); return }
        query.storage.withUnsafeBufferPointer { q in
            key.storage.withUnsafeBufferPointer { k in
                value.storage.withUnsafeBufferPointer { v in
                    fill(size, q.baseAddress!, k.baseAddress!, v.baseAddress!, out.baseAddress!)
                }
            }
        }
    }
}

/// Runs `body(item, scratch)` for items 0..<items on at most `threads` workers, each taking the next
/// item as it finishes one, with a scratch of `scratchCount` floats of its own (borrowed from
/// `ScratchPool`, as the other kernels' working buffers are).
private func forEachAttentionItem(_ items: Int, threads: Int, scratchCount: Int, _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
    let next = Atomic<Int>(0)
    parallelFor(min(max(1, threads), items)) { _ in
        ScratchPool.shared.withBuffer(count: scratchCount) { scratch in
            while true {
                let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if item >= items { break }
                body(item, scratch)
            }
        }
    }
}

/// The shapes `attention` and its twins accept.
private func checkAttentionShapes(query: Tensor, key: Tensor, value: Tensor, heads: Int) {
    precondition(query.rank == 3 && key.rank == 3 && value.shape == key.shape && query.shape[0] == key.shape[0]
                 && query.shape[2] == key.shape[2] && heads > 0 && query.shape[2] % heads == 0,
                 "attention: query \(query.shape), key \(key.shape), value \(value.shape), \(heads) heads")
}

/// Floats of attention scores one worker holds at a time (4 MB): 256 query rows against 4096 keys.
/// Taller slices amortise sgemm's packing of K_h and V_h, which it repeats for every slice.
let attentionScoreBudget = 1 << 20

/// Reference twin of `attention`: one query row at a time, in Double.
public func attentionReference(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    checkAttentionShapes(query: query, key: key, value: value, heads: heads)
    let (batch, tq, width) = (query.shape[0], query.shape[1], query.shape[2])
    let tk = key.shape[1], d = width / heads
    let s = Double(scale ?? 1 / Float(d).squareRoot())
    var y = Tensor(zeros: query.shape)
    var scores = [Double](repeating: 0, count: tk)
    for b in 0..<batch {
        for h in 0..<heads {
            for i in 0..<tq {
                let keys = causal ? min(tk, i + 1) : tk
                var peak = -Double.infinity
                for j in 0..<keys {
                    var dot = 0.0
                    for e in 0..<d { dot += Double(query.storage[(b * tq + i) * width + h * d + e]) * Double(key.storage[(b * tk + j) * width + h * d + e]) }
                    scores[j] = dot * s
                    peak = max(peak, scores[j])
                }
                var total = 0.0
                for j in 0..<keys { scores[j] = Foundation.exp(scores[j] - peak); total += scores[j] }
                for e in 0..<d {
                    var sum = 0.0
                    for j in 0..<keys { sum += scores[j] * Double(value.storage[(b * tk + j) * width + h * d + e]) }
                    y.storage[(b * tq + i) * width + h * d + e] = Float(sum / total)
                }
            }
        }
    }
    return y
}
