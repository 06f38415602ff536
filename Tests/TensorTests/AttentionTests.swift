import Foundation
import Testing
@testable import Tensor

/// Sliced `attention` (sgemm on strided heads, in-place softmax) against the one-row-at-a-time reference.
@Suite struct AttentionTests {
    /// (batch, query tokens, key tokens, heads, head width, causal, score budget in floats)
    static let cases: [(Int, Int, Int, Int, Int, Bool, Int)] = [
        (1, 5, 5, 1, 4, false, 1 << 18),
        (2, 7, 13, 5, 3, false, 1 << 18),   // Tq != Tk, 5 heads
        (2, 9, 9, 8, 8, true, 1 << 18),     // causal self-attention, 8 heads
        (1, 6, 10, 2, 4, true, 1 << 18),    // causal with Tq < Tk
        (1, 11, 4, 2, 4, true, 1 << 18),    // causal with Tq > Tk
        (2, 37, 21, 8, 5, false, 21 * 4),   // slices of 4 rows: 37 is not a multiple
        (1, 23, 23, 5, 8, true, 23 * 6),    // causal over slices of 6 rows
        (1, 3, 50, 1, 16, false, 10),       // budget below one row: one row per slice
        (2, 64, 77, 8, 40, false, 77 * 16), // cross-attention-like shape
    ]

    @Test(arguments: cases)
    func matchesReference(shape: (Int, Int, Int, Int, Int, Bool, Int)) {
        let (b, tq, tk, heads, d, causal, budget) = shape
        var random = TestRandom(seed: b + 3 * tq + 5 * tk + 7 * heads + 11 * d + (causal ? 1 : 0))
        let q = random.tensor([b, tq, heads * d], spread: 2), k = random.tensor([b, tk, heads * d], spread: 2)
        let v = random.tensor([b, tk, heads * d])
        let reference = attentionReference(query: q, key: k, value: v, heads: heads, causal: causal)
        for threads in [1, 2, 3] {
            expectClose(attention(query: q, key: k, value: v, heads: heads, causal: causal, scale: nil, scoreBudget: budget, threads: threads),
                        reference)
        }
        expectClose(attention(query: q, key: k, value: v, heads: heads, causal: causal), reference)
    }

    @Test func explicitScale() {
        var random = TestRandom(seed: 5)
        let q = random.tensor([1, 6, 12]), k = random.tensor([1, 9, 12]), v = random.tensor([1, 9, 12])
        expectClose(attention(query: q, key: k, value: v, heads: 3, scale: 0.7),
                    attentionReference(query: q, key: k, value: v, heads: 3, scale: 0.7))
    }

    /// The first causal row sees only the first key, so its output is that key's value.
    @Test func causalFirstRowIsFirstValue() {
        var random = TestRandom(seed: 6)
        let q = random.tensor([1, 4, 8]), k = random.tensor([1, 4, 8]), v = random.tensor([1, 4, 8])
        let y = attention(query: q, key: k, value: v, heads: 2, causal: true)
        for e in 0..<8 { #expect(abs(y.storage[e] - v.storage[e]) < 1e-6) }
    }
}
