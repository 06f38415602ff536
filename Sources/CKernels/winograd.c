// Winograd F(4x4, 3x3) transforms (see include/winograd.h), one variant per instruction set.
#include "winograd.h"
#include "ckernels.h"

#define LANES 16

#define VARIANT(name) name##_portable
#define TARGET
#include "winograd_variant.h"
#undef VARIANT
#undef TARGET

#if defined(__x86_64__)
#define VARIANT(name) name##_avx2
#define TARGET __attribute__((target("avx2,fma")))
#include "winograd_variant.h"
#undef VARIANT
#undef TARGET

#define VARIANT(name) name##_avx512
#define TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#include "winograd_variant.h"
#undef VARIANT
#undef TARGET
#endif

void stipple_winograd43_input(const float *x, int channels, int height, int width, int padding, int tiles_x,
                              int first_tile, int tile_count, int first_channel, int channel_count, float *v,
                              stipple_isa level) {
#if defined(__x86_64__)
    switch (level < stipple_isa_detected() ? level : stipple_isa_detected()) {
    case STIPPLE_ISA_AVX512:
        input_avx512(x, channels, height, width, padding, tiles_x, first_tile, tile_count, first_channel, channel_count, v);
        return;
    case STIPPLE_ISA_AVX2:
        input_avx2(x, channels, height, width, padding, tiles_x, first_tile, tile_count, first_channel, channel_count, v);
        return;
    default: break;
    }
#endif
    input_portable(x, channels, height, width, padding, tiles_x, first_tile, tile_count, first_channel, channel_count, v);
}

void stipple_winograd43_output(const float *m, const float *bias, const float *residual, int out_channels,
                               int out_height, int out_width,
                               int tiles_x, int first_tile, int tile_count, float *y, stipple_isa level) {
#if defined(__x86_64__)
    switch (level < stipple_isa_detected() ? level : stipple_isa_detected()) {
    case STIPPLE_ISA_AVX512:
        output_avx512(m, bias, residual, out_channels, out_height, out_width, tiles_x, first_tile, tile_count, y);
        return;
    case STIPPLE_ISA_AVX2:
        output_avx2(m, bias, residual, out_channels, out_height, out_width, tiles_x, first_tile, tile_count, y);
        return;
    default: break;
    }
#endif
    output_portable(m, bias, residual, out_channels, out_height, out_width, tiles_x, first_tile, tile_count, y);
}

void stipple_winograd43_weights(const float *g, float *u, int out_channels, int in_channels, int first_out, int out_count,
                                stipple_isa level) {
#if defined(__x86_64__)
    switch (level < stipple_isa_detected() ? level : stipple_isa_detected()) {
    case STIPPLE_ISA_AVX512: weights_avx512(g, u, out_channels, in_channels, first_out, out_count); return;
    case STIPPLE_ISA_AVX2: weights_avx2(g, u, out_channels, in_channels, first_out, out_count); return;
    default: break;
    }
#endif
    weights_portable(g, u, out_channels, in_channels, first_out, out_count);
}
