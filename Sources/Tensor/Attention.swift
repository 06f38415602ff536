import CBLAS
import Foundation
import Synchronization

/// Multi-head scaled dot-product attention: per head h, softmax(Q_h K_hᵀ · scale [+ causal mask]) V_h.
/// query [B, Tq, heads·D], key/value [B, Tk, heads·D] -> [B, Tq, heads·D]; scale defaults to 1/√D;
/// `causal` masks key j > query i.
/// Work items are (batch, head, slice of query rows); per item one sgemm makes the slice's scores
/// straight from the strided Q and K (leading dimension heads·D, no transposes or copies), they
/// are exponentiated in place, a second sgemm writes P·V into the output, and softmax's division
/// by Σ P is applied to those D-wide output rows. Each worker owns one scratch of at most
/// `attentionScoreBudget` floats (or one row of scores, if larger): the score matrix is never whole.
public func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    attention(query: query, key: key, value: value, heads: heads, causal: causal, scale: scale,
              scoreBudget: attentionScoreBudget, threads: BLASThreads.prepare())
}

/// `attention` with an explicit per-worker score budget in floats and thread count (tests use
/// tiny budgets to force many slices).
func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool, scale: Float?, scoreBudget: Int, threads: Int) -> Tensor {
    precondition(query.rank == 3 && key.rank == 3 && value.shape == key.shape && query.shape[0] == key.shape[0]
                 && query.shape[2] == key.shape[2] && heads > 0 && query.shape[2] % heads == 0,
                 "attention: query \(query.shape), key \(key.shape), value \(value.shape), \(heads) heads")
    let (batch, tq, width) = (query.shape[0], query.shape[1], query.shape[2])
    let tk = key.shape[1], d = width / heads
    let alpha = scale ?? 1 / Float(d).squareRoot()
    return Tensor(shape: query.shape) { out in
        guard out.count > 0 else { return }
        guard tk > 0 else { out.initialize(repeating: 0); return }
        query.storage.withUnsafeBufferPointer { pq in
            key.storage.withUnsafeBufferPointer { pk in
                value.storage.withUnsafeBufferPointer { pv in
                    nonisolated(unsafe) let (q, k, v, y) = (pq.baseAddress!, pk.baseAddress!, pv.baseAddress!, out.baseAddress!)
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
                    let workers = min(threads, items)
                    let scratchCount = sliceRows * tk + sliceRows
                    if workers <= 1 {
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                        defer { scratch.deallocate() }
                        for item in 0..<items { runItem(item, scratch, scratch + sliceRows * tk) }
                        return
                    }
                    let next = Atomic<Int>(0)
                    BLASThreads.withSingleThreadedBLAS {
                        parallelFor(workers) { _ in
                            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                            defer { scratch.deallocate() }
                            while true {
                                let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                                if item >= items { break }
                                runItem(item, scratch, scratch + sliceRows * tk)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Floats of attention scores one worker holds at a time (4 MB): 256 query rows against 4096 keys.
/// Taller slices amortise sgemm's packing of K_h and V_h, which it repeats for every slice.
let attentionScoreBudget = 1 << 20

/// Reference twin of `attention`: one query row at a time, in Double.
public func attentionReference(query: Tensor, key: Tensor, value: Tensor, heads: Int, causal: Bool = false, scale: Float? = nil) -> Tensor {
    precondition(query.rank == 3 && key.rank == 3 && value.shape == key.shape && query.shape[0] == key.shape[0]
                 && query.shape[2] == key.shape[2] && query.shape[2] % heads == 0,
                 "attention: query \(query.shape), key \(key.shape), value \(value.shape), \(heads) heads")
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
