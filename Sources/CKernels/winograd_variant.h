// The body of the Winograd F(4x4, 3x3) transforms, included once per instruction-set variant by
// winograd.c with VARIANT(name) and TARGET defined. Plain C over blocks of LANES tiles, written so
// the compiler vectorises the lane loops with the variant's vector width.

/// Input transform of one channel for `count` ≤ LANES tiles that start at tile `first` (row-major).
TARGET static void VARIANT(input_block)(const float *plane, int height, int width, int padding, int tiles_x,
                                        int first, int count, float *out, size_t xi_stride) {
    float d[6][6][LANES];
    // Gather the 6x6 patches a run of tiles in one tile row at a time: the run's six input rows are
    // copied into `rows` with zeros outside the image, then read with stride 4.
    float rows[6][4 * LANES + 2];
    for (int lane = 0; lane < LANES;) {
        const int tile = first + (lane < count ? lane : count - 1);
        const int ty = tile / tiles_x, tx = tile % tiles_x;
        int run = tiles_x - tx < LANES - lane ? tiles_x - tx : LANES - lane;
        if (lane >= count) run = LANES - lane; // padding lanes repeat the last tile
        const int step = lane >= count ? 0 : 4;
        const int y0 = ty * 4 - padding, x0 = tx * 4 - padding, span = 4 * (step ? run : 1) + 2;
        for (int r = 0; r < 6; r++) {
            const int y = y0 + r;
            float *dst = rows[r];
            if (y < 0 || y >= height) {
                for (int i = 0; i < span; i++) dst[i] = 0.0f;
                continue;
            }
            const float *src = plane + (ptrdiff_t)y * width;
            const int lo = x0 < 0 ? -x0 : 0, hi = width - x0 < span ? width - x0 : span;
            for (int i = 0; i < lo; i++) dst[i] = 0.0f;
            for (int i = lo; i < hi; i++) dst[i] = src[x0 + i];
            for (int i = hi > lo ? hi : lo; i < span; i++) dst[i] = 0.0f;
        }
        for (int r = 0; r < 6; r++) {
            for (int c = 0; c < 6; c++) {
                for (int l = 0; l < run; l++) d[r][c][lane + l] = rows[r][step * l + c];
            }
        }
        lane += run;
    }
    // Columns: t[k][c] = Σ_r Bᵀ[k][r] d[r][c].
    float t[6][6][LANES];
    for (int c = 0; c < 6; c++) {
        for (int l = 0; l < LANES; l++) {
            const float d0 = d[0][c][l], d1 = d[1][c][l], d2 = d[2][c][l], d3 = d[3][c][l], d4 = d[4][c][l], d5 = d[5][c][l];
            t[0][c][l] = 4.0f * d0 - 5.0f * d2 + d4;
            t[1][c][l] = -4.0f * (d1 + d2) + d3 + d4;
            t[2][c][l] = 4.0f * (d1 - d2) - d3 + d4;
            t[3][c][l] = 2.0f * (d3 - d1) - d2 + d4;
            t[4][c][l] = 2.0f * (d1 - d3) - d2 + d4;
            t[5][c][l] = 4.0f * d1 - 5.0f * d3 + d5;
        }
    }
    // Rows: v[k][j] = Σ_c t[k][c] B[c][j], stored at ξ = 6k + j.
    for (int k = 0; k < 6; k++) {
        float *o = out + (size_t)(6 * k) * xi_stride;
        for (int l = 0; l < count; l++) {
            const float d0 = t[k][0][l], d1 = t[k][1][l], d2 = t[k][2][l], d3 = t[k][3][l], d4 = t[k][4][l], d5 = t[k][5][l];
            o[0 * xi_stride + l] = 4.0f * d0 - 5.0f * d2 + d4;
            o[1 * xi_stride + l] = -4.0f * (d1 + d2) + d3 + d4;
            o[2 * xi_stride + l] = 4.0f * (d1 - d2) - d3 + d4;
            o[3 * xi_stride + l] = 2.0f * (d3 - d1) - d2 + d4;
            o[4 * xi_stride + l] = 2.0f * (d1 - d3) - d2 + d4;
            o[5 * xi_stride + l] = 4.0f * d1 - 5.0f * d3 + d5;
        }
    }
}

TARGET static void VARIANT(input)(const float *x, int channels, int height, int width, int padding, int tiles_x,
                                  int first_tile, int tile_count, int first_channel, int channel_count, float *v) {
    const size_t xi_stride = (size_t)channels * tile_count;
    for (int c = first_channel; c < first_channel + channel_count; c++) {
        const float *plane = x + (size_t)c * height * width;
        for (int t = 0; t < tile_count; t += LANES) {
            const int count = tile_count - t < LANES ? tile_count - t : LANES;
            VARIANT(input_block)(plane, height, width, padding, tiles_x, first_tile + t, count,
                                 v + (size_t)c * tile_count + t, xi_stride);
        }
    }
}

/// Output transform of one channel for `count` ≤ LANES tiles from tile `first`.
TARGET static void VARIANT(output_block)(const float *m, size_t xi_stride, float bias, int out_height, int out_width,
                                         int tiles_x, int first, int count, const float *residual, float *plane) {
    // A last, partial block is copied out first: the lane loops below read LANES values per ξ.
    float partial[36][LANES];
    if (count < LANES) {
        for (int xi = 0; xi < 36; xi++) {
            for (int l = 0; l < LANES; l++) partial[xi][l] = l < count ? m[(size_t)xi * xi_stride + l] : 0.0f;
        }
        m = &partial[0][0];
        xi_stride = LANES;
    }
    // Columns: s[r][j] = Σ_k Aᵀ[r][k] m[k][j]  (4 x 6).
    float s[4][6][LANES];
    for (int j = 0; j < 6; j++) {
        for (int l = 0; l < LANES; l++) {
            const float m0 = m[(size_t)(0 + j) * xi_stride + l], m1 = m[(size_t)(6 + j) * xi_stride + l];
            const float m2 = m[(size_t)(12 + j) * xi_stride + l], m3 = m[(size_t)(18 + j) * xi_stride + l];
            const float m4 = m[(size_t)(24 + j) * xi_stride + l], m5 = m[(size_t)(30 + j) * xi_stride + l];
            const float a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
            s[0][j][l] = m0 + a + c;
            s[1][j][l] = b + 2.0f * e;
            s[2][j][l] = a + 4.0f * c;
            s[3][j][l] = b + 8.0f * e + m5;
        }
    }
    // Rows: y[r][i] = Σ_j s[r][j] A[j][i]  (4 x 4), plus the bias.
    float y[4][4][LANES];
    for (int r = 0; r < 4; r++) {
        for (int l = 0; l < LANES; l++) {
            const float m0 = s[r][0][l], m1 = s[r][1][l], m2 = s[r][2][l], m3 = s[r][3][l], m4 = s[r][4][l], m5 = s[r][5][l];
            const float a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
            y[r][0][l] = m0 + a + c + bias;
            y[r][1][l] = b + 2.0f * e + bias;
            y[r][2][l] = a + 4.0f * c + bias;
            y[r][3][l] = b + 8.0f * e + m5 + bias;
        }
    }
    // Scatter the 4x4 blocks, clipped to the image, a run of tiles in one tile row at a time.
    for (int lane = 0; lane < count;) {
        const int tile = first + lane;
        const int ty = tile / tiles_x, tx = tile % tiles_x;
        const int run = tiles_x - tx < count - lane ? tiles_x - tx : count - lane;
        const int y0 = ty * 4, x0 = tx * 4;
        const int rows = out_height - y0 < 4 ? out_height - y0 : 4;
        // Columns inside the image: whole tiles for all but possibly the run's last.
        const int columns = out_width - x0 < 4 * run ? out_width - x0 : 4 * run;
        for (int r = 0; r < rows; r++) {
            float *row = plane + (size_t)(y0 + r) * out_width + x0;
            if (residual) {
                // (convolution + bias) + residual: the same rounding as adding the two tensors after.
                const float *add = residual + (size_t)(y0 + r) * out_width + x0;
                if (columns == 4 * run) {
                    for (int l = 0; l < run; l++) {
                        row[4 * l + 0] = y[r][0][lane + l] + add[4 * l + 0];
                        row[4 * l + 1] = y[r][1][lane + l] + add[4 * l + 1];
                        row[4 * l + 2] = y[r][2][lane + l] + add[4 * l + 2];
                        row[4 * l + 3] = y[r][3][lane + l] + add[4 * l + 3];
                    }
                } else {
                    for (int i = 0; i < columns; i++) row[i] = y[r][i % 4][lane + i / 4] + add[i];
                }
            } else if (columns == 4 * run) {
                for (int l = 0; l < run; l++) {
                    row[4 * l + 0] = y[r][0][lane + l];
                    row[4 * l + 1] = y[r][1][lane + l];
                    row[4 * l + 2] = y[r][2][lane + l];
                    row[4 * l + 3] = y[r][3][lane + l];
                }
            } else {
                for (int i = 0; i < columns; i++) row[i] = y[r][i % 4][lane + i / 4];
            }
        }
        lane += run;
    }
}

TARGET static void VARIANT(output)(const float *m, const float *bias, const float *residual, int out_channels,
                                   int out_height, int out_width, int tiles_x, int first_tile, int tile_count, float *y) {
    const size_t xi_stride = (size_t)out_channels * tile_count;
    for (int o = 0; o < out_channels; o++) {
        float *plane = y + (size_t)o * out_height * out_width;
        const float *added = residual ? residual + (size_t)o * out_height * out_width : NULL;
        const float b = bias ? bias[o] : 0.0f;
        for (int t = 0; t < tile_count; t += LANES) {
            const int count = tile_count - t < LANES ? tile_count - t : LANES;
            VARIANT(output_block)(m + (size_t)o * tile_count + t, xi_stride, b, out_height, out_width, tiles_x,
                                  first_tile + t, count, added, plane);
        }
    }
}

/// Weight transform U = G k Gᵀ for LANES input channels at a time (G for points 0, ±1, ±2, ∞).
TARGET static void VARIANT(weights)(const float *g, float *u, int out_channels, int in_channels, int first_out, int out_count) {
    const size_t xi_stride = (size_t)out_channels * in_channels;
    for (int o = first_out; o < first_out + out_count; o++) {
        for (int c0 = 0; c0 < in_channels; c0 += LANES) {
            const int count = in_channels - c0 < LANES ? in_channels - c0 : LANES;
            float k[9][LANES];
            for (int l = 0; l < LANES; l++) {
                const float *kernel = g + ((size_t)o * in_channels + c0 + (l < count ? l : 0)) * 9;
                for (int i = 0; i < 9; i++) k[i][l] = kernel[i];
            }
            // t = G k: 6 rows of 3.
            float t[6][3][LANES];
            for (int j = 0; j < 3; j++) {
                for (int l = 0; l < LANES; l++) {
                    const float k0 = k[j][l], k1 = k[3 + j][l], k2 = k[6 + j][l];
                    t[0][j][l] = k0 * (1.0f / 4);
                    t[1][j][l] = -(k0 + k1 + k2) * (1.0f / 6);
                    t[2][j][l] = -(k0 - k1 + k2) * (1.0f / 6);
                    t[3][j][l] = k0 * (1.0f / 24) + k1 * (1.0f / 12) + k2 * (1.0f / 6);
                    t[4][j][l] = k0 * (1.0f / 24) - k1 * (1.0f / 12) + k2 * (1.0f / 6);
                    t[5][j][l] = k2;
                }
            }
            // u = t Gᵀ, stored at ξ = 6i + j.
            float *out = u + (size_t)o * in_channels + c0;
            for (int i = 0; i < 6; i++) {
                for (int l = 0; l < count; l++) {
                    const float k0 = t[i][0][l], k1 = t[i][1][l], k2 = t[i][2][l];
                    out[(size_t)(6 * i + 0) * xi_stride + l] = k0 * (1.0f / 4);
                    out[(size_t)(6 * i + 1) * xi_stride + l] = -(k0 + k1 + k2) * (1.0f / 6);
                    out[(size_t)(6 * i + 2) * xi_stride + l] = -(k0 - k1 + k2) * (1.0f / 6);
                    out[(size_t)(6 * i + 3) * xi_stride + l] = k0 * (1.0f / 24) + k1 * (1.0f / 12) + k2 * (1.0f / 6);
                    out[(size_t)(6 * i + 4) * xi_stride + l] = k0 * (1.0f / 24) - k1 * (1.0f / 12) + k2 * (1.0f / 6);
                    out[(size_t)(6 * i + 5) * xi_stride + l] = k2;
                }
            }
        }
    }
}
