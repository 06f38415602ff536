// Fused multi-head attention: softmax(scale · Q Kᵀ [+ causal mask]) V per head, with an online
// softmax over blocks of keys, so that no row of scores is ever whole (see docs/DECISIONS.md,
// "Fused attention kernel"). Variants per instruction set, chosen by the caller's `isa`.
#ifndef STIPPLE_ATTENTION_H
#define STIPPLE_ATTENTION_H

#include <stddef.h>

#include "ckernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/// One attention call. Row r of batch item b of the query is at query + (b·query_tokens + r)·query_stride,
/// of key and value likewise with key_tokens and their strides; head h is the head_dim floats from
/// column h·head_dim. The output has the query's shape with rows out_stride apart.
typedef struct {
    const float *query;
    const float *key;
    const float *value;
    float *out;
    int batch, query_tokens, key_tokens, heads, head_dim;
    int query_stride, key_stride, value_stride, out_stride;
    float scale; ///< multiplies Q·Kᵀ before the softmax
    int causal;  ///< nonzero: query row i sees keys 0...i only
} stipple_attention_problem;

/// Query rows per work item for a level (each item is one batch entry, one head, one block of rows).
int stipple_attention_block_rows(stipple_isa isa);

/// Work items of `problem` at a level: batch · heads · ⌈query_tokens / block rows⌉.
int stipple_attention_items(const stipple_attention_problem *problem, stipple_isa isa);

/// Floats of scratch one worker needs for heads of `head_dim`, at any level.
size_t stipple_attention_scratch_floats(int head_dim);

/// Runs items first_item ..< first_item + item_count with the variant for `isa` (lowered to
/// stipple_isa_detected() if above it), using `scratch` (stipple_attention_scratch_floats floats,
/// owned by the calling worker). Items write disjoint output rows, so workers may run any split.
/// key_tokens must be at least 1.
void stipple_attention(const stipple_attention_problem *problem, stipple_isa isa, int first_item, int item_count,
                       float *scratch);

#ifdef __cplusplus
}
#endif

#endif
