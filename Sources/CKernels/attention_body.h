// The body of the fused attention kernel, included once per instruction set by attention.c, which
// defines before each inclusion (this file undefines them at its end):
//   SUFFIX(name)  the variant's name for a function        TARGET  its target attribute (or nothing)
//   VW            lanes per vector                          VEC     the vector type
//   IV            vectors of query rows per block (block rows MBR = IV·VW)
//   JT            keys per score tile                       DT      head dimensions per P·V tile
//   VLOAD VSTORE VSET1 VADD VSUB VMUL VMAX VMIN VFMA(a,b,c)=a·b+c VFNMA(a,b,c)=c-a·b
//   VPOW2N(s)     2^n as a float vector, from s = x/ln2 + 1.5·2^23 (n in its low mantissa bits)
//   VMASKLOW(v, t, w)  lanes with index < t from w, the rest from v
// Layout per block (scratch, transposed so that a vector holds one value for VW query rows):
//   qt [D][MBR]       the block's queries, zero in rows past the block's end
//   st [NB+JT][MBR]   scores, then probabilities, for one block of keys (JT rows of slack for tails)
//   ot [D+DT][MBR]    unnormalised output (DT rows of slack for tails)
//   peak, total [MBR] running maximum and Σ exp of each query row's scores

#define MBR (IV * VW)
#define ALWAYS_INLINE static inline __attribute__((always_inline)) TARGET

/// Query rows per work item of this variant.
enum { SUFFIX(block_rows) = MBR };
_Static_assert(MBR <= LARGEST_BLOCK_ROWS && JT <= LARGEST_TILE && DT <= LARGEST_TILE, "scratch too small for this variant");

/// e^x as FastMath.swift's fastExp: inputs clamped to [-87, 88], 2^n · e^r with |r| ≤ ln2/2, Taylor degree 7.
ALWAYS_INLINE VEC SUFFIX(vexp)(VEC x) {
    x = VMIN(VMAX(x, VSET1(-87.0f)), VSET1(88.0f));
    const VEC shifted = VFMA(x, VSET1(1.44269504f), VSET1(12582912.0f));
    const VEC n = VSUB(shifted, VSET1(12582912.0f));
    VEC r = VFNMA(n, VSET1(0.693145751953125f), x);
    r = VFNMA(n, VSET1(1.4286068203094172e-6f), r);
    VEC p = VSET1(1.0f / 5040);
    p = VFMA(p, r, VSET1(1.0f / 720));
    p = VFMA(p, r, VSET1(1.0f / 120));
    p = VFMA(p, r, VSET1(1.0f / 24));
    p = VFMA(p, r, VSET1(1.0f / 6));
    p = VFMA(p, r, VSET1(0.5f));
    p = VFMA(p, r, VSET1(1.0f));
    p = VFMA(p, r, VSET1(1.0f));
    return VMUL(p, VPOW2N(shifted));
}

/// st[jj][·] = scale · Σ_e k_jj[e] · qt[e][·] for JT keys starting at `key` (rows `stride` apart);
/// keys at or past `valid` repeat the last valid key (their rows are slack, never read).
ALWAYS_INLINE void SUFFIX(score_tile)(const float *qt, const float *key, ptrdiff_t stride, int valid, int dim, VEC scale,
                                       float *st) {
    VEC acc[JT][IV];
    const float *rows[JT];
    for (int jj = 0; jj < JT; jj++) {
        rows[jj] = key + (ptrdiff_t)(jj < valid ? jj : valid - 1) * stride;
        for (int iv = 0; iv < IV; iv++) acc[jj][iv] = VSET1(0.0f);
    }
    for (int e = 0; e < dim; e++) {
        VEC q[IV];
        for (int iv = 0; iv < IV; iv++) q[iv] = VLOAD(qt + (ptrdiff_t)e * MBR + iv * VW);
        for (int jj = 0; jj < JT; jj++) {
            const VEC k = VSET1(rows[jj][e]);
            for (int iv = 0; iv < IV; iv++) acc[jj][iv] = VFMA(k, q[iv], acc[jj][iv]);
        }
    }
    for (int jj = 0; jj < JT; jj++)
        for (int iv = 0; iv < IV; iv++) VSTORE(st + jj * MBR + iv * VW, VMUL(acc[jj][iv], scale));
}

/// ot[d0 + dd][·] += Σ_j v_j[d0 + dd] · st[j][·] for DT dimensions and `keys` keys (value rows
/// `stride` apart); dimensions at or past `dim` read the last one (their rows are slack).
ALWAYS_INLINE void SUFFIX(value_tile)(const float *st, int keys, const float *value, ptrdiff_t stride, int d0, int dim,
                                       float *ot, const int clamp) {
    VEC acc[DT][IV];
    int column[DT];
    for (int dd = 0; dd < DT; dd++) {
        column[dd] = clamp && d0 + dd >= dim ? dim - 1 : d0 + dd;
        for (int iv = 0; iv < IV; iv++) acc[dd][iv] = VLOAD(ot + (ptrdiff_t)(d0 + dd) * MBR + iv * VW);
    }
    for (int j = 0; j < keys; j++) {
        const float *v = value + (ptrdiff_t)j * stride;
        VEC p[IV];
        for (int iv = 0; iv < IV; iv++) p[iv] = VLOAD(st + (ptrdiff_t)j * MBR + iv * VW);
        for (int dd = 0; dd < DT; dd++) {
            const VEC x = VSET1(v[column[dd]]);
            for (int iv = 0; iv < IV; iv++) acc[dd][iv] = VFMA(x, p[iv], acc[dd][iv]);
        }
    }
    for (int dd = 0; dd < DT; dd++)
        for (int iv = 0; iv < IV; iv++) VSTORE(ot + (ptrdiff_t)(d0 + dd) * MBR + iv * VW, acc[dd][iv]);
}

/// Turns one block's scores st[0..<keys] into probabilities against the updated running maximum,
/// adds them to the running totals and rescales the output so far by e^(old peak - new peak).
/// `diagonal`: key kb + j is masked from block row i when kb + j > first + i (causal).
TARGET static void SUFFIX(online_softmax)(float *st, int keys, int dim, float *ot, float *peak, float *total,
                                          int diagonal, int key_offset) {
    for (int iv = 0; iv < IV; iv++) {
        const VEC old = VLOAD(peak + iv * VW);
        VEC top = old;
        // Masked scores become -inf so the maximum skips them; their probabilities become 0 below.
        for (int j = 0; j < keys; j++) {
            VEC s = VLOAD(st + (ptrdiff_t)j * MBR + iv * VW);
            if (diagonal) {
                const int t = key_offset + j - iv * VW;
                if (t > 0) {
                    s = VMASKLOW(s, t, VSET1(-__builtin_inff()));
                    VSTORE(st + (ptrdiff_t)j * MBR + iv * VW, s);
                }
            }
            top = VMAX(top, s);
        }
        const VEC correction = SUFFIX(vexp)(VSUB(old, top));
        VEC sum = VMUL(VLOAD(total + iv * VW), correction);
        for (int j = 0; j < keys; j++) {
            VEC p = SUFFIX(vexp)(VSUB(VLOAD(st + (ptrdiff_t)j * MBR + iv * VW), top));
            if (diagonal) {
                const int t = key_offset + j - iv * VW;
                if (t > 0) p = VMASKLOW(p, t, VSET1(0.0f));
            }
            VSTORE(st + (ptrdiff_t)j * MBR + iv * VW, p);
            sum = VADD(sum, p);
        }
        VSTORE(total + iv * VW, sum);
        VSTORE(peak + iv * VW, top);
        for (int e = 0; e < dim; e++) {
            float *o = ot + (ptrdiff_t)e * MBR + iv * VW;
            VSTORE(o, VMUL(VLOAD(o), correction));
        }
    }
}

/// One work item: batch entry b, head h, query rows first ..< first + rows.
TARGET static void SUFFIX(attention_item)(const stipple_attention_problem *p, int item, float *scratch) {
    const int dim = p->head_dim, blocks = (p->query_tokens + MBR - 1) / MBR;
    const int block = item % blocks, head = (item / blocks) % p->heads, b = item / (blocks * p->heads);
    const int first = block * MBR, rows = p->query_tokens - first < MBR ? p->query_tokens - first : MBR;
    // Causal rows first ..< first + rows see at most keys 0 ..< first + rows.
    const int keys = p->causal && first + rows < p->key_tokens ? first + rows : p->key_tokens;
    float *qt = scratch, *ot = qt + (ptrdiff_t)dim * MBR, *st = ot + (ptrdiff_t)(dim + DT) * MBR;
    float *peak = st + (ptrdiff_t)(ATTENTION_KEY_BLOCK + JT) * MBR, *total = peak + MBR;

    const float *q = p->query + ((ptrdiff_t)b * p->query_tokens + first) * p->query_stride + (ptrdiff_t)head * dim;
    for (int i = 0; i < MBR; i++) {
        const float *row = q + (ptrdiff_t)i * p->query_stride;
        for (int e = 0; e < dim; e++) qt[(ptrdiff_t)e * MBR + i] = i < rows ? row[e] : 0.0f;
        peak[i] = -__builtin_inff();
        total[i] = 0.0f;
    }
    for (ptrdiff_t x = 0; x < (ptrdiff_t)(dim + DT) * MBR; x++) ot[x] = 0.0f;

    const VEC scale = VSET1(p->scale);
    const float *k = p->key + (ptrdiff_t)b * p->key_tokens * p->key_stride + (ptrdiff_t)head * dim;
    const float *v = p->value + (ptrdiff_t)b * p->key_tokens * p->value_stride + (ptrdiff_t)head * dim;
    for (int kb = 0; kb < keys; kb += ATTENTION_KEY_BLOCK) {
        const int n = keys - kb < ATTENTION_KEY_BLOCK ? keys - kb : ATTENTION_KEY_BLOCK;
        for (int j = 0; j < n; j += JT)
            SUFFIX(score_tile)(qt, k + (ptrdiff_t)(kb + j) * p->key_stride, p->key_stride, n - j, dim, scale,
                               st + (ptrdiff_t)j * MBR);
        const int diagonal = p->causal && kb + n - 1 > first;
        SUFFIX(online_softmax)(st, n, dim, ot, peak, total, diagonal, kb - first);
        const float *vb = v + (ptrdiff_t)kb * p->value_stride;
        int d0 = 0;
        for (; d0 + DT <= dim; d0 += DT) SUFFIX(value_tile)(st, n, vb, p->value_stride, d0, dim, ot, 0);
        if (d0 < dim) SUFFIX(value_tile)(st, n, vb, p->value_stride, d0, dim, ot, 1);
    }

    float *out = p->out + ((ptrdiff_t)b * p->query_tokens + first) * p->out_stride + (ptrdiff_t)head * dim;
    for (int i = 0; i < rows; i++) {
        float *row = out + (ptrdiff_t)i * p->out_stride;
        for (int e = 0; e < dim; e++) row[e] = ot[(ptrdiff_t)e * MBR + i] / total[i];
    }
}

// Ready for the next variant's definitions.
#undef MBR
#undef ALWAYS_INLINE
#undef SUFFIX
#undef TARGET
#undef VW
#undef IV
#undef JT
#undef DT
#undef VEC
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VADD
#undef VSUB
#undef VMUL
#undef VMAX
#undef VMIN
#undef VFMA
#undef VFNMA
#undef VPOW2N
#undef VMASKLOW
