// SHA-256's compression function (the x86 SHA extensions where present), for model hashes.
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
/// eight working words, A first): with the SHA extensions when `stipple_sha256_accelerated()`,
/// else `stipple_sha256_blocks_portable`.
void stipple_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// The same in portable C (for CPUs without the extensions, and for tests).
void stipple_sha256_blocks_portable(uint32_t state[8], const uint8_t *data, size_t blocks);

#ifdef __cplusplus
}
#endif

#endif
