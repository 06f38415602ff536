// IEEE half to Float32 (see include/halfconvert.h).
#include "halfconvert.h"
#include "ckernels.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Normal and subnormal halves are the magnitude bits moved to a float's place (the exponent then
/// 112 too small) times 2^112, an exact scaling; infinities and NaNs get the float exponent all ones.
static inline float widen(uint16_t half) {
    const uint32_t sign = ((uint32_t)half & 0x8000u) << 16, magnitude = half & 0x7FFFu;
    float moved;
    uint32_t bits = magnitude << 13;
    memcpy(&moved, &bits, 4);
    moved *= 0x1p112f;
    memcpy(&bits, &moved, 4);
    bits |= (magnitude >= 0x7C00u ? 0x7F800000u : 0u) | sign;
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

static void convert_portable(float *out, const unsigned char *src, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint16_t half;
        memcpy(&half, src + 2 * i, 2);
        out[i] = widen(half);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma,f16c")))
static void convert_avx2(float *out, const unsigned char *src, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    }
    convert_portable(out + i, src + 2 * i, count - i);
}

__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
static void convert_avx512(float *out, const unsigned char *src, size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * i))));
    }
    convert_portable(out + i, src + 2 * i, count - i);
}
#endif

void stipple_f16_to_f32(float *out, const void *src, size_t count) {
    stipple_f16_to_f32_at(out, src, count, stipple_isa_active());
}

void stipple_f16_to_f32_at(float *out, const void *src, size_t count, stipple_isa level) {
#if defined(__x86_64__)
    switch (level < stipple_isa_detected() ? level : stipple_isa_detected()) {
    case STIPPLE_ISA_AVX512: convert_avx512(out, src, count); return;
    case STIPPLE_ISA_AVX2: convert_avx2(out, src, count); return;
    default: break;
    }
#endif
    convert_portable(out, src, count);
}
