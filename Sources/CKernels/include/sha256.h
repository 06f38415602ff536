// SHA-256's compression function with the x86 SHA extensions, for model hashes.
#ifndef STIPPLE_SHA256_H
#define STIPPLE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Whether this CPU has the SHA extensions (and SSSE3 / SSE4.1 beside them), and the environment
/// allows more than the portable kernels (`STIPPLE_ISA=portable` turns this off too).
int stipple_sha256_accelerated(void);

/// Runs `blocks` 64-byte blocks at `data` through SHA-256's compression, updating `state` (the
/// eight working words, A first) with the SHA extensions. Returns 1 when it did, 0 (nothing done)
/// when the CPU lacks them: the caller then compresses the blocks itself.
int stipple_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#ifdef __cplusplus
}
#endif

#endif
