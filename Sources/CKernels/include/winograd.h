// Winograd F(4x4, 3x3) convolution transforms (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", 2016; interpolation points 0, ±1, ±2, ∞). A 3x3, stride-1 convolution becomes,
// per 6x6 input tile, 36 element-wise products in the transformed domain: the caller forms them as
// 36 matrix products U[ξ] (O×C) · V[ξ] (C×T) over a block of T tiles (sgemm), between the input
// transform below and the output transform. That is 36 multiplies per 16 outputs and channel
// pair instead of 144: a quarter of direct convolution's. Each function runs the variant for
// `level` (at most the detected one: callers pass stipple_isa_active(), tests each level in turn).
#ifndef STIPPLE_WINOGRAD_H
#define STIPPLE_WINOGRAD_H

#include <stddef.h>

#include "ckernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Weight transform U = G g Gᵀ: g [O][C][3][3] -> u [36][O][C] (u[ξ·O·C + o·C + c], ξ = 6·row + column),
/// for output channels [first_out, first_out + out_count) only (callers split them over threads).
/// g and u may instead point at row k of a larger pass (u advanced by k·C) with out_channels still
/// the pass's O: the rows of g there fill U's rows from k on (a pass filled a weight block at a time).
void stipple_winograd43_weights(const float *g, float *u, int out_channels, int in_channels,
                                int first_out, int out_count, stipple_isa level);

/// Input transform V = Bᵀ d B for tiles [first_tile, first_tile + tile_count) of one image
/// x [C][H][W] (tiles in row-major order over tiles_y × tiles_x; tile (ty, tx) reads rows
/// 4·ty − padding ..< 4·ty − padding + 6 and the same columns, zero outside the image), channels
/// [first_channel, first_channel + channel_count) only: v [36][C][tile_count]
/// (v[ξ·C·tile_count + c·tile_count + t]).
void stipple_winograd43_input(const float *x, int channels, int height, int width, int padding, int tiles_x,
                              int first_tile, int tile_count, int first_channel, int channel_count, float *v,
                              stipple_isa level);

/// Output transform Y = Aᵀ M A (+ bias) (+ residual) for the same tiles: m [36][O][tile_count] ->
/// y [O][OH][OW], writing only the outputs inside OH × OW; bias and residual (laid out as y: a
/// ResNet block's skip connection added as the convolution is written) may be NULL.
void stipple_winograd43_output(const float *m, const float *bias, const float *residual, int out_channels,
                               int out_height, int out_width,
                               int tiles_x, int first_tile, int tile_count, float *y, stipple_isa level);

#ifdef __cplusplus
}
#endif

#endif
