// Half-precision weights widened to Float32 just before a kernel reads them.
#ifndef STIPPLE_HALFCONVERT_H
#define STIPPLE_HALFCONVERT_H

#include <stddef.h>

#include "ckernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/// out[i] = (float)src[i] for IEEE binary16 values stored little-endian at src (any alignment),
/// exactly (subnormals and infinities included; a NaN stays a NaN). F16C's vcvtph2ps at the AVX2
/// and AVX-512 levels, a branch-free bit recipe in the portable variant.
void stipple_f16_to_f32(float *out, const void *src, size_t count);

/// stipple_f16_to_f32 with the variant for `level` (at most the detected one), for tests.
void stipple_f16_to_f32_at(float *out, const void *src, size_t count, stipple_isa level);

#ifdef __cplusplus
}
#endif

#endif
