import CKernels
import Foundation
import Testing
@testable import Tensor

/// The fused C attention kernel (online softmax over blocks of keys), every instruction-set variant
/// this machine runs, against the one-row-at-a-time reference in Double. Serialized: the tests
/// lower the process-wide level and lift it again.
@Suite(.serialized) struct FusedAttentionTests {
    /// Levels this machine runs, lowest first (portable, then avx2 and avx512 where detected).
    static let levels: [stipple_isa] = (0...stipple_isa_detected().rawValue).map { stipple_isa(rawValue: $0) }

    /// Runs `body` with the kernels capped at `level` (stipple_isa_limit), then lifts the cap back to
    /// the detected level, so no test leaves it lowered. The level is process-wide and other suites
    /// run alongside, so `body` gets the level to pass on explicitly rather than reading it back.
    static func withLevel(_ level: stipple_isa, _ body: (stipple_isa) -> Void) {
        defer { stipple_isa_limit(stipple_isa_detected()) }
        let active = stipple_isa_limit(level)
        #expect(active == level)
        body(active)
    }

    /// The largest error the fused kernel may make against the reference: float's rounding of the
    /// scores (at most |scale|·D·max|q|·max|k| in size, so the error grows with them and with D),
    /// then of the exponential and the weighted sums, all relative to the values' magnitude.
    static func tolerance(_ q: Tensor, _ k: Tensor, _ v: Tensor, d: Int, scale: Float) -> Float {
        let largest = { (t: Tensor) in t.storage.map(abs).max() ?? 0 }
        let scoreBound = abs(scale) * Float(d) * largest(q) * largest(k)
        return largest(v) * (1e-6 + 2 * Float.ulpOfOne * scoreBound)
    }

    static func largestError(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
    }

    /// (batch, query tokens, key tokens, heads, head width, causal, spread of q and k, scale or nil)
    static let cases: [(Int, Int, Int, Int, Int, Bool, Float, Float?)] = {
        var cases: [(Int, Int, Int, Int, Int, Bool, Float, Float?)] = []
        // Every head width against token counts that are not multiples of any block (16/32/64 query
        // rows, 128 keys, 3 or 6 keys per tile): one block, several, one token, Tq < Tk and Tq > Tk.
        for d in [1, 3, 17, 40, 64, 80] {
            for (tq, tk) in [(1, 1), (7, 130), (130, 77), (77, 77), (130, 300)] {
                for causal in [false, true] {
                    cases.append((2, tq, tk, d > 40 ? 2 : 3, d, causal, 1.5, nil))
                }
            }
        }
        // Custom scales, one of them negative (the maximum is then of the most negative dot products).
        cases.append((2, 77, 130, 2, 40, false, 1, 0.37))
        cases.append((1, 130, 130, 3, 17, true, 1, -2.5))
        // Scores in the thousands: without the running maximum and its rescaling, e^s overflows.
        cases.append((2, 130, 300, 2, 64, false, 30, nil))
        cases.append((2, 77, 77, 2, 80, true, 30, nil))
        cases.append((1, 7, 300, 1, 3, false, 1, 2000))
        return cases
    }()

    @Test(arguments: cases)
    func matchesReferenceAtEveryLevel(shape: (Int, Int, Int, Int, Int, Bool, Float, Float?)) {
        let (b, tq, tk, heads, d, causal, spread, scale) = shape
        var random = TestRandom(seed: b + 3 * tq + 5 * tk + 7 * heads + 11 * d + (causal ? 1 : 0) + Int(spread))
        let q = random.tensor([b, tq, heads * d], spread: spread), k = random.tensor([b, tk, heads * d], spread: spread)
        let v = random.tensor([b, tk, heads * d], spread: 3, offset: 1)
        let reference = attentionReference(query: q, key: k, value: v, heads: heads, causal: causal, scale: scale)
        let tolerance = Self.tolerance(q, k, v, d: d, scale: scale ?? 1 / Float(d).squareRoot())
        for level in Self.levels {
            Self.withLevel(level) { active in
                for threads in [1, 2, 3] {
                    let y = fusedAttention(query: q, key: k, value: v, heads: heads, causal: causal, scale: scale, isa: active, threads: threads)
                    #expect(y.shape == reference.shape)
                    let error = Self.largestError(y, reference)
                    #expect(error <= tolerance, "\(stipple_isa_name(active).map { String(cString: $0) } ?? "?"), \(threads) threads: error \(error) > \(tolerance)")
                }
                // The public entry point at this level (whichever kernel it picks) agrees too.
                let y = attention(query: q, key: k, value: v, heads: heads, causal: causal, scale: scale)
                #expect(Self.largestError(y, reference) <= tolerance)
            }
        }
    }

    /// The first causal row sees only the first key, so its output is that key's value exactly
    /// (masked keys contribute 0, not the clamped exponential's 1.6e-38).
    @Test func causalFirstRowIsFirstValue() {
        var random = TestRandom(seed: 16)
        let q = random.tensor([1, 70, 16], spread: 5), k = random.tensor([1, 70, 16], spread: 5), v = random.tensor([1, 70, 16])
        for level in Self.levels {
            Self.withLevel(level) { active in
                let y = fusedAttention(query: q, key: k, value: v, heads: 2, causal: true, scale: nil, isa: active, threads: 2)
                for e in 0..<16 { #expect(y.storage[e] == v.storage[e]) }
            }
        }
    }

    /// No keys: zeros, as the sliced path gives; no queries: an empty result.
    @Test func emptyInputs() {
        var random = TestRandom(seed: 17)
        let q = random.tensor([2, 5, 8]), none = Tensor(zeros: [2, 0, 8])
        for level in Self.levels {
            Self.withLevel(level) { active in
                let y = fusedAttention(query: q, key: none, value: none, heads: 2, causal: false, scale: nil, isa: active, threads: 2)
                #expect(y.shape == [2, 5, 8] && y.storage.allSatisfy { $0 == 0 })
                let k = random.tensor([2, 4, 8])
                #expect(fusedAttention(query: Tensor(zeros: [2, 0, 8]), key: k, value: k, heads: 2, causal: true, scale: nil, isa: active, threads: 2).shape == [2, 0, 8])
            }
        }
    }

    /// A level above the detected one runs the detected variant instead of faulting.
    @Test func levelAboveDetectedIsLowered() {
        let detected = stipple_isa_detected()
        #expect(stipple_attention_block_rows(STIPPLE_ISA_AVX512) == stipple_attention_block_rows(detected))
    }

    /// Timings for SD1.5's attention shapes (batch 2, CFG; SD2's D = 64, the VAE's mid-block and CLIP's
    /// causal one too) on 2 threads (or as set): the sliced sgemm path against each fused variant, interleaved
    /// (one run of each per round, 7 rounds, so a busy machine slows them alike), median per kernel.
    /// Prints only with STIPPLE_ATTENTION_BENCH set (to a thread count, or anything for 2):
    ///   STIPPLE_ATTENTION_BENCH=2 swift test -c release -Xswiftc -enable-testing --skip-build --filter FusedAttentionTests/benchmark
    @Test func benchmark() {
        guard let setting = ProcessInfo.processInfo.environment["STIPPLE_ATTENTION_BENCH"] else { return }
        let shapes: [(String, Int, Int, Int, Int, Int, Bool)] = [  // name, batch, Tq, Tk, heads, D, causal
            ("self 4096 D40", 2, 4096, 4096, 8, 40, false),
            ("self 1024 D80", 2, 1024, 1024, 8, 80, false),
            ("self 256 D160", 2, 256, 256, 8, 160, false),
            ("self 64 D160", 2, 64, 64, 8, 160, false),
            ("cross 4096x77 D40", 2, 4096, 77, 8, 40, false),
            ("cross 1024x77 D80", 2, 1024, 77, 8, 80, false),
            ("cross 256x77 D160", 2, 256, 77, 8, 160, false),
            ("SD2 self 4096 D64", 2, 4096, 4096, 5, 64, false),
            ("VAE mid 4096 D512 (batch 1)", 1, 4096, 4096, 1, 512, false),
            ("CLIP causal 77 D64", 2, 77, 77, 12, 64, true),
        ]
        let threads = Int(setting) ?? 2
        let name = { (level: stipple_isa) in stipple_isa_name(level).map { String(cString: $0) } ?? "?" }
        for (label, b, tq, tk, heads, d, causal) in shapes {
            var random = TestRandom(seed: tq + d)
            let q = random.tensor([b, tq, heads * d]), k = random.tensor([b, tk, heads * d]), v = random.tensor([b, tk, heads * d])
            var kernels: [(String, () -> Tensor)] = [("sliced", {
                attention(query: q, key: k, value: v, heads: heads, causal: causal, scale: nil, scoreBudget: attentionScoreBudget, threads: threads)
            })]
            for level in Self.levels {
                kernels.append((name(level), {
                    fusedAttention(query: q, key: k, value: v, heads: heads, causal: causal, scale: nil, isa: level, threads: threads)
                }))
            }
            var times = Array(repeating: [Double](), count: kernels.count)
            for _ in 0..<7 {
                for (i, kernel) in kernels.enumerated() {
                    let start = DispatchTime.now().uptimeNanoseconds
                    _ = kernel.1()
                    times[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
            }
            let medians = times.map { $0.sorted()[$0.count / 2] }
            print("\(label): " + zip(kernels, medians).map { "\($0.0) \(String(format: "%.2f", $1)) ms" }.joined(separator: ", "))
        }
    }
}
