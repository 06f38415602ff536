// Fused attention (online softmax over blocks of keys), one variant per instruction set: the body in
// attention_body.h is included once per level with that level's vector operations defined.
// Queries are held transposed, one vector covering VW query rows, so that the scores, their
// running maximum and sums, and the P·V accumulation are all vertical (no horizontal reductions),
// and the head dimension is a plain loop (no masks or tails for D = 40, 80, 17...).
#include "attention.h"

#include <stdint.h>

/// Keys per block of the online softmax.
#define ATTENTION_KEY_BLOCK 128
/// The largest block rows (MBR), DT and JT of any variant, for the scratch size.
#define LARGEST_BLOCK_ROWS 32
#define LARGEST_TILE 8

// ---- Portable: 4-lane vectors of the GCC/Clang vector extension (SSE2 on x86-64, NEON on aarch64),
// tiles of 5 keys (or dimensions) × 2 vectors of query rows ----
typedef float stipple_vf4 __attribute__((vector_size(16)));
typedef int32_t stipple_vi4 __attribute__((vector_size(16)));

static inline stipple_vf4 portable_load(const float *p) {
    stipple_vf4 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}
static inline void portable_store(float *p, stipple_vf4 v) { __builtin_memcpy(p, &v, sizeof v); }
static inline stipple_vf4 portable_select(stipple_vi4 mask, stipple_vf4 yes, stipple_vf4 no) {
    return (stipple_vf4)(((stipple_vi4)yes & mask) | ((stipple_vi4)no & ~mask));
}
static inline stipple_vf4 portable_max(stipple_vf4 a, stipple_vf4 b) { return portable_select(a > b, a, b); }
static inline stipple_vf4 portable_min(stipple_vf4 a, stipple_vf4 b) { return portable_select(a < b, a, b); }
static inline stipple_vf4 portable_pow2n(stipple_vf4 shifted) {
    return (stipple_vf4)((((stipple_vi4)shifted - 0x4B400000) + 127) << 23);
}
static inline stipple_vf4 portable_masklow(stipple_vf4 v, int t, stipple_vf4 w) {
    const stipple_vi4 lane = {0, 1, 2, 3};
    return portable_select(lane < t, w, v);
}

#define SUFFIX(name) name##_portable
#define TARGET
#define VW 4
#define IV 2
#define JT 5
#define DT 5
#define VEC stipple_vf4
#define VLOAD(p) portable_load(p)
#define VSTORE(p, v) portable_store(p, v)
#define VSET1(x) ((stipple_vf4){0, 0, 0, 0} + (float)(x))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VMAX(a, b) portable_max(a, b)
#define VMIN(a, b) portable_min(a, b)
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VFNMA(a, b, c) ((c) - (a) * (b))
#define VPOW2N(s) portable_pow2n(s)
#define VMASKLOW(v, t, w) portable_masklow(v, t, w)
#include "attention_body.h"

#if defined(__x86_64__)
#include <immintrin.h>

// ---- AVX2 + FMA: 8 lanes, 16 registers: tiles of 6 keys (or dimensions) × 2 vectors of query rows ----
#define AVX2_TARGET __attribute__((target("avx2,fma")))
static inline AVX2_TARGET __m256 avx2_pow2n(__m256 shifted) {
    const __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000 - 127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(bits, 23));
}
static inline AVX2_TARGET __m256 avx2_masklow(__m256 v, int t, __m256 w) {
    const __m256i below = _mm256_cmpgt_epi32(_mm256_set1_epi32(t), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_blendv_ps(v, w, _mm256_castsi256_ps(below));
}

#define SUFFIX(name) name##_avx2
#define TARGET AVX2_TARGET
#define VW 8
#define IV 2
#define JT 6
#define DT 6
#define VEC __m256
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VFNMA(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define VPOW2N(s) avx2_pow2n(s)
#define VMASKLOW(v, t, w) avx2_masklow(v, t, w)
#include "attention_body.h"

// ---- AVX-512: 16 lanes, 32 registers: tiles of 8 keys (or dimensions) × 2 vectors of query rows ----
#define AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
static inline AVX512_TARGET __m512 avx512_pow2n(__m512 shifted) {
    const __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000 - 127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(bits, 23));
}
static inline AVX512_TARGET __m512 avx512_masklow(__m512 v, int t, __m512 w) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_mask_blend_ps(_mm512_cmpgt_epi32_mask(_mm512_set1_epi32(t), lane), v, w);
}

#define SUFFIX(name) name##_avx512
#define TARGET AVX512_TARGET
#define VW 16
#define IV 2
#define JT 8
#define DT 8
#define VEC __m512
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VFNMA(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define VPOW2N(s) avx512_pow2n(s)
#define VMASKLOW(v, t, w) avx512_masklow(v, t, w)
#include "attention_body.h"
#endif

/// The level a variant exists for and this CPU runs: `isa`, lowered to what was detected.
static stipple_isa usable(stipple_isa isa) {
    const stipple_isa detected = stipple_isa_detected();
    return isa > detected ? detected : isa;
}

int stipple_attention_block_rows(stipple_isa isa) {
    switch (usable(isa)) {
#if defined(__x86_64__)
    case STIPPLE_ISA_AVX512: return block_rows_avx512;
    case STIPPLE_ISA_AVX2: return block_rows_avx2;
#endif
    default: return block_rows_portable;
    }
}

int stipple_attention_items(const stipple_attention_problem *problem, stipple_isa isa) {
    const int rows = stipple_attention_block_rows(isa);
    return problem->batch * problem->heads * ((problem->query_tokens + rows - 1) / rows);
}

size_t stipple_attention_scratch_floats(int head_dim) {
    // qt, ot (+ DT slack rows), st (+ JT slack rows), peak and total; 16 floats to align to 64 bytes.
    const size_t dim = head_dim > 0 ? (size_t)head_dim : 0;
    return (size_t)LARGEST_BLOCK_ROWS * (2 * dim + LARGEST_TILE + ATTENTION_KEY_BLOCK + LARGEST_TILE + 2) + 16;
}

void stipple_attention(const stipple_attention_problem *problem, stipple_isa isa, int first_item, int item_count,
                       float *scratch) {
    float *aligned = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    const stipple_isa level = usable(isa);
    for (int item = first_item; item < first_item + item_count; item++) {
#if defined(__x86_64__)
        if (level == STIPPLE_ISA_AVX512) { attention_item_avx512(problem, item, aligned); continue; }
        if (level == STIPPLE_ISA_AVX2) { attention_item_avx2(problem, item, aligned); continue; }
#endif
        (void)level;
        attention_item_portable(problem, item, aligned);
    }
}
